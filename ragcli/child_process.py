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
    """One child process (`python -I SCRIPT MEMORY_BYTES PACKAGE_ROOT`), started on first use,
    replaced when it fails, times out or dies. One request at a time (a lock)."""

    def __init__(self, script: str, memory_bytes: int):
        self.script = script
        self.memory_bytes = memory_bytes
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._buffer = bytearray()
        _WORKERS.append(self)

    def _start(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            script = Path(__file__).with_name(self.script)
            # The folder that holds this ragcli, for the child's sys.path: -I ignores PYTHONPATH
            # and the current folder, and the child must run this code, installed or not.
            root = Path(__file__).resolve().parent.parent
            self._process = subprocess.Popen(
                [sys.executable, "-I", str(script), str(self.memory_bytes), str(root)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
            self._buffer = bytearray()
        return self._process

    def stop(self) -> int | None:
        """End the child; its exit status (negative: the signal that ended it), None if there was none."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.kill()
        return process.wait()

    def ask(self, request: dict, seconds: float, payload: bytes | None = None) -> dict:
        """One request to the child and its answer. A failure is an answer too: {"error": ...},
        with "exit" (the child's exit status) when it died; the child is then restarted for
        the next request. Raises ChildTimeout past `seconds`."""
        if payload is not None:
            request = {**request, "bytes": len(payload)}
        with self._lock:
            try:
                process = self._start()
                process.stdin.write((json.dumps(request) + "\n").encode() + (payload or b""))
                process.stdin.flush()
                line = self._read_line(process, seconds)
            except ChildTimeout:
                self.stop()
                raise
            except (OSError, ValueError):  # the child died (abort on a bomb, a CPU limit, a segfault)
                return {"error": "exited", "exit": self.stop()}
            try:
                answer = json.loads(line)
            except ValueError:
                answer = None
            if not isinstance(answer, dict) or not answer:
                return {"error": "no answer", "exit": self.stop()}
            if "error" in answer:
                self.stop()  # a MemoryError may leave the child's heap in pieces; start afresh
            return answer

    def _read_line(self, process: subprocess.Popen, seconds: float) -> bytes:
        deadline = time.monotonic() + seconds
        searched = 0  # the buffer holds no line break before this
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while (end := self._buffer.find(b"\n", searched)) < 0:
                searched = len(self._buffer)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChildTimeout
                if not selector.select(left):
                    continue
                data = os.read(process.stdout.fileno(), 1 << 20)
                if not data:
                    raise OSError("child exited")
                self._buffer += data  # a bytearray grows in place: a 60 MB answer is not copied per read
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line


_WORKERS: list[ChildWorker] = []


def stop_all() -> None:
    """End every child now (a request in progress fails at once; the next one starts a new child)."""
    for worker in _WORKERS:
        worker.stop()


atexit.register(stop_all)


def child_setup(argv: list[str]) -> int:
    """In a child (whose script put argv[1], the parent's package root, on sys.path first):
    cap the address space at argv[0] bytes and forbid core files; the memory limit, returned."""
    import resource

    memory = int(argv[0])
    limit(resource.RLIMIT_AS, memory)
    limit(resource.RLIMIT_CORE, 0)  # a crash must not write a core file the size of the limit
    return memory


def cpu_seconds(seconds: int) -> None:
    """In a child: allow `seconds` more of CPU time from now (RLIMIT_CPU's soft limit: SIGXCPU)."""
    import resource

    used = resource.getrusage(resource.RUSAGE_SELF)
    limit(resource.RLIMIT_CPU, int(used.ru_utime + used.ru_stime) + 1 + int(seconds))


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
