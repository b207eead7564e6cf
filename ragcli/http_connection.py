"""`ragcli serve`'s HTTP connections: uvicorn's h11 protocol with a deadline for the request
head and a real answer to an oversized one.

uvicorn reads a request's line and headers before any ASGI code runs, so `server.Guard`
(token, body size, body deadline) cannot see a client that never finishes them:
- uvicorn has no deadline for the head. Its keep-alive timer is cancelled by the first
  byte, so a client that sends "POST /v1/ask HTTP/1.1\\r\\nHost: x" and then nothing holds a
  connection and a file descriptor for ever (a slowloris). Here it gets a 408 after
  `header_timeout` seconds, on a fresh connection and between requests on a kept-alive one.
- A head h11 gives up on (over its 16 KiB limit while still arriving: a 1 MB header; one
  that arrives whole in a read is Guard's to count) was answered with uvicorn's plain-text
  400, written while the client was still sending, so the client read a connection reset.
  Here it is a 431 (or a 400 for what is not HTTP) in the API's JSON error shape, and the rest of
  what the client sends is read and dropped for a moment before the connection closes
  (a lingering close, as nginx does), so the client reads the answer.
"""

from __future__ import annotations

import asyncio
import json

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

from ragcli import wire

HEADER_TIMEOUT = 10.0  # seconds for a request's line and headers; real clients send them at once
LINGER = 2.0  # seconds a refused connection's remaining input is read and dropped before closing


def _response(status: int, reason: str, message: str) -> bytes:
    body = json.dumps(wire.error(message, "invalid_request_error", status), ensure_ascii=False).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Connection(h11.Connection):
    """h11's connection, keeping the protocol error it raised: uvicorn answers every one with
    the same plain-text 400, and h11 knows better (431 for a head too large)."""

    error: h11.RemoteProtocolError | None = None

    def next_event(self):  # type: ignore[override]
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.error = exc
            raise


class GuardedH11Protocol(H11Protocol):
    """H11Protocol with a deadline for the request head, and a JSON 431/400 for a bad one."""

    header_timeout = HEADER_TIMEOUT

    def __init__(self, config, server_state, app_state, _loop=None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limit = config.h11_max_incomplete_event_size
        self.conn = _Connection(h11.SERVER, limit if limit is not None else DEFAULT_MAX_INCOMPLETE_EVENT_SIZE)
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: what follows a refusal is read and dropped
        super().data_received(data)
        if self._awaiting_head():
            if self._head_timer is None:
                self._await_head()
        else:
            self._stop_head_timer()  # the head came: Guard times the body

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()  # the next request on a kept-alive connection gets the same deadline

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to any protocol error h11 raised; h11 says which it was
        error = self.conn.error
        if error is not None and error.error_status_hint == 431:
            self._refuse(431, "Request Header Fields Too Large", "forespørgslens linje og headere er for store")
        else:
            self._refuse(400, "Bad Request", "ugyldig HTTP-forespørgsel")

    def _await_head(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _awaiting_head(self) -> bool:
        """Waiting for a request's head, or answered already (a 401 or 413 before the body) while
        the client still sends what no one will read."""
        return self.conn.their_state is h11.IDLE or (self.conn.our_state is h11.DONE and self.conn.their_state is h11.SEND_BODY)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._awaiting_head():
            return
        if self.conn.their_state is not h11.IDLE or not self.conn.trailing_data[0]:
            # nothing of a next request has come (an idle connection; uvicorn's keep-alive
            # timer does the same sooner), or the rest of a body already answered: closed
            # without a word
            self.transport.close()
            return
        self._refuse(408, "Request Timeout", f"forespørgslens linje og headere kom ikke inden for {self.header_timeout:g} s")

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._stop_head_timer()
        self._refused = True
        self.transport.write(_response(status, reason, message))
        self.loop.call_later(LINGER, self.transport.close)


def guarded_protocol(header_timeout: float = HEADER_TIMEOUT) -> type[GuardedH11Protocol]:
    """The protocol class to give uvicorn (`Config(http=…)`), with this head deadline."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout": header_timeout})
