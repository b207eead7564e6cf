"""HttpBackend against a real HTTP server that misbehaves on purpose: every failure is one typed line.

The server is a scripted stand-in for an OpenAI-compatible LLM server (the backend's
error handling is under test, not a model); the happy path against llama-cpp-python's
real server is in test_http_backend.py.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragcli.errors import ModelError
from ragcli.generation import GenerationParams, HttpBackend, LLMServerError
from ragcli.prompting import Prompt

MODELS = json.dumps({"data": [{"id": "tiny"}]}).encode()


class Script:
    """What the server does on the next completion request."""

    def __init__(self):
        self.completion = "ok"
        self.seen_auth: list[str | None] = []


@pytest.fixture()
def server():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, status: int, body: bytes, headers: dict | None = None):
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            script.seen_auth.append(self.headers.get("Authorization"))
            self._send(200, MODELS, {"Content-Type": "application/json"})

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if "tokenize" in self.path:
                return self._send(404, b"{}")
            mode = script.completion
            if mode == "busy":
                return self._send(429, b'{"error": "busy"}', {"Retry-After": "7"})
            if mode == "crash":
                return self._send(500, b"internal error")
            if mode == "key":
                return self._send(401, b"{}")
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            if mode == "ok":
                for piece in ("Kl. ", "8.00 [1]"):
                    self.wfile.write(f"data: {json.dumps({'choices': [{'text': piece}]})}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
            elif mode == "error-event":
                self.wfile.write(f"data: {json.dumps({'choices': [{'text': 'Kl.'}]})}\n\n".encode())
                self.wfile.write(f"data: {json.dumps({'error': {'message': 'out of memory'}})}\n\n".encode())
            elif mode == "garbage":
                self.wfile.write(b"data: {not json\n\n")
            elif mode == "endless-line":  # one event line that never ends
                try:
                    self.wfile.write(b"data: ")
                    for _ in range(300):
                        self.wfile.write(b"x" * 8192)
                except OSError:
                    pass
            elif mode == "split-events":  # CRLF lines, cut mid-line across writes
                body = "".join(f"data: {json.dumps({'choices': [{'text': t}]})}\r\n\r\n" for t in ("Kl. ", "8.00 [1]"))
                body += "data: [DONE]\r\n\r\n"
                for i in range(0, len(body), 7):
                    self.wfile.write(body[i : i + 7].encode())
                    self.wfile.flush()
            elif mode == "empty-events":  # events without text, forever
                event = f"data: {json.dumps({'choices': [{'text': ''}]})}\n\n".encode() * 100
                try:
                    for _ in range(200):
                        self.wfile.write(event)
                except OSError:
                    pass
            elif mode == "flood":  # ignores max_tokens: half a megabyte of one endless "sentence"
                piece = f"data: {json.dumps({'choices': [{'text': 'a.' * 500}]})}\n\n".encode()
                try:
                    for _ in range(500):
                        self.wfile.write(piece)
                except OSError:
                    pass  # the client stopped reading and closed the stream
            self.wfile.flush()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()
    httpd.server_close()


PROMPT = Prompt(text="Spørgsmål: Hvornår?\nSvar:", messages=None, hits=[], passages=[], n_tokens=5)


def answer(backend: HttpBackend) -> str:
    return "".join(backend.stream(PROMPT, GenerationParams(max_tokens=8)))


def test_streamed_completion_is_joined(server):
    url, script = server
    backend = HttpBackend(url, chat=False)
    assert backend.model == "tiny"
    assert answer(backend) == "Kl. 8.00 [1]"
    assert backend.count_tokens("tolv tegn her") == 5  # no tokenize endpoint: a conservative estimate


@pytest.mark.parametrize(
    "mode, status, says",
    [("busy", 429, "is busy (429); try again in 7 s"), ("crash", 500, "failed with 500"), ("key", 401, "RAGCLI_LLM_KEY"),
     ("error-event", None, "mid-answer: out of memory"), ("garbage", None, "malformed event")],
)
def test_server_failures_are_one_typed_line(server, mode, status, says):
    url, script = server
    backend = HttpBackend(url, chat=False)
    script.completion = mode
    with pytest.raises(LLMServerError) as caught:
        answer(backend)
    assert says in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.status == status
    assert isinstance(caught.value, ModelError)  # the CLI's one handler turns it into exit 1


def test_api_key_from_the_environment(server, monkeypatch):
    url, script = server
    monkeypatch.setenv("RAGCLI_LLM_KEY", "s3cret")
    HttpBackend(url, chat=False)
    assert script.seen_auth[-1] == "Bearer s3cret"


def test_a_port_nobody_listens_on():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LLMServerError, match="cannot reach LLM server"):
        HttpBackend(f"http://127.0.0.1:{port}")


def test_a_server_that_ignores_max_tokens_cannot_flood_the_answer(server):
    # What follows the answer (verification, answer kinds) reads all of it; 8 tokens are at
    # most 8 × 32 characters, whatever the server sends.
    url, script = server
    backend = HttpBackend(url, chat=False)
    script.completion = "flood"
    text = answer(backend)
    assert 0 < len(text) <= 8 * 32
    assert set(text) == {"a", "."}


def test_an_event_line_that_never_ends_is_one_typed_line(server):
    url, script = server
    backend = HttpBackend(url, chat=False)
    script.completion = "endless-line"
    with pytest.raises(LLMServerError, match="event line longer than"):
        answer(backend)


def test_events_cut_anywhere_and_crlf_lines_are_read_whole(server):
    url, script = server
    backend = HttpBackend(url, chat=False)
    script.completion = "split-events"
    assert answer(backend) == "Kl. 8.00 [1]"


def test_a_stream_of_empty_events_ends_in_one_typed_line(server, monkeypatch):
    # Text-less events (keep-alives, empty deltas) never reach the answer's length cap; the
    # stream's own cap ends them. Lowered here so the server need not send 16 MB.
    import ragcli.generation

    monkeypatch.setattr(ragcli.generation, "MAX_STREAM_CHARS", 100_000)
    url, script = server
    backend = HttpBackend(url, chat=False)
    script.completion = "empty-events"
    with pytest.raises(LLMServerError, match="more than 100,000 characters"):
        answer(backend)
