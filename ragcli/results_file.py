"""Results files that a run appends to, one JSON record per line, and a re-run resumes
(`batch --out FILE.jsonl`, `eval --answers --out`).

Records are written whole, each with its newline, and flushed one by one: only a run killed
mid-write leaves a torn last line, and a torn record starts as a record does ("{"). Any
other line means the file is something else — notes, data, another program's output — and
appending to it, or cutting its "unfinished" last line, would spoil the user's file, so
such a file is refused before anything is written.

`replace_whole` writes the files a command writes at once (a record, an annotated page, a
results file with its failed records taken out) so that none is ever left half-written.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from ragcli.errors import DataError

T = TypeVar("T")
# The process's umask, read once at import (setting it is the only way to read it, and this
# is single-threaded then): files written whole get the mode open() would have given them.
_UMASK = os.umask(0)
os.umask(_UMASK)


def utf16_problem(text: str, where: str) -> str | None:
    """Why a question file read as UTF-8 is really UTF-16 saved without a byte-order mark (a
    NUL beside each letter: its questions had been searched as garbage, exit 0), else None.
    For batch's and eval's question files alike."""
    if text.count("\x00") * 4 > len(text):
        return f"{where} is not UTF-8 text (every other byte is NUL: UTF-16?); save it as UTF-8"
    return None


class ResultsFileError(DataError):
    """An --out file exists and cannot be resumed: it is not a results file, or not readable."""


def not_results(name: str, why: str) -> ResultsFileError:
    return ResultsFileError(f"{name} exists and is not a results file ({why}); choose another --out")


def replace_whole(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file whole (`write` gets a binary handle): to a temporary beside it, then renamed
    over it. Nothing half-written is left, and an OSError names `path`, the file the user will
    look for (a folder of that name had been "Is a directory: .….tmp", the .tmp left there).
    For the files a command writes at once: a record, an annotated page, a resumed results file."""
    import tempfile

    temporary: Path | None = None
    try:
        # A name of its own, created anew: never a link left at a predictable name (it would
        # be written through), nor another writer's temporary (it would be published torn).
        descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        temporary = Path(name)
        os.chmod(temporary, 0o666 & ~_UMASK)  # as open() would have made it, not mkstemp's 0600
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    except OSError as exc:
        _remove(temporary)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        _remove(temporary)
        raise


def _remove(temporary: Path | None) -> None:
    try:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    except OSError:
        pass


def read_text(path: Path, name: str) -> str | None:
    """A results file's text, None where it does not exist yet. `name`: the file in errors.
    Only a regular file is one: reading /dev/full never ends (it filled 20 GB of memory), and
    a FIFO or /dev/stdout waits for ever for a writer."""
    if not path.exists():
        return None
    if not path.is_file():
        raise ResultsFileError(
            f"{name} is not a regular file (a device, a pipe or a folder); give a file for --out, or - for standard output"
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise not_results(name, "not UTF-8 text") from None
    except OSError as exc:
        raise ResultsFileError(f"cannot read {name}: {exc.strerror or exc}") from None


# The keys by which each command knows its own records: a batch results file given to
# `eval --answers --out` had ended in a KeyError traceback, and eval's file given to batch had
# had batch's records appended to it.
BATCH_KEYS = ("question", "timings")
EVAL_KEYS = ("question", "answerable", "recall")


def read_records(path: Path, shown: str | None = None, keys: tuple[str, ...] = ()) -> list[dict]:
    """The records already in the JSONL results file at `path` (none where it does not exist);
    a torn last line is left out, to be redone. `shown`: how to name the file in an error;
    `keys`: what every record of this kind of results file has."""
    name = shown or str(path)
    text = read_text(path, name)
    if text is None:
        return []
    *complete, last = text.split("\n")
    records = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            record = None
        if not isinstance(record, dict) or "id" not in record:
            raise not_results(name, f"line {number} is not a record")
        if any(key not in record for key in keys):
            kind = "batch" if keys == BATCH_KEYS else "eval --answers" if keys == EVAL_KEYS else "this command"
            raise not_results(name, f"line {number} is not a record of {kind}")
        records.append(record)
    if last.strip() and not last.lstrip().startswith("{"):
        raise not_results(name, f"line {len(complete) + 1} is not a record")
    return records


def match_records(name: str, rows: list[tuple[str, str]], records: list[tuple[str, str, T]]) -> list[T | None]:
    """For each row (its id and question, as asked), the record already written for it, or None.

    A record resumes a row only if it holds that row's question: the ids of a .txt file are its
    line numbers, so another questions file (or an edited one) with the same --out had been
    "answered" from the first file's records, exit 0. Records hold ids and questions with CPR
    numbers masked, so rows are matched masked, and each record is used once, in file order: a
    sheet keyed by citizens' numbers has every id "[skjult]", and often the same masked
    question ("Hvad er status for [skjult]?"); a killed run's records are its first rows.
    An id without a CPR number that the file holds under another question is refused."""
    from ragcli.privacy import mask_cpr

    def shown(question: str) -> str:
        return mask_cpr(question).strip()

    unused: dict[tuple[str, str], deque[T]] = defaultdict(deque)
    for record_id, question, record in records:
        unused[(record_id, shown(question))].append(record)
    recorded_ids = {record_id for record_id, _, _ in records}
    matched: list[T | None] = []
    for row_id, question in rows:
        waiting = unused.get((mask_cpr(row_id), shown(question)))
        if waiting:
            matched.append(waiting.popleft())
        elif mask_cpr(row_id) == row_id and row_id in recorded_ids:
            raise ResultsFileError(
                f"{name} holds the answer to another question under id {row_id!r}; "
                "give a new --out file for these questions (or remove the old one)"
            )
        else:
            matched.append(None)
    return matched


def cut_torn_line(path: Path) -> None:
    """Cut an unfinished last line (from a killed run) so appends start clean."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
