"""Results files that a run appends to, one JSON record per line, and a re-run resumes
(`batch --out FILE.jsonl`, `eval --answers --out`).

Records are written whole, each with its newline, and flushed one by one: only a run killed
mid-write leaves a torn last line, and a torn record starts as a record does ("{"). Any
other line means the file is something else — notes, data, another program's output — and
appending to it, or cutting its "unfinished" last line, would spoil the user's file, so
such a file is refused before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path

from ragcli.errors import DataError


class ResultsFileError(DataError):
    """An --out file exists and cannot be resumed: it is not a results file, or not readable."""


def read_records(path: Path, shown: str | None = None) -> list[dict]:
    """The records already in the results file at `path` (none where it does not exist); a
    torn last line is left out, to be redone. `shown`: how to name the file in an error."""
    name = shown or str(path)
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ResultsFileError(f"{name} exists and is not a results file (not UTF-8 text); choose another --out") from None
    except OSError as exc:
        raise ResultsFileError(f"cannot read {name}: {exc.strerror or exc}") from None
    *complete, last = text.split("\n")
    records = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or "id" not in record:
            raise ResultsFileError(f"{name} exists and is not a results file (line {number} is not a record); choose another --out")
        records.append(record)
    if last.strip() and not last.lstrip().startswith("{"):
        raise ResultsFileError(
            f"{name} exists and is not a results file (line {len(complete) + 1} is not a record); choose another --out"
        )
    return records


def cut_torn_line(path: Path) -> None:
    """Cut an unfinished last line (from a killed run) so appends start clean."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
