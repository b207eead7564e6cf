"""A long-lived helper process for parsers that must not run in ragcli's own process.

A parser that meets a hostile file can allocate without bound (pdfium aborts the process
when an allocation fails; python-docx and odfpy hold a few hundred bytes per XML element,
so a 300 KB .docx grew to 5 GB) or run for hours on a quadratic path. Such a parser runs
in a child that caps its own address space and CPU time (see pdfium_text.py and
office_child.py); whatever goes wrong ends the child only, and the parent starts a new
one for the next file.

Protocol: one JSON request a line on the child's stdin, optionally followed by `bytes`
raw bytes (a document already read and checked by the parent, so the child parses exactly
what was checked); one JSON answer a line on its stdout, {"error": "..."} on failure.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path


class ChildTimeout(Exception):
    """The child did not answer in time (it has been stopped)."""


class ChildWorker:
    """One child process (`python -I SCRIPT MEMORY_BYTES`), started on first use, replaced
    when it fails, times out or dies. One request at a time (a lock)."""

    def __init__(self, script: str, memory_bytes: int):
        self.script = script
        self.memory_bytes = memory_bytes
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._buffer = b""
        self.last_exit: int | None = None  # the return code of the child that failed last
        _WORKERS.append(self)

    def _start(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            script = Path(__file__).with_name(self.script)
            self._process = subprocess.Popen(
                [sys.executable, "-I", str(script), str(self.memory_bytes)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
            self._buffer = b""
        return self._process

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            self.last_exit = process.wait()

    def ask(self, request: dict, seconds: float, payload: bytes | None = None) -> dict | None:
        """One request to the child and its answer; None when the child failed (it is
        restarted for the next request; `last_exit` says how it ended). Raises ChildTimeout
        past `seconds`."""
        if payload is not None:
            request = {**request, "bytes": len(payload)}
        with self._lock:
            self.last_exit = None
            try:
                process = self._start()
                process.stdin.write((json.dumps(request) + "\n").encode() + (payload or b""))
                process.stdin.flush()
                line = self._read_line(process, seconds)
            except ChildTimeout:
                self.stop()
                raise
            except (OSError, ValueError):  # the child died (abort on a bomb, a CPU limit, a segfault)
                self.stop()
                return None
            answer = json.loads(line) if line else {}
            if "error" in answer or not answer:
                self.stop()  # a MemoryError may leave the child's heap in pieces; start afresh
                return None if not answer else answer
            return answer

    def _read_line(self, process: subprocess.Popen, seconds: float) -> bytes:
        deadline = time.monotonic() + seconds
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChildTimeout
                if not selector.select(left):
                    continue
                data = os.read(process.stdout.fileno(), 1 << 20)
                if not data:
                    raise OSError("child exited")
                self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


_WORKERS: list[ChildWorker] = []


def stop_all() -> None:
    """End every child now (a request in progress fails at once; the next one starts a new child)."""
    for worker in _WORKERS:
        worker.stop()


atexit.register(stop_all)


def limit(kind: int, value: int) -> None:
    """Lower one of this process's resource limits (in a child, before it reads anything)."""
    import resource

    try:
        _, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, hard))
    except (ValueError, OSError):  # a platform without the limit keeps the parent's timeout only
        pass
