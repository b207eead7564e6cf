"""`ragcli serve`'s connections against clients that misbehave before any endpoint runs: a
request head that never ends (a slowloris), a head too large, a request that is no HTTP.
A real uvicorn server on a real socket, with the protocol class serve gives it."""

from __future__ import annotations

import json
import socket
import threading
import time

import h11
import pytest
import uvicorn

from ragcli.http_connection import guarded_protocol
from ragcli.server import Guard

HEAD_TIMEOUT = 0.5


async def _echo(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    reply = json.dumps({"path": scope["path"], "body_bytes": len(body)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(reply)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": reply})


@pytest.fixture(scope="module")
def address():
    listening = socket.create_server(("127.0.0.1", 0))
    app = Guard(_echo, token=None, max_body=64 * 1024)  # as serve stacks them
    config = uvicorn.Config(app, http=guarded_protocol(HEAD_TIMEOUT), log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield listening.getsockname()
    server.should_exit = True
    thread.join(10)
    listening.close()


def _read_all(sock: socket.socket, limit: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(limit)
    data = b""
    while True:
        part = sock.recv(65536)
        if not part:
            return data
        data += part


def _status_and_body(reply: bytes) -> tuple[int, dict]:
    """The first response's status and JSON body, read by h11 as a client would (chunked or not)."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "127.0.0.1")]))
    client.receive_data(reply)
    client.receive_data(b"")
    status, body = 0, b""
    while (event := client.next_event()) not in (h11.NEED_DATA, h11.PAUSED) and not isinstance(event, h11.ConnectionClosed):
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
    return status, json.loads(body)


def test_a_request_head_that_never_ends_gets_a_408_in_time(address):
    with socket.create_connection(address) as sock:
        sock.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthoriz")  # … and nothing more
        started = time.monotonic()
        reply = _read_all(sock)
        waited = time.monotonic() - started
    status, body = _status_and_body(reply)
    assert status == 408 and body["error"]["code"] == 408
    assert f"{HEAD_TIMEOUT:g} s" in body["error"]["message"]
    assert HEAD_TIMEOUT * 0.8 <= waited < HEAD_TIMEOUT + 4  # the 408, then the lingering close


def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_head(address):
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        first = b""
        while b'"/first"' not in first:  # head and body may come in separate segments
            part = sock.recv(65536)
            assert part, first
            first += part
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /second HTTP/1.1\r\nHost: 127.0")  # the second head stops halfway
        status, _ = _status_and_body(_read_all(sock))
    assert status == 408


@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_an_oversized_head_is_a_431_the_client_can_read(address, size):
    # 100 KB arrives in one read and h11 parses it: Guard counts the headers. 1 MB does not,
    # and h11 gives up on the head; the client may still be sending when the answer goes out,
    # so the server reads on a moment before it closes (else the client reads a reset).
    with socket.create_connection(address) as sock:
        sock.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + b"x" * size + b"\r\n\r\n")
        status, body = _status_and_body(_read_all(sock))
    assert status == 431 and body["error"]["type"] == "invalid_request_error"
    assert "for store" in body["error"]["message"]


def test_what_is_not_http_is_a_400_in_the_apis_shape(address):
    with socket.create_connection(address) as sock:
        sock.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http at all\r\n\r\n")  # a TLS hello, say
        status, body = _status_and_body(_read_all(sock))
    assert status == 400 and body["error"]["code"] == 400


def test_a_request_with_both_a_length_and_chunks_is_refused_and_the_connection_closed(address):
    # Read as chunked, the bytes after the chunks had been answered as a second request: behind
    # a proxy that reads Content-Length, request smuggling (RFC 9112 §6.3: reject, and close).
    with socket.create_connection(address) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"0\r\n\r\nGET /v1/indexes HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        reply = _read_all(sock)
    status, body = _status_and_body(reply)
    assert status == 400 and "Transfer-Encoding" in body["error"]["message"]
    assert reply.count(b"HTTP/1.1 ") == 1  # one answer, then the connection is closed


def test_a_large_body_sent_with_its_head_is_no_oversized_head(address):
    # the head limit is h11's for the head alone: a 40 KB body in the same packet is served
    body = b"{" + b'"a": "' + b"y" * 40_000 + b'"}'
    with socket.create_connection(address) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        status, reply = _status_and_body(_read_all(sock))
    assert status == 200 and reply == {"path": "/echo", "body_bytes": len(body)}


def test_an_idle_connection_is_closed_without_a_word(address):
    with socket.create_connection(address) as sock:
        started = time.monotonic()
        assert _read_all(sock) == b""
        assert time.monotonic() - started < 8  # uvicorn's keep-alive timer or the head deadline


def test_a_body_dribbled_after_an_early_answer_does_not_hold_the_connection(address):
    # Guard answers 413 to the declared length before reading the body; a client that goes on
    # sending a byte at a time kept the connection (and lost the head deadline for its next request)
    with socket.create_connection(address) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n{")
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < HEAD_TIMEOUT + 6:
            try:
                sock.sendall(b"x")
                sock.settimeout(0.2)
                if sock.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed and time.monotonic() - started < HEAD_TIMEOUT + 4


def test_both_a_length_and_chunks_are_refused_before_the_token_is_looked_at():
    # The 401 (and 421, 431) answered without reading the body: the bytes after it were read
    # as a second request, the smuggling the refusal is for.
    import asyncio

    async def never(scope, receive, send):
        raise AssertionError("the request must not reach the app")

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "path": "/v1/search", "method": "POST",
             "headers": [(b"host", b"127.0.0.1"), (b"content-length", b"40"), (b"transfer-encoding", b"chunked")]}
    asyncio.run(Guard(never, token="s3cret", max_body=1024)(scope, receive, send))
    assert sent[0]["status"] == 400 and (b"connection", b"close") in sent[0]["headers"]
