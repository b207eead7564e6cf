"""One writer per index: a lock file holding the writer's pid.

A lock whose process no longer exists (killed, machine rebooted) is stale and is
taken over, so a crashed ingest never blocks the next one.
"""

from __future__ import annotations

import os
from pathlib import Path

from ragcli.errors import DataError


class IndexLocked(DataError):
    """Another live process is writing this index."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class IndexLock:
    def __init__(self, index_folder: Path):
        self.path = index_folder / "ingest.lock"

    def __enter__(self) -> IndexLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or "0")
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise IndexLocked(
                        f"index {self.path.parent.name!r} is being written by process {pid}; "
                        f"wait for it (or remove {self.path} if that process is not ragcli)"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its writer is gone
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            return self
        raise IndexLocked(f"could not take the lock {self.path}")

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)
