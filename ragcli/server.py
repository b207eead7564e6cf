"""`ragcli serve`: one long-lived process that answers other programs over HTTP.

    GET  /healthz               alive (no token needed)
    GET  /v1/indexes            the served indexes
    GET  /v1/models             the same, as OpenAI models (model = index name)
    POST /v1/search             {"query", "k", "mode", "index"} -> the `search --json` shape
    POST /v1/ask                {"question", ..., "stream"} -> the `ask --json` shape, or
                                server-sent events: `token` events, then `answer` (verified)
    POST /v1/chat/completions   OpenAI-compatible, streaming or not; the answer text ends
                                with its sources as `[1] file.pdf, s. 4` lines
    /mcp                        the MCP tools of ragcli.mcp_server over streamable HTTP

The models load once, at start. Each index gets two Sessions: one that answers and one
that searches, so a search never waits behind a generation (a Session is not safe to use
from two threads at once: the tokenizers and the index's reader are not). The language
model generates one answer at a time: asks wait in a bounded queue, and a full queue is a
503 with Retry-After at once, not a hang. A client that goes away stops its generation at
the next token, and a queued ask whose client left is never started.

Safe by default: binds to 127.0.0.1; any other address needs a bearer token; request
bodies and questions have size limits; clients name indexes only from the served list
(no paths); CORS is off unless origins are given. The JSON shapes are ragcli.wire's.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragcli import wire
from ragcli.errors import DataError, Interrupted, ModelError, RagcliError, UsageError
from ragcli.privacy import mask_cpr
from ragcli.retrieval import MAX_QUESTION_CHARS

if TYPE_CHECKING:
    from ragcli.schema import Answer, Hit
    from ragcli.session import Session

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
DEFAULT_PORT = 8765
MAX_HEADERS = 16 * 1024  # bytes of a request's headers, as h11's limit for a head still arriving


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None  # bearer token; required on any address but loopback
    queue: int = 4  # asks that may wait for the model besides the one it is answering
    max_body: int = 64 * 1024  # bytes of a request body
    max_question: int = 2000  # characters of a question or query
    max_k: int = 20
    max_tokens: int = 512
    cors_origins: list[str] = field(default_factory=list)
    show_cpr: bool = False  # only for deployments whose every client may see CPR numbers
    model_answers: bool = False  # trust the model's verified answers (a bigger model), as ask --model-answers
    mcp: bool = True  # mount the MCP tools at /mcp

    def check(self) -> None:
        if self.host not in LOOPBACK and not self.token:
            raise UsageError(
                f"--host {self.host} gør serveren tilgængelig for andre maskiner; giv også --token (eller RAGCLI_TOKEN)"
            )
        if self.queue < 0 or self.max_body < 1024 or not 1 <= self.max_question <= MAX_QUESTION_CHARS:
            raise UsageError(
                f"--queue skal være mindst 0, --max-body mindst 1024 og --max-question mellem 1 og {MAX_QUESTION_CHARS}"
            )


class UnknownIndex(UsageError):
    """A request names an index this server does not serve (404)."""


class Busy(Exception):
    """The generation queue is full; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"serveren er optaget; prøv igen om {retry_after} s")
        self.retry_after = retry_after


class GenerationQueue:
    """One generation at a time, at most `size` waiting; the rest are turned away at once.

    The llama model is not thread-safe, and on a few cores two generations side by side
    are each slower than one after the other, so a single worker thread runs them in turn.
    """

    def __init__(self, size: int):
        self.size = size
        self.pending = 0  # admitted and not finished: the one running and those waiting
        self.seconds = 5.0  # running estimate of one ask, for Retry-After
        self.cancelled = 0  # asks stopped or skipped because their client left
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragcli-generate")

    def admit(self) -> None:
        """Take a place in the queue, or raise Busy; every admit is followed by one run()."""
        if self.pending >= self.size + 1:
            raise Busy(self.retry_after())
        self.pending += 1

    def retry_after(self) -> int:
        return max(1, min(600, math.ceil(self.seconds * max(1, self.pending))))

    async def run(self, work: Callable[[], Any], cancel: threading.Event) -> Any:
        """Run `work` on the generation thread when its turn comes (skipped if `cancel` is set by then)."""

        def turn() -> Any:
            if cancel.is_set():
                self.cancelled += 1
                raise Interrupted("klienten afbrød forbindelsen")
            started = time.monotonic()
            try:
                return work()
            except Interrupted:
                self.cancelled += 1
                raise
            finally:
                self.seconds = 0.7 * self.seconds + 0.3 * (time.monotonic() - started)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._worker, turn)
        finally:
            self.pending -= 1

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class Found:
    """A search's result: the query as shown (CPR numbers masked), where, how, the hits, the time."""

    query: str
    index: str
    mode: str
    hits: list[Hit]
    seconds: float


class Served:
    """One index, opened twice: a Session that answers and one that searches."""

    def __init__(self, name: str, open_session: Callable[[str], Session]):
        self.name = name
        self.asker = open_session(name).load()
        self.searcher = open_session(name).load(generator=False)
        self.search_lock = threading.Lock()

    def describe(self) -> dict:
        with self.search_lock:
            index = self.searcher.index
            manifest = getattr(index, "manifest", None) or {}
            counts = manifest.get("counts", {})
            return {
                "name": self.name,
                "documents": counts.get("documents", len(index.documents())),
                "chunks": counts.get("chunks"),
                "embedding_model": index.embedding_model,
                "language_model": self.asker.generator.name,
                "updated": manifest.get("updated"),
            }

    def close(self) -> None:
        self.asker.close()
        self.searcher.close()


class Service:
    """What the endpoints share: the served indexes, the generation queue, the settings."""

    def __init__(self, settings: ServeSettings, indexes: dict[str, Served]):
        self.settings = settings
        self.indexes = indexes
        self.queue = GenerationQueue(settings.queue)
        self._searchers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ragcli-search")

    @classmethod
    def open(cls, settings: ServeSettings, names: list[str], open_session: Callable[[str], Session]) -> Service:
        """Open every index and load its models now, so the first request waits for none."""
        settings.check()
        if not names:
            raise UsageError("giv mindst ét --index")
        served: dict[str, Served] = {}
        try:
            for name in dict.fromkeys(names):
                served[name] = Served(name, open_session)
        except BaseException:
            for s in served.values():
                s.close()
            raise
        return cls(settings, served)

    def close(self) -> None:
        self.queue.close()
        self._searchers.shutdown(wait=False, cancel_futures=True)
        for s in self.indexes.values():
            s.close()

    def served(self, name: str | None) -> Served:
        if name is None:
            if len(self.indexes) == 1:
                return next(iter(self.indexes.values()))
            raise UsageError(f"angiv index; serveren har {', '.join(self.indexes)}")
        if name not in self.indexes:
            raise UnknownIndex(f"ukendt indeks {name!r}; serveren har {', '.join(self.indexes)}")
        return self.indexes[name]

    def check_text(self, text: str, what: str) -> str:
        if not text.strip():
            raise UsageError(f"{what} indeholder ingen tekst")
        if len(text) > self.settings.max_question:
            raise UsageError(f"{what} har {len(text)} tegn; højst {self.settings.max_question} er tilladt")
        return text

    async def search(self, name: str | None, query: str, k: int, mode: str | None) -> Found:
        """The k best passages in index `name`, on a search thread (never behind a generation)."""
        served = self.served(name)
        query = self.check_text(query, "søgeteksten")
        mode = mode or served.searcher.mode
        show_cpr = self.settings.show_cpr

        def work() -> Found:
            with served.search_lock:
                started = time.perf_counter()
                hits = served.searcher.search(query, min(k, self.settings.max_k), mode, show_cpr=show_cpr)
                seconds = time.perf_counter() - started
            return Found(query if show_cpr else mask_cpr(query), served.name, mode, hits, seconds)

        return await asyncio.get_running_loop().run_in_executor(self._searchers, work)

    def prepare_ask(self, name: str | None, question: str, options: dict) -> tuple[Served, Any, str]:
        """The index, the ask parameters and the mode for one question (checked before it queues)."""
        served = self.served(name)
        self.check_text(question, "spørgsmålet")
        settings = {k: v for k, v in options.items() if v is not None}
        if "k" in settings:
            settings["k"] = min(settings["k"], self.settings.max_k)
        if "max_tokens" in settings:
            settings["max_tokens"] = min(settings["max_tokens"], self.settings.max_tokens)
        params = served.asker.params(show_cpr=self.settings.show_cpr, model_answers=self.settings.model_answers, **settings)
        return served, params, params.retrieval.mode

    async def ask(
        self, served: Served, question: str, params: Any, cancel: threading.Event, on_token: Callable[[str], None] | None = None
    ) -> Answer:
        """Answer on the generation thread; `cancel` stops it at the next token. Call queue.admit() first."""
        from ragcli.privacy import mask_answer

        def token(piece: str) -> None:
            if cancel.is_set():
                raise Interrupted("klienten afbrød forbindelsen")
            if on_token and piece:
                on_token(piece)

        def work() -> Answer:
            return mask_answer(served.asker.ask(question, params, on_token=token), show_cpr=self.settings.show_cpr)

        return await self.queue.run(work, cancel)


# ---------------------------------------------------------------- HTTP


# The HTTP status and error type of each failure, first match wins (UnknownIndex before its base).
_STATUSES: tuple[tuple[type[BaseException], int, str], ...] = (
    (Busy, 503, "server_busy"),
    (UnknownIndex, 404, "not_found"),
    (UsageError, 400, "invalid_request_error"),
    (ModelError, 503, "model_unavailable"),
    (Interrupted, 499, "client_closed"),
    (DataError, 500, "index_error"),
)


def _status(exc: BaseException) -> tuple[int, str]:
    for kind, code, error_type in _STATUSES:
        if isinstance(exc, kind):
            return code, error_type
    return 500, "server_error"


async def _send_error(send, status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    """An error in the API's JSON shape, sent on a raw ASGI channel (before or beside FastAPI)."""
    body = json.dumps(wire.error(message, "invalid_request_error" if status != 401 else "authentication_error", status), ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Bearer token and body size, before anything else reads the request (the MCP mount too)."""

    def __init__(self, app, token: str | None, max_body: int, loopback_only: bool = False, body_timeout: float = 30.0):
        self.app = app
        self.token = token.encode() if token else None
        self.max_body = max_body
        self.loopback_only = loopback_only
        self.body_timeout = body_timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if b"content-length" in headers and b"transfer-encoding" in headers:
            # Both: a proxy that reads the length and a server that reads the chunks see two
            # different requests in one (request smuggling). RFC 9112 §6.3: refuse, and close;
            # first of all, since the other refusals below leave the body unread.
            await _send_error(send, 400, "både Content-Length og Transfer-Encoding; send kun én af dem", [(b"connection", b"close")])
            return
        # h11's own limit is on a head that has not been read whole, and asyncio reads up to
        # 256 KiB at once: a 100 KB Authorization header sent in one go reached the endpoints.
        if sum(len(name) + len(value) + 4 for name, value in scope["headers"]) > MAX_HEADERS:
            await _send_error(send, 431, f"forespørgslens headere er for store (højst {MAX_HEADERS // 1024} KiB)")
            return
        # Served on loopback, only loopback names may be asked for: a web page whose name was
        # rebound to 127.0.0.1 (DNS rebinding) sends its own name as Host, and would otherwise
        # read the index through the browser of the user who opened it.
        if self.loopback_only and _host_name(headers.get(b"host", b"")) not in LOOPBACK:
            await _send_error(send, 421, "ukendt Host-header; serveren svarer kun på 127.0.0.1, localhost og ::1")
            return
        if self.token and scope["path"] != "/healthz" and scope["method"] != "OPTIONS":
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, b"Bearer " + self.token):
                await _send_error(send, 401, "mangler eller forkert token (Authorization: Bearer …)", [(b"www-authenticate", b"Bearer")])
                return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _send_error(send, 413, f"forespørgslen er for stor (højst {self.max_body} bytes)")
            return
        # Read the body here (also a chunked one, which declares no length) so that no
        # endpoint ever holds more than max_body bytes of it; then hand it on.
        body = bytearray()
        # A client that sends its body slowly or not at all holds a connection and a file
        # descriptor; 40 of them once sat for minutes (a slowloris). The deadline is for the
        # whole body: one per read let one byte every 29 s hold a connection for hours.
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except TimeoutError:
                await _send_error(send, 408, f"forespørgslens indhold kom ikke inden for {self.body_timeout:g} s")
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await _send_error(send, 413, f"forespørgslen er for stor (højst {self.max_body} bytes)")
                return
            if not message.get("more_body", False):
                break
        handed = False

        async def replay():
            nonlocal handed
            if not handed:
                handed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)


def _host_name(host: bytes) -> str:
    """The name of a Host header, without its port: "127.0.0.1:8765" → "127.0.0.1", "[::1]:80" → "::1"."""
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _sse(event: str | None, data: Any) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return ((f"event: {event}\n" if event else "") + f"data: {text}\n\n").encode()


async def _watch_disconnect(request, cancel: threading.Event) -> None:
    """Set `cancel` when the client goes away (a non-streaming request is not told otherwise)."""
    while not cancel.is_set():
        if await request.is_disconnected():
            cancel.set()
            return
        await asyncio.sleep(0.2)


# ---------------------------------------------------------------- requests (module level: FastAPI reads the annotations)

Mode = Literal["dense", "lexical", "hybrid"]

# Strict: "k": "3", "k": true and "stream": "yes" are mistakes to report, not to guess at.
class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    query: str
    k: int = Field(5, ge=1, le=100)
    mode: Mode | None = None
    index: str | None = None

class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    question: str
    index: str | None = None
    k: int | None = Field(None, ge=1, le=100)
    mode: Mode | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    min_coverage: float | None = Field(None, ge=0.0, le=1.0)
    stream: bool = False

class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict] | None = None

class ChatRequest(BaseModel):
    # OpenAI clients send many fields (top_p, user, …); those ragcli has no use for are ignored.
    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: StrictBool = False  # "true" as a string is a mistake to report, as /v1/ask reports it
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    seed: int | None = None


def create_app(service: Service) -> FastAPI:
    mcp_server = None
    if service.settings.mcp:
        from ragcli.mcp_server import build_server

        mcp_server = build_server(service)

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        if mcp_server is None:
            yield
            return
        async with mcp_server.session_manager.run():  # the streamable-HTTP sessions live as long as the app
            yield

    app = FastAPI(title="ragcli", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    def shown(message: str) -> str:
        # an error can echo what the client sent ("ukendt indeks '…'", a field's name): masked
        # as everything served
        return message if service.settings.show_cpr else mask_cpr(message)

    def error_body(exc: BaseException) -> wire.ErrorDict:
        status, kind = _status(exc)
        return wire.error(shown(str(exc)), kind, status)

    def refuse(exc: BaseException) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else None
        body = error_body(exc)
        return JSONResponse(body, status_code=body["error"]["code"], headers=headers)

    @app.exception_handler(RagcliError)
    async def ragcli_error(request: Request, exc: RagcliError):
        return refuse(exc)

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy):
        return refuse(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        # A field's name is the client's text too ({"150585-4321": 1}): cut short and masked.
        where = lambda e: ".".join(str(p)[:100] for p in e["loc"] if p != "body")  # noqa: E731
        problems = "; ".join(f"{where(e)}: {e['msg']}" if where(e) else e["msg"] for e in exc.errors()[:10])
        if "json" not in request.headers.get("content-type", ""):
            # curl -d '{…}' sends form data's type, and FastAPI then reads no JSON at all
            problems += " (send JSON med Content-Type: application/json)"
        return JSONResponse(wire.error(shown(f"ugyldig forespørgsel: {problems}"), "invalid_request_error", 422), status_code=422)

    @app.api_route("/healthz", methods=["GET", "HEAD"])  # uptime checkers and curl -I ask with HEAD
    async def healthz():
        return {"status": "ok"}

    @app.get("/v1/indexes")
    async def indexes():
        described = [await asyncio.to_thread(s.describe) for s in service.indexes.values()]
        queue = service.queue
        return {"indexes": described, "queue": {"size": queue.size, "pending": queue.pending, "cancelled": queue.cancelled}}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "ragcli"} for name in service.indexes]}

    @app.post("/v1/search")
    async def search(body: SearchRequest):
        found = await service.search(body.index, body.query, body.k, body.mode)
        return dict(wire.search(found.query, found.index, found.mode, found.hits, found.seconds))

    async def answer_plain(request: Request, served: Served, question: str, params: Any) -> Answer:
        cancel = threading.Event()
        watcher = asyncio.create_task(_watch_disconnect(request, cancel))
        try:
            return await service.ask(served, question, params, cancel)
        finally:
            cancel.set()
            watcher.cancel()

    def answer_streamed(served: Served, question: str, params: Any) -> AsyncIterator[str | Answer]:
        """The model's pieces as they come, then the verified Answer; stops the generation if abandoned.

        The ask starts now, not when the response starts streaming: it holds a place in
        the queue (admitted), and every admitted ask must run to give its place back.
        """
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        pieces: asyncio.Queue[str] = asyncio.Queue()
        task = asyncio.ensure_future(service.ask(served, question, params, cancel, lambda p: loop.call_soon_threadsafe(pieces.put_nowait, p)))
        # A client that leaves ends the ask with Interrupted, which nobody awaits then: taken
        # here, so the log does not get a "never retrieved" traceback per abandoned stream.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())

        async def items() -> AsyncIterator[str | Answer]:
            getter: asyncio.Future | None = None
            try:
                while not task.done():
                    getter = asyncio.ensure_future(pieces.get())
                    await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                    if getter.done():
                        yield getter.result()
                    else:
                        getter.cancel()
                await asyncio.sleep(0)  # pieces the thread scheduled just before it finished
                while not pieces.empty():
                    yield pieces.get_nowait()
                yield await task
            finally:
                cancel.set()  # a client that left: the generation stops at its next token
                if getter is not None and not getter.done():
                    getter.cancel()

        return items()

    @app.post("/v1/ask")
    async def ask(request: Request, body: AskRequest):
        options = {"k": body.k, "mode": body.mode, "temperature": body.temperature, "max_tokens": body.max_tokens, "min_coverage": body.min_coverage}
        served, params, mode = service.prepare_ask(body.index, body.question, options)
        service.queue.admit()
        if not body.stream:
            answer = await answer_plain(request, served, body.question, params)
            return dict(wire.answer(answer, served.name, mode))
        stream = answer_streamed(served, body.question, params)

        async def events() -> AsyncIterator[bytes]:
            try:
                async for item in stream:
                    if isinstance(item, str):
                        yield _sse("token", {"text": item})
                    else:
                        yield _sse("answer", dict(wire.answer(item, served.name, mode)))
            except RagcliError as exc:
                yield _sse("error", error_body(exc))

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request, body: ChatRequest):
        question = _last_user_text(body.messages)
        max_tokens = body.max_completion_tokens or body.max_tokens
        options = {"temperature": body.temperature, "max_tokens": max_tokens, "seed": body.seed}
        served, params, _ = service.prepare_ask(body.model, question, options)
        service.queue.admit()
        created, ident = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"
        if not body.stream:
            answer = await answer_plain(request, served, question, params)
            return {
                "id": ident, "object": "chat.completion", "created": created, "model": served.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": wire.chat_text(answer)}, "finish_reason": "stop"}],
                "usage": _usage(answer),
            }
        stream = answer_streamed(served, question, params)

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            return _sse(None, {
                "id": ident, "object": "chat.completion.chunk", "created": created, "model": served.name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            })

        async def events() -> AsyncIterator[bytes]:
            # The text streamed is the verified answer, not the model's raw tokens: a chat
            # client cannot take back a sentence the checks later reject, so the answer is
            # sent when it stands, and a streamed and an unstreamed answer read the same.
            yield chunk({"role": "assistant", "content": ""})
            try:
                async for item in stream:
                    if not isinstance(item, str):
                        for part in _parts(wire.chat_text(item)):
                            yield chunk({"content": part})
                yield chunk({}, "stop")
            except RagcliError as exc:
                yield _sse(None, error_body(exc))
            yield _sse(None, "[DONE]")

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse(wire.error(str(exc.detail), "invalid_request_error", exc.status_code), exc.status_code, headers=exc.headers)

    if mcp_server is not None:
        # Stateless: the two tools keep nothing between calls, and a session per client let
        # 10,000 "initialize" calls (22 s) fill the SDK's session table (every later client got
        # 503 for the 30-minute idle timeout) and add 400 MB.
        security = None
        if service.settings.host in LOOPBACK:
            # The SDK's own check, as it sets it for loopback, and a Host without a port too
            # ("Host: 127.0.0.1", which the API takes): it had been a plain-text 421.
            from mcp.server.transport_security import TransportSecuritySettings

            names = ("127.0.0.1", "localhost", "[::1]")
            security = TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=[form for name in names for form in (name, f"{name}:*")],
                allowed_origins=[form for name in names for form in (f"http://{name}", f"http://{name}:*")],
            )
        mcp_app = mcp_server.streamable_http_app(
            streamable_http_path="/mcp", host=service.settings.host, json_response=True, stateless_http=True,
            transport_security=security,
        )
        app.mount("/", _OnlyMcp(app, mcp_app, service.settings.show_cpr))

    app.add_middleware(
        Guard, token=service.settings.token, max_body=service.settings.max_body,
        loopback_only=service.settings.host in LOOPBACK,
    )
    if service.settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=service.settings.cors_origins, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Mcp-Session-Id", "Mcp-Protocol-Version"],
        )
    return app


class _OnlyMcp:
    """The MCP app, mounted at "/" so that it serves /mcp itself; every other path that reaches
    it is one the API does not have (404), or has for other methods (405), in the API's JSON
    error shape. The mount matches every path, so a wrong method on an API path lands here too."""

    def __init__(self, api: FastAPI, mcp_app, show_cpr: bool = False):
        self.api = api
        self.mcp_app = mcp_app
        self.show_cpr = show_cpr

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/mcp" and scope["method"] == "GET":
            # The stream for messages the server starts: a stateless server starts none, and the
            # SDK held such a stream open with nothing ever sent (300 of them, a descriptor each,
            # from any local process). The MCP transport allows 405 here.
            await _send_error(send, 405, "GET er ikke tilladt her (tilladt: POST); serveren sender ingen beskeder af sig selv", [(b"allow", b"POST")])
            return
        if scope["type"] != "http" or scope["path"] == "/mcp":
            await self.mcp_app(scope, receive, send if self.show_cpr else _masking_errors(send))
            return
        allowed = sorted({m for r in self.api.routes if getattr(r, "path", None) == scope["path"] for m in getattr(r, "methods", None) or ()})
        status = 405 if allowed else 404
        # the path is the client's text: CPR numbers masked, and not 70 KB of it echoed
        path = mask_cpr(scope["path"])
        path = path if len(path) <= 100 else path[:100] + "…"
        message = f"{scope['method']} er ikke tilladt her (tilladt: {', '.join(allowed)})" if allowed else f"ingen side {path}"
        await _send_error(send, status, message, [(b"allow", ", ".join(allowed).encode())] if allowed else [])


def _masking_errors(send):
    """`send` for the MCP transport, with CPR numbers masked in its error responses: it answers
    a malformed JSON-RPC message with pydantic's text, which quotes the input ("input_value=
    {'hello': '010190-1234'}"). An error's body is held until it is whole (it is small), masked,
    and sent with its length set again."""
    held: dict = {}
    body = bytearray()

    async def masked_send(message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            held["start"] = message
            return
        if "start" not in held or message["type"] != "http.response.body":
            await send(message)
            return
        body.extend(message.get("body", b""))
        if message.get("more_body"):
            return
        text = mask_cpr(body.decode("utf-8", errors="replace")).encode()
        start = held.pop("start")
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(text)).encode())]})
        await send({"type": "http.response.body", "body": text})

    return masked_send


def _version() -> str:
    from ragcli import __version__

    return __version__


def _last_user_text(messages: list) -> str:
    """The question: the last user message's text (ragcli answers one question at a time from the documents)."""
    for message in reversed(messages):
        if message.role != "user":
            continue
        content = message.content
        if isinstance(content, list):  # [{"type": "text", "text": …}, …]
            texts = [part.get("text") for part in content if isinstance(part, dict) and part.get("type") == "text"]
            if not all(isinstance(text, str) for text in texts):
                raise UsageError("messages: en tekstdels 'text' skal være tekst")
            content = " ".join(texts)
        if content and content.strip():
            return content
    raise UsageError("ingen brugerbesked med tekst i messages")


def _parts(text: str, size: int = 48) -> list[str]:
    """The answer in pieces of about `size` characters, cut after a space, for a streamed reply."""
    parts, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(" ", start, end)
            end = space + 1 if space > start else end
        parts.append(text[start:end])
        start = end
    return parts


def _usage(answer: Answer) -> dict:
    completion = len(answer.raw_answer.split())  # words, not tokens: the model's count is not kept
    return {"prompt_tokens": answer.prompt_tokens, "completion_tokens": completion, "total_tokens": answer.prompt_tokens + completion}


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before any model loads, so a taken port is one line at once."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise UsageError(f"kan ikke lytte på {host}:{port}: {exc.strerror or exc}") from None


def serve(settings: ServeSettings, names: list[str], open_session: Callable[[str], Session], on_ready: Callable[[str], None] | None = None) -> None:
    """Open the indexes, load the models and serve until SIGINT/SIGTERM."""
    import uvicorn

    from ragcli.http_connection import guarded_protocol

    settings.check()
    listening = _listen(settings.host, settings.port)
    try:
        service = Service.open(settings, names, open_session)
        try:
            app = create_app(service)
            config = uvicorn.Config(
                app, http=guarded_protocol(), log_level="warning", access_log=False, timeout_graceful_shutdown=5
            )
            if on_ready:
                host = f"[{settings.host}]" if ":" in settings.host else settings.host
                on_ready(f"http://{host}:{listening.getsockname()[1]}")
            uvicorn.Server(config).run(sockets=[listening])
        finally:
            service.close()
    finally:
        listening.close()
