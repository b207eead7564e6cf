"""Text generation: llama-cpp-python in-process (default) or an OpenAI-compatible server.

Any GGUF works. The model decides the prompt shape: a chat template in its GGUF
metadata means an instruction-tuned model (chat completion); none means a base
model (few-shot completion, as for the default Gemma-3-270M).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ragcli.errors import ModelError, UsageError, one_line
from ragcli.prompting import Prompt
from ragcli.registry import ModelNotAvailable

# Base models keep writing after the answer (a new "Svar:", a new question). The few-shot
# answers are one line, so the first line break *after some text* ends the answer (see
# `first_line`); "\n" itself is no stop sequence, since the model sometimes begins with one
# and the answer was then cut to nothing (5 of 20 in one measurement). Chat models stop by
# themselves and get no stop list.
COMPLETION_STOPS = ["Spørgsmål:", "Kilder:", "###"]


_URL_HELP = "--llm-url skal være en http:// eller https:// adresse med et værtsnavn og evt. en port, fx http://127.0.0.1:8080"


def _check_server_url(url: str) -> str:
    """The address as messages may show it (without a user and password), or a UsageError
    when it is no http(s) address with a host and a port in range: httpx raised InvalidURL, no
    HTTPError, for "http://localhost:abc", and ragcli printed a traceback. The address itself
    is not repeated in that error: it may hold a password."""
    import httpx

    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except httpx.InvalidURL:
        raise UsageError(_URL_HELP) from None
    if parsed.scheme not in ("http", "https") or not parsed.host or (port is not None and not 0 < port < 65536):
        raise UsageError(_URL_HELP)
    return str(parsed.copy_with(username=None, password=None)).rstrip("/").removesuffix("/v1")


class LLMServerError(ModelNotAvailable):
    """An OpenAI-compatible LLM server refused, failed or could not be reached (one line, says which)."""

    def __init__(self, message: str, status: int | None = None, retry_after: str | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @classmethod
    def from_status(cls, base: str, path: str, status: int, retry_after: str | None = None) -> LLMServerError:
        if status in (401, 403):
            why = f"refused the API key ({status}); set the key in RAGCLI_LLM_KEY"
        elif status == 404:
            why = f"has no {path} (404); is it an OpenAI-compatible server, and is the model name right?"
        elif status == 429 or status == 503:
            wait = f" in {retry_after} s" if retry_after else " later"
            why = f"is busy ({status}); try again{wait}"
        elif status >= 500:
            why = f"failed with {status} on {path}; see the server's log"
        else:
            why = f"answered {status} on {path}"
        return cls(f"LLM server {base} {why}", status, retry_after)

    @classmethod
    def unreachable(cls, base: str, exc: BaseException) -> LLMServerError:
        import httpx

        if isinstance(exc, httpx.TimeoutException):
            return cls(f"LLM server {base} did not answer in time ({type(exc).__name__})")
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            return cls(f"LLM server {base} broke the connection mid-answer")
        return cls(f"cannot reach LLM server {base}: {str(exc) or type(exc).__name__}")


def _error_text(error) -> str:
    message = error.get("message") if isinstance(error, dict) else error
    return one_line(message)[:200]


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.0
    max_tokens: int = 160
    seed: int = 0
    top_p: float = 0.95
    repeat_penalty: float = 1.1


_log_callback = None  # the ctypes callback must outlive every Llama instance
_cpu_backend: str | None = None  # file name of the ggml CPU backend this process loaded


def load_cpu_backend() -> str:
    """Load the ggml CPU backend that best fits this CPU, once per process; return its file name.

    The wheel (scripts/build_llama.sh) ships one libggml-cpu-<variant>.so per x86-64
    generation and links none of them in, so that no instruction the CPU lacks can run
    (a single build tuned to the build machine died with SIGILL on AMD Zen 4). ggml
    scores the variants against the CPU and loads the best. It must be asked through
    libggml.so.0, the copy libllama links to: the wheel also ships libggml.so as a
    separate file, and a backend registered there is invisible to llama.cpp.
    A wheel with the CPU backend linked in (an older or custom build) needs nothing.
    """
    global _cpu_backend
    if _cpu_backend is not None:
        return _cpu_backend
    _silence_llama_logs()
    import llama_cpp

    package = Path(llama_cpp.__file__).resolve().parent
    folder = package.parent / "bin"  # where the wheel installs ggml's backends
    if not any(folder.glob("libggml-cpu-*.so")):
        _cpu_backend = "built-in"
        return _cpu_backend
    ggml = ctypes.CDLL(str(package / "lib" / "libggml.so.0"))
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path.restype = None
    ggml.ggml_backend_load_all_from_path(str(folder).encode())
    _cpu_backend = loaded_cpu_backend() or ""
    if not _cpu_backend:
        raise ModelNotAvailable(f"no llama.cpp CPU backend in {folder} runs on this CPU")
    return _cpu_backend


def loaded_cpu_backend() -> str | None:
    """The libggml-cpu-*.so file mapped into this process, if any (from /proc/self/maps)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        name = line.rsplit("/", 1)[-1]
        if name.startswith("libggml-cpu") and name.endswith(".so"):
            return name
    return None


def _silence_llama_logs() -> None:
    """Route llama.cpp's stderr chatter (model loading, timings) to nowhere."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    _log_callback = llama_cpp.llama_log_callback(_discard_log)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


def _discard_log(level, text, user_data) -> None:  # noqa: ARG001 - signature fixed by llama.cpp
    return None


def in_native_callback(frame) -> bool:
    """Whether a signal handler interrupted llama.cpp's log callback, called from inside a
    native call (loading a model logs hundreds of lines). An exception raised there is
    dropped by ctypes without a word: a Ctrl-C or SIGTERM while a model loaded was lost, and
    the program went on. The handler must deliver the signal again once the call returns."""
    return frame is not None and frame.f_code is _discard_log.__code__


def first_line(pieces: Iterator[str]) -> Iterator[str]:
    """Pass streamed text through, without leading blank space, up to the first line break after text."""
    started = False
    for piece in pieces:
        if not started:
            piece = piece.lstrip()
            if not piece:
                continue
            started = True
        if "\n" in piece:
            head = piece.split("\n", 1)[0]
            if head:
                yield head
            return
        yield piece


@dataclass(frozen=True)
class _ContextState:
    """llama.cpp's context (KV cache, last logits) after reading some tokens, and those tokens."""

    data: ctypes.Array
    tokens: list[int]


def _save_context(llm) -> _ContextState:
    """What `Llama.save_state` saves, less its copy of the logits of every token read.

    That copy is n_tokens × vocabulary floats: 358 MB for Gemma 3's 262,144-token vocabulary
    after a 342-token prefix, and `Llama.load_state` copied it back (and scanned the rest of
    the buffer) before every answer, 0.1–0.8 s of the time to the first token. Nothing reads
    it: sampling works from llama.cpp's own logits, and per-token logits need logits_all.
    """
    import llama_cpp

    ctx = llm._ctx.ctx  # the llama_context that Llama.save_state reads too
    size = llama_cpp.llama_state_get_size(ctx)
    data = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(ctx, data, size)
    if not 0 < written <= size:
        raise ModelError("llama.cpp could not save the prompt prefix's state")
    compact = (ctypes.c_uint8 * written)()
    ctypes.memmove(compact, data, written)
    return _ContextState(compact, [int(t) for t in llm.input_ids[: llm.n_tokens]])


def _restore_context(llm, state: _ContextState) -> None:
    import llama_cpp

    if llama_cpp.llama_state_set_data(llm._ctx.ctx, state.data, len(state.data)) != len(state.data):
        raise ModelError("llama.cpp could not restore the prompt prefix's state")
    # Llama.generate then reads only what follows these tokens (it matches them to the prompt).
    llm.input_ids[: len(state.tokens)] = state.tokens
    llm.n_tokens = len(state.tokens)
    llm._requires_eval = True  # as Llama.load_state: the restored logits are no live decode to sample from


# Above this many tokens of context, the model's own trained length is read first (a load of
# the weights, mmapped: ~0.5 s): `--n-ctx 99999999999` had filled 23 GB before the kernel killed
# the process, with no word. Up to it, no model here needs the check.
CHECKED_N_CTX = 8192


def _trained_context(model_path: Path) -> int:
    """The context length a GGUF was trained for (0 if it cannot be read)."""
    import llama_cpp

    model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), llama_cpp.llama_model_default_params())
    if not model:
        return 0
    try:
        return int(llama_cpp.llama_model_n_ctx_train(model))
    finally:
        llama_cpp.llama_model_free(model)


class LlamaBackend:
    """A GGUF model loaded in-process."""

    def __init__(self, model_path: Path, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 0):
        if not model_path.is_file():
            what = "is a folder, not a GGUF file" if model_path.is_dir() else "not found"
            raise ModelNotAvailable(f"model file {what}: {model_path}")
        _silence_llama_logs()
        load_cpu_backend()
        from llama_cpp import Llama

        if n_ctx > CHECKED_N_CTX:
            trained = _trained_context(model_path)
            if trained and n_ctx > trained:
                raise UsageError(
                    f"--n-ctx {n_ctx} er mere end {model_path.name} er trænet til ({trained} tokens); "
                    "så stor en kontekst ville kun fylde hukommelsen"
                )

        try:
            self._llm = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_threads=n_threads or max(1, os.cpu_count() or 1),
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            # The weights loaded but the context did not: that is the size asked for, not the file.
            hint = f" (--n-ctx {n_ctx} may be more than this machine's memory holds)" if "context" in str(exc) else ""
            raise ModelNotAvailable(f"cannot load model {model_path}: {exc}{hint}") from None
        self.model_path = model_path
        self.name = model_path.stem
        self.n_ctx = n_ctx
        self.chat = bool(self._llm.metadata.get("tokenizer.chat_template"))
        self._prefix = ""
        self._prefix_state = None

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def _start_from(self, prefix: str) -> None:
        """Put the model in the state right after reading `prefix` (computed once, then restored).

        Every completion prompt starts with the same instructions and worked examples;
        reading them once per process and restoring that state saves their share of the
        time to the first token. Restoring a saved state (rather than letting llama.cpp
        match the previous prompt) keeps answers reproducible: the rest of the prompt is
        always read from the very same state.
        """
        if not prefix:
            self._llm.reset()
            return
        if self._prefix != prefix:
            self._llm.reset()
            self._llm.eval(self._llm.tokenize(prefix.encode("utf-8"), add_bos=True, special=False))
            self._prefix_state = _save_context(self._llm)
            self._prefix = prefix
        else:
            _restore_context(self._llm, self._prefix_state)

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[str]:
        """Yield the answer's text piece by piece as the model produces it."""
        common = dict(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            repeat_penalty=params.repeat_penalty,
            seed=params.seed,
            stream=True,
        )
        if self.chat and prompt.messages is not None:
            self._llm.reset()
            for part in self._llm.create_chat_completion(messages=prompt.messages, **common):
                delta = part["choices"][0].get("delta", {})
                if delta.get("content"):
                    yield delta["content"]
            return
        self._start_from(prompt.prefix if prompt.text.startswith(prompt.prefix) else "")
        parts = self._llm.create_completion(prompt.text, stop=COMPLETION_STOPS, **common)
        yield from first_line(part["choices"][0]["text"] for part in parts)


class Generator(Protocol):
    """What the ask pipeline needs from a language model, local or remote."""

    name: str
    n_ctx: int
    chat: bool

    def count_tokens(self, text: str) -> int: ...

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[str]: ...


# No token of a real tokenizer is this long; an answer longer than max_tokens of them is
# a server ignoring max_tokens.
MAX_CHARS_PER_TOKEN = 32


# One server-sent event line; an answer's event is a few hundred characters.
MAX_EVENT_CHARS = 1 << 20
# A whole answer's stream: events with no text (keep-alives, empty deltas) count too.
MAX_STREAM_CHARS = 1 << 24


def _lines(chunks: Iterator[str], limit: int) -> Iterator[str]:
    """The lines of a text stream, as httpx's iter_lines, but a line that never ends past
    `limit` characters, or a stream past MAX_STREAM_CHARS, is an error, not time and memory
    spent without bound."""
    pending = ""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > MAX_STREAM_CHARS:
            raise LLMServerError(f"LLM server sent more than {MAX_STREAM_CHARS:,} characters for one answer")
        first, *rest = chunk.split("\n")
        pending += first
        if rest:
            yield pending.rstrip("\r")
            *complete, pending = rest
            yield from (line.rstrip("\r") for line in complete)
        if len(pending) > limit:
            raise LLMServerError(f"LLM server sent an event line longer than {limit:,} characters")
    if pending:
        yield pending.rstrip("\r")


def _at_most(pieces: Iterator[str], limit: int) -> Iterator[str]:
    """The pieces, cut off after `limit` characters (the stream is then closed)."""
    total = 0
    try:
        for piece in pieces:
            if total + len(piece) >= limit:
                yield piece[: limit - total]
                return
            total += len(piece)
            yield piece
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


class HttpBackend:
    """An OpenAI-compatible server: llama.cpp's llama-server, llama-cpp-python's server, vLLM, Ollama.

    Chat models get /v1/chat/completions with the chat messages; base models (chat=False)
    get /v1/completions with the few-shot prompt. Tokens are counted by the server when it
    offers a tokenize endpoint (llama.cpp and llama-cpp-python do), else estimated
    conservatively (Danish runs about 3 characters a token).
    """

    def __init__(self, url: str, model: str | None = None, chat: bool = True, n_ctx: int = 4096,
                 api_key: str | None = None, timeout: float = 300.0):
        import httpx

        self.shown = _check_server_url(url)
        self.base = url.rstrip("/").removesuffix("/v1")
        self.chat = chat
        self.n_ctx = n_ctx
        api_key = api_key or os.environ.get("RAGCLI_LLM_KEY")  # an environment variable: keys stay out of shell history
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Connecting should fail fast; reading a long answer may take minutes on a CPU.
        self._client = httpx.Client(base_url=self.base, headers=headers, timeout=httpx.Timeout(timeout, connect=10.0))
        self._tokenize: str | None = None
        listed = self._request("GET", "/v1/models")
        models = [m.get("id") for m in listed.get("data", []) if isinstance(m, dict) and m.get("id")]
        self.model = model or (models[0] if models else "default")
        self.name = Path(self.model).stem if "/" in self.model else self.model
        self._find_tokenizer()

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        import httpx

        try:
            response = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise LLMServerError.unreachable(self.shown, exc) from None
        if response.is_error:
            raise LLMServerError.from_status(self.shown, path, response.status_code, response.headers.get("retry-after"))
        try:
            reply = response.json() if response.content else {}
        except ValueError:
            raise LLMServerError(f"LLM server {self.shown} answered {path} with something other than JSON") from None
        return reply if isinstance(reply, dict) else {}

    def _find_tokenizer(self) -> None:
        for path, body in (("/extras/tokenize", {"input": "test"}), ("/tokenize", {"content": "test"})):
            try:
                reply = self._request("POST", path, body)
            except LLMServerError:
                continue
            if isinstance(reply.get("tokens"), list):
                self._tokenize = path
                return

    def count_tokens(self, text: str) -> int:
        if self._tokenize == "/extras/tokenize":
            return len(self._request("POST", self._tokenize, {"input": text, "model": self.model})["tokens"])
        if self._tokenize == "/tokenize":
            return len(self._request("POST", self._tokenize, {"content": text})["tokens"])
        return len(text) // 3 + 1

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[str]:
        body: dict = {
            "model": self.model, "max_tokens": params.max_tokens, "temperature": params.temperature,
            "top_p": params.top_p, "seed": params.seed, "stream": True,
        }
        if self.chat and prompt.messages is not None:
            path = "/v1/chat/completions"
            body["messages"] = prompt.messages
        else:
            path = "/v1/completions"
            body["prompt"] = prompt.text
            body["stop"] = COMPLETION_STOPS
        # A server that ignores max_tokens must not flood what follows (verification reads
        # every sentence of the answer): stop reading at a generous bound on its length.
        pieces = _at_most(self._events(path, body), params.max_tokens * MAX_CHARS_PER_TOKEN)
        yield from (pieces if path.endswith("chat/completions") else first_line(pieces))

    def _events(self, path: str, body: dict) -> Iterator[str]:
        """The text pieces of a server-sent event stream (OpenAI's `data: {...}` lines, ended by [DONE])."""
        import json

        import httpx

        try:
            with self._client.stream("POST", path, json=body) as response:
                if response.is_error:
                    raise LLMServerError.from_status(self.shown, path, response.status_code, response.headers.get("retry-after"))
                for line in _lines(response.iter_text(), MAX_EVENT_CHARS):
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    try:
                        event = json.loads(payload)
                    except ValueError:
                        raise LLMServerError(f"LLM server {self.shown} sent a malformed event on {path}") from None
                    if isinstance(event, dict) and event.get("error"):
                        raise LLMServerError(f"LLM server {self.shown} stopped with an error mid-answer: {_error_text(event['error'])}")
                    choice = ((event.get("choices") if isinstance(event, dict) else None) or [{}])[0]
                    text = choice.get("text") if "text" in choice else (choice.get("delta") or {}).get("content")
                    if text:
                        yield text
        except httpx.HTTPError as exc:
            raise LLMServerError.unreachable(self.shown, exc) from None

    def close(self) -> None:
        self._client.close()
