"""Batch Q&A: many questions in, one record per answer out, resumable.

Inputs: `.txt` (one question a line), `.jsonl` (objects with `question` and optional
`id`), `.csv` (a `question` column, optional `id`), or `-` for stdin (JSONL if the first
line starts with "{", else one question a line). Outputs: `.jsonl` (default), `.csv`,
or `-` for stdout. Each record is written and flushed as soon as it is ready, so a
killed run loses at most the question in flight; re-running with the same output
skips every id already there.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ragcli import wire
from ragcli.errors import DataError, one_line
from ragcli.results_file import BATCH_KEYS, cut_torn_line, match_records, not_results, read_records, read_text, replace_whole, utf16_problem
from ragcli.schema import Answer, Hit
from ragcli.terminal import json_line

if TYPE_CHECKING:
    from ragcli.answering import AskParams
    from ragcli.session import Session


class BatchError(DataError):
    """The input or output cannot be used."""


@dataclass(frozen=True)
class BatchQuestion:
    id: str
    question: str


CSV_FIELDS = ("id", "question", "answer", "refused", "decision", "citations", "top_score", "seconds", "model")


def _from_lines(lines: list[str]) -> list[BatchQuestion]:
    return [BatchQuestion(str(i), line.strip()) for i, line in enumerate(lines, start=1) if line.strip()]


def _shape(value: object) -> str:
    """What a JSON value is, in words, for an error line ("a list", "null", "an empty text")."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return "an empty text" if not value.strip() else "a text"
    return {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(type(value), "a value")


def _from_jsonl(lines: list[str], where: str) -> list[BatchQuestion]:
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BatchError(f"{where}:{number}: not JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise BatchError(f"{where}:{number}: JSON nested too deep") from None
        if not isinstance(row, dict):
            raise BatchError(f"{where}:{number}: expected an object with a 'question', not {_shape(row)}")
        if "question" not in row:
            # {"Question": …} had been called "not an object"
            keys = ", ".join(repr(k) for k in list(row)[:5]) or "no keys"
            raise BatchError(f"{where}:{number}: expected an object with a 'question' (keys are case-sensitive), not one with {keys}")
        question = row["question"]
        # null or "" would otherwise be asked as the text "None" or as nothing at all.
        if not isinstance(question, str) or not question.strip():
            raise BatchError(f"{where}:{number}: 'question' must be a non-empty text, not {_shape(question)}")
        # an id names a row in the results and on resume: a text or a number, nothing else
        row_id = row.get("id", number)
        if isinstance(row_id, bool) or not isinstance(row_id, (str, int)):
            raise BatchError(f"{where}:{number}: 'id' must be a text or a whole number, not {_shape(row_id)}")
        questions.append(BatchQuestion(str(row_id), question.strip()))
    return questions


def _from_csv(text: str, where: str) -> list[BatchQuestion]:
    """Rows of a CSV file with a 'question' column (and an 'id' one, optionally), separated by
    commas, or by semicolons or tabs as a Danish spreadsheet saves them."""
    first_line = text.split("\n", 1)[0]
    for delimiter in (",", ";", "\t"):
        header = [cell.strip() for cell in next(csv.reader(io.StringIO(first_line), delimiter=delimiter), [])]
        if "question" in header:
            break
    else:
        raise BatchError(f"{where}: a CSV input needs a 'question' column (comma-, semicolon- or tab-separated)")
    doubled = sorted({name for name in header if name and header.count(name) > 1})
    if doubled:
        raise BatchError(f"{where}: the column {doubled[0]!r} appears twice; which one is meant?")
    reader = csv.DictReader(io.StringIO(text), fieldnames=header, delimiter=delimiter)
    next(reader)  # the header
    questions = []
    for number, row in enumerate(reader, start=1):
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # a spreadsheet's trailing empty rows (";;")
        question = row.get("question")
        # an empty question was dropped without a word, where JSONL's is refused
        if not isinstance(question, str) or not question.strip():
            raise BatchError(f"{where}:{reader.line_num}: 'question' is empty")
        questions.append(BatchQuestion(str((row.get("id") or "").strip() or number), question.strip()))
    return questions


def _not_utf16(text: str, where: str) -> None:
    problem = utf16_problem(text, where)
    if problem:
        raise BatchError(problem)


def read_questions(source: str, stdin: IO[str] | None = None) -> list[BatchQuestion]:
    if source == "-":
        try:
            text = (stdin or sys.stdin).read()
        except UnicodeDecodeError as exc:
            raise BatchError(f"stdin is not UTF-8 text (byte {exc.start})") from None
        _not_utf16(text, "stdin")
        lines = text.splitlines()
        first = next((line for line in lines if line.strip()), "")
        questions = _from_jsonl(lines, "stdin") if first.lstrip().startswith("{") else _from_lines(lines)
    else:
        path = Path(source)
        if not path.is_file():
            raise BatchError(f"no such question file: {path}")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BatchError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
        _not_utf16(text, str(path))
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            questions = _from_jsonl(text.splitlines(), str(path))
        elif suffix == ".csv":
            questions = _from_csv(text, str(path))
        elif suffix in (".txt", ""):
            questions = _from_lines(text.splitlines())
        else:
            raise BatchError(f"{path}: use .txt, .jsonl or .csv (or - for stdin)")
    from ragcli.errors import UsageError
    from ragcli.retrieval import check_question

    if not questions:  # an empty file, or the wrong one: nothing would be asked, and the run "succeed"
        raise BatchError(f"{'stdin' if source == '-' else source} holds no questions")
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            raise BatchError(f"question id {q.id!r} appears twice; ids must be unique for resuming")
        try:
            check_question(q.question)
        except UsageError as exc:
            # Found before the first answer, not after hours of them: nothing is asked.
            raise BatchError(f"question {q.id!r}: {exc}") from None
        seen.add(q.id)
    return questions


def check_output(questions: str, output: str) -> None:
    """Refuse to write answers into the questions file (its ids would all look answered)."""
    if "-" not in (questions, output) and Path(output).resolve() == Path(questions).resolve():
        raise BatchError(f"--out {output} is the questions file; choose another file for the results")


_DECISION = CSV_FIELDS.index("decision")


def _csv_rows(output: str) -> list[list[str]] | None:
    text = read_text(Path(output), output)
    if text is None:
        return None
    rows = list(csv.reader(io.StringIO(text)))
    if rows and rows[0] != list(CSV_FIELDS):
        raise not_results(output, "its first line is not ragcli's header")
    return rows


def answered_ids(output: str) -> list[tuple[str, str]]:
    """The (id, question) of each answered record in an output file, in file order (none for
    stdout or a new file; ids and questions as written: masked where they held a CPR number);
    a failed question's record does not count, so a resume asks it again. A torn last line is
    ignored; a file that is not batch's results is refused before anything is written."""
    if output == "-":
        return []
    path = Path(output)
    if path.suffix.lower() != ".csv":
        return [
            (str(record["id"]), str(record["question"]))
            for record in read_records(path, output, BATCH_KEYS)
            if record.get("decision") != "error"
        ]
    return [
        (_uncell(row[0]), _uncell(row[1]) if len(row) > 1 else "")
        for row in (_csv_rows(output) or [])[1:]
        if row and row[0] and row[_DECISION:_DECISION + 1] != ["error"]
    ]


def drop_failed(output: str) -> int:
    """Take the failed questions' records out of an output file, to be answered again (after
    --n-ctx was raised, say), so that each id keeps one record; the file is replaced whole.
    Returns how many were taken out."""
    if output == "-":
        return 0
    path = Path(output)
    if path.suffix.lower() == ".csv":
        rows = _csv_rows(output) or []
        kept = rows[:1] + [row for row in rows[1:] if row[_DECISION : _DECISION + 1] != ["error"]]
        removed = len(rows) - len(kept)
        buffer = io.StringIO()
        csv.writer(buffer).writerows(kept)
        text = buffer.getvalue()
    else:
        # read_records refuses a file that is not a results file; the file is read again, as
        # it stands, only where there is something to take out (a resume seldom has)
        if not any(record.get("decision") == "error" for record in read_records(path, output, BATCH_KEYS)):
            return 0
        lines = (read_text(path, output) or "").split("\n")[:-1]  # a torn last line goes too, to be redone
        kept_lines = [line for line in lines if not _failed_line(line)]
        removed = len(lines) - len(kept_lines)
        text = "".join(line + "\n" for line in kept_lines)
    if not removed:
        return 0
    try:
        replace_whole(path, lambda handle: handle.write(text.encode("utf-8")))
    except OSError as exc:
        raise BatchError(f"cannot write {output}: {exc.strerror or exc}") from None
    return removed


def _failed_line(line: str) -> bool:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(record, dict) and record.get("decision") == "error"


def answer_record(question: BatchQuestion, answer: Answer) -> dict:
    return dict(wire.batch_answer(question.id, question.question, answer))


def retrieval_record(question: BatchQuestion, hits: list[Hit], seconds: float, embedding_model: str) -> dict:
    return dict(wire.batch_retrieval(question.id, question.question, hits, seconds, embedding_model))


# A spreadsheet runs a cell that starts with one of these as a formula
# (=HYPERLINK("http://…";"klik") in a question): such text is written with a leading
# apostrophe, which spreadsheets show as text (OWASP's advice on CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def _uncell(text: str) -> str:
    """A cell's text as it was before _cell (an id read back to resume)."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text


class RecordWriter:
    """Appends records to JSONL/CSV (flushed and fsynced one by one) or writes them to stdout."""

    def __init__(self, output: str):
        self.output = output
        self._csv = output != "-" and Path(output).suffix.lower() == ".csv"
        if output == "-":
            self._handle: IO[str] = sys.stdout
            self._owned = False
        else:
            path = Path(output)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                new = not path.exists() or path.stat().st_size == 0
                if not new:
                    cut_torn_line(path)
                self._handle = path.open("a", encoding="utf-8", newline="")
            except OSError as exc:
                raise BatchError(f"cannot write {output}: {exc.strerror or exc}") from None
            self._owned = True
            if self._csv and new:
                csv.writer(self._handle).writerow(CSV_FIELDS)

    def write(self, record: dict) -> None:
        if self._csv:
            citations = "; ".join(f"{c['doc']} s. {c['pages']}" for c in record.get("citations", []))
            top = record.get("retrieval") or record.get("passages") or [{}]
            answer = record.get("answer", f"Fejl: {record['error']}" if "error" in record else "")
            csv.writer(self._handle).writerow(
                [
                    _cell(record["id"]), _cell(record["question"]), _cell(answer), record.get("refused", ""),
                    record.get("decision", ""), _cell(citations), top[0].get("score", ""),
                    record["timings"].get("total_s", record["timings"].get("retrieve_s")), record.get("model", ""),
                ]
            )
        else:
            self._handle.write(json_line(record) + "\n")  # `-o -` is a terminal too
        self._handle.flush()
        if self._owned:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._owned:
            self._handle.close()


def pending(questions: list[BatchQuestion], output: str) -> Iterator[BatchQuestion]:
    """The questions not yet answered in `output` (see results_file.match_records); refused,
    before anything is asked, where the file holds another question under one of their ids."""
    done = answered_ids(output)
    matched = match_records(output, [(q.id, q.question) for q in questions], [(i, q, True) for i, q in done])
    return iter([q for q, record in zip(questions, matched) if record is None])


def run_batch(
    session: Session,
    questions: Iterable[BatchQuestion],
    writer: RecordWriter,
    params: AskParams,
    retrieve_only: bool = False,
    show_cpr: bool = False,
    on_record: Callable[[dict], None] | None = None,
) -> int:
    """Answer each question (or only retrieve its passages) and write its record as soon as it
    is ready. Returns how many got an error record instead: a question the model cannot take
    (its prompt over --n-ctx) is that question's failure, not the run's; the rest are answered."""
    from ragcli.errors import UsageError
    from ragcli.privacy import mask_answer, mask_cpr

    failed = 0
    for question in questions:
        shown = question if show_cpr else replace(question, id=mask_cpr(question.id), question=mask_cpr(question.question))
        try:
            if retrieve_only:
                started = time.perf_counter()
                hits = session.search(question.question, params.retrieval.k, params.retrieval.mode, show_cpr=show_cpr)
                record = retrieval_record(shown, hits, time.perf_counter() - started, session.index.embedding_model)
            else:
                record = answer_record(shown, mask_answer(session.ask(question.question, params), show_cpr=show_cpr))
        except UsageError as exc:
            model = session.index.embedding_model if retrieve_only else session.generator.name
            record = dict(wire.batch_error(shown.id, shown.question, one_line(exc), model))
            failed += 1
        writer.write(record)
        if on_record:
            on_record(record)
    return failed
