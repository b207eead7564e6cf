"""Batch Q&A over a real index: formats, stdout, and resuming after the process is killed."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragcli.answer_eval import done_records
from ragcli.batch import BatchError, RecordWriter, answered_ids, read_questions
from ragcli.errors import DataError

QUESTIONS = [
    "Hvilken værdi skal Server.ehealth.mode have i produktion?",
    "Hvornår starter skoledagen?",
    "Hvad er GovCloud?",
    "Hvad koster det at leje en kolonihave i Odense?",
    "Hvad skal forældre gøre, når barnet skal starte i skole?",
]


def _cli(home: Path, *args: str, stdin: str | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "RAGCLI_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "ragcli.cli", *args], capture_output=True, text=True, env=env, input=stdin, timeout=900, **kw)


def test_reads_every_input_format(tmp_path):
    (tmp_path / "q.txt").write_text("Første?\n\nAnden?\n")
    assert [(q.id, q.question) for q in read_questions(str(tmp_path / "q.txt"))] == [("1", "Første?"), ("3", "Anden?")]
    (tmp_path / "q.jsonl").write_text('{"id": "a", "question": "Én?"}\n{"question": "To?"}\n')
    assert [(q.id, q.question) for q in read_questions(str(tmp_path / "q.jsonl"))] == [("a", "Én?"), ("2", "To?")]
    (tmp_path / "q.csv").write_text("id,question\nx,\"Tre, fire?\"\n")
    assert [(q.id, q.question) for q in read_questions(str(tmp_path / "q.csv"))] == [("x", "Tre, fire?")]
    # a Danish spreadsheet's semicolons, a quoted line break, a BOM
    (tmp_path / "dk.csv").write_text("\ufeffid;question\nx;\"Hvad er\nKLE?\"\ny;Tre, fire?\n;\n;\n", encoding="utf-8")
    assert [(q.id, q.question) for q in read_questions(str(tmp_path / "dk.csv"))] == [("x", "Hvad er\nKLE?"), ("y", "Tre, fire?")]
    # a row without its question was dropped without a word; a doubled column was guessed at
    for text, refused in (("id,question\nc1,Hvad?\nc2,\nc3,Hvor?\n", "q.csv:3: 'question' is empty"),
                          ("id,question\nc1,Hvad?\nc2\n", "q.csv:3: 'question' is empty"),
                          ("question,question\nx,y\n", "'question' appears twice")):
        (tmp_path / "q.csv").write_text(text)
        with pytest.raises(BatchError, match=refused):
            read_questions(str(tmp_path / "q.csv"))
    (tmp_path / "bad.csv").write_text("spørgsmål\nHvad?\n")
    with pytest.raises(BatchError, match="'question' column"):
        read_questions(str(tmp_path / "bad.csv"))
    (tmp_path / "dup.jsonl").write_text('{"id": 1, "question": "a"}\n{"id": 1, "question": "b"}\n')
    with pytest.raises(BatchError, match="twice"):
        read_questions(str(tmp_path / "dup.jsonl"))
    # null was once asked as the text "None"; an empty question is an error with its line.
    for bad in ('{"id": "n", "question": null}', '{"id": "e", "question": "  "}', '{"id": "t", "question": 7}'):
        (tmp_path / "bad.jsonl").write_text('{"question": "Fint?"}\n' + bad + "\n")
        with pytest.raises(BatchError, match="bad.jsonl:2: 'question' must be a non-empty text"):
            read_questions(str(tmp_path / "bad.jsonl"))
    # Rows that are no question object are named in words, not in Python's ("list indices must be integers")
    for bad, said in (("[1, 2]", "not a list"), ('{"q": "Hvad?"}', "(keys are case-sensitive), not one with 'q'"), ('{"question": "Hvad?",', "not JSON"),
                      ('{"id": {"x": 1}, "question": "Hvad?"}', "'id' must be a text or a whole number, not an object")):
        (tmp_path / "bad.jsonl").write_text('{"question": "Fint?"}\n' + bad + "\n")
        with pytest.raises(BatchError, match=f"bad.jsonl:2: .*{re.escape(said)}") as raised:
            read_questions(str(tmp_path / "bad.jsonl"))
        assert "indices" not in str(raised.value) and "KeyError" not in str(raised.value)
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(BatchError, match="empty.txt holds no questions"):
        read_questions(str(tmp_path / "empty.txt"))
    # A pasted document in one row is found before the first answer, with the row's id.
    long = "Hvad står der her? " * 250
    (tmp_path / "long.jsonl").write_text(json.dumps({"question": "Fint?"}) + "\n" + json.dumps({"id": "lang", "question": long}) + "\n")
    with pytest.raises(BatchError, match=r"question 'lang': the question has 4,749 characters; at most 4,000"):
        read_questions(str(tmp_path / "long.jsonl"))
    # A line of zero-width characters is no question: it would retrieve five arbitrary passages.
    (tmp_path / "invisible.txt").write_text("Fint?\n\u200b\u200b\nOgså fint?\n")
    with pytest.raises(BatchError, match=r"question '2': the question is empty"):
        read_questions(str(tmp_path / "invisible.txt"))
    # UTF-16 without a byte-order mark had been read as UTF-8, a NUL beside each letter, and searched
    for encoding in ("utf-16-le", "utf-16-be"):
        (tmp_path / "u16.txt").write_bytes("Hvem er skoleleder?\nHvad koster SFO?\n".encode(encoding))  # ASCII: valid UTF-8
        with pytest.raises(BatchError, match="u16.txt is not UTF-8 text .*UTF-16"):
            read_questions(str(tmp_path / "u16.txt"))
    (tmp_path / "edge.txt").write_text("x" * 3999 + "?\n")
    assert len(read_questions(str(tmp_path / "edge.txt"))[0].question) == 4000


def test_an_existing_file_that_is_not_results_is_refused_and_left_as_it_is(tmp_path):
    # notes, a CSV of data, a JSONL of something else: appending would spoil them, and cutting
    # an "unfinished" last line would delete the user's text
    files = {
        "notes.jsonl": "Mine vigtige noter\nsidste linje uden linjeskift",
        "plain.jsonl": "vigtige noter\n",
        "other.jsonl": '{"name": "Peter"}\n',
        "data.csv": "navn,alder\nPeter,40",
    }
    for name, content in files.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(DataError, match="is not a results file"):
            answered_ids(str(path))
        if name.endswith(".jsonl"):  # eval --answers --out resumes the same way
            with pytest.raises(DataError, match="is not a results file"):
                done_records(path)
        assert path.read_text(encoding="utf-8") == content
    # ragcli's own CSV resumes
    ours = tmp_path / "ours.csv"
    writer = RecordWriter(str(ours))
    writer.write({"id": "7", "question": "Q?", "answer": "A", "timings": {"total_s": 1.0}})
    writer.close()
    assert answered_ids(str(ours)) == [("7", "Q?")]


def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_written_as_text(tmp_path):
    out = tmp_path / "r.csv"
    writer = RecordWriter(str(out))
    writer.write({"id": "-1", "question": '=HYPERLINK("http://evil.example";"klik")', "answer": "@SUM(A1)",
                  "timings": {"total_s": 1.0}})
    writer.close()
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert row["question"] == "'=HYPERLINK(\"http://evil.example\";\"klik\")" and row["answer"] == "'@SUM(A1)"
    assert answered_ids(str(out)) == [("-1", '=HYPERLINK("http://evil.example";"klik")')]  # a resume still knows the row


def test_a_torn_last_line_is_ignored_and_cut(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "1", "question": "Q?", "answer": "ok", "timings": {}}\n{"id": "2", "ans')
    assert answered_ids(str(out)) == [("1", "Q?")]
    writer = RecordWriter(str(out))
    writer.write({"id": "2", "question": "R?", "answer": "igen", "timings": {}})
    writer.close()
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["1", "2"]


def test_a_results_file_of_other_questions_or_another_command_is_refused_before_anything_is_asked(tmp_path):
    # The ids of a .txt file are its line numbers: another questions file with the same --out
    # had been "answered" from the first file's records (0 answered, exit 0).
    from ragcli.answer_eval import run_answer_eval
    from ragcli.batch import pending
    from ragcli.evaluation import EvalQuestion

    out = tmp_path / "svar.jsonl"
    writer = RecordWriter(str(out))
    writer.write({"id": "1", "question": "Hvornår starter skoledagen?", "answer": "kl. 8", "decision": "extracted", "timings": {}})
    writer.close()
    same = read_questions_from(tmp_path, "Hvornår starter skoledagen? \nHvad koster SFO?\n")
    assert [q.id for q in pending(same, str(out))] == ["2"]  # the same first question: resumed
    other = read_questions_from(tmp_path, "Hvad koster en plads i SFO?\n")
    with pytest.raises(DataError, match="another question under id '1'"):
        list(pending(other, str(out)))
    before = out.read_bytes()
    # … and eval's results file is not batch's, nor batch's eval's
    asked = []
    row = EvalQuestion(id="1", question="Hvornår starter skoledagen?", doc="a.pdf", page=1, kind="fact", answer="kl. 8")
    with pytest.raises(DataError, match="not a record of eval --answers"):
        run_answer_eval([row], lambda q: asked.append(q), out)
    assert asked == [] and out.read_bytes() == before
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"id": "1", "question": "Q?", "answerable": True, "recall": 1.0}) + "\n")
    with pytest.raises(DataError, match="not a record of batch"):
        answered_ids(str(evals))


def read_questions_from(folder: Path, text: str):
    path = folder / "q.txt"
    path.write_text(text, encoding="utf-8")
    return read_questions(str(path))


@pytest.fixture(scope="module")
def batch_home(tmp_path_factory, small_corpus) -> Path:
    from conftest import TEST_EMBED_MODEL

    home = tmp_path_factory.mktemp("batch_home")
    result = _cli(home, "ingest", str(small_corpus), "--index", "b", "--embed-model", TEST_EMBED_MODEL, "-q")
    assert result.returncode == 0, result.stderr
    return home


def test_killed_batch_resumes_and_answers_each_question_once(batch_home, tmp_path):
    questions = tmp_path / "q.jsonl"
    rows = [{"id": f"q{i:02d}", "question": QUESTIONS[i % len(QUESTIONS)] + ("" if i < 5 else f" ({i})")} for i in range(20)]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    out = tmp_path / "answers.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGCLI_HOME": str(batch_home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ragcli.cli", "batch", str(questions), "--index", "b", "--out", str(out), "-q"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and (not out.exists() or len(answered_ids(str(out))) < 3):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = answered_ids(str(out))
    assert 3 <= len(first) < 20, "the kill should land mid-run"

    result = _cli(batch_home, "batch", str(questions), "--index", "b", "--out", str(out))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == [r["id"] for r in rows]  # each exactly once
    assert f"{20 - len(first)} besvaret" in result.stderr
    for record in records:
        assert {"id", "question", "answer", "refused", "decision", "citations", "retrieval", "timings", "model"} <= set(record)
        assert all({"number", "doc", "pages", "snippet", "supported"} == set(c) for c in record["citations"])
    by_id = {r["id"]: r for r in records}
    assert by_id["q03"]["refused"] is True  # nothing in these documents about allotments


def test_csv_and_stdin_stdout_round_trips(batch_home, tmp_path):
    out = tmp_path / "answers.csv"
    result = _cli(batch_home, "batch", "-", "--index", "b", "--out", str(out), "--retrieve-only", stdin="\n".join(QUESTIONS[:3]))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert [r["question"] for r in rows] == QUESTIONS[:3] and all(r["model"] for r in rows)

    streamed = _cli(
        batch_home, "batch", "-", "--index", "b", "--retrieve-only", "--k", "2",
        stdin='{"id": "s1", "question": "Server.ehealth.mode produktion"}\n',
    )
    assert streamed.returncode == 0, streamed.stderr
    [record] = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert record["id"] == "s1" and len(record["passages"]) == 2
    assert record["passages"][0]["doc"] == "sds_ehdsi_driftshaandbog.pdf"


def test_an_output_that_cannot_be_results_is_a_one_line_error(batch_home, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("Hvornår starter skoledagen?\n")
    (tmp_path / "binary.jsonl").write_bytes(bytes(range(256)))
    cases = {
        str(tmp_path): "is not a regular file",  # a folder (was a traceback)
        str(questions): "is the questions file",  # every id would look answered already
        str(tmp_path / "binary.jsonl"): "is not a results file",
    }
    for out, message in cases.items():
        result = _cli(batch_home, "batch", str(questions), "--index", "b", "--out", out, "--retrieve-only", "-q")
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert questions.read_text() == "Hvornår starter skoledagen?\n"
    assert (tmp_path / "binary.jsonl").read_bytes() == bytes(range(256))


def test_a_question_the_model_cannot_take_fails_alone_and_the_run_goes_on(batch_home, tmp_path):
    # 3,999 emoji pass the length check but need more tokens than the model's context holds:
    # that row used to end the run (exit 2) at itself, and every resume at it again.
    rows = [
        {"id": "a", "question": QUESTIONS[0]},
        {"id": "b", "question": "🙂" * 3999 + "?"},
        {"id": "c", "question": QUESTIONS[1]},
    ]
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    for out in (tmp_path / "answers.jsonl", tmp_path / "answers.csv"):
        result = _cli(batch_home, "batch", str(questions), "--index", "b", "--out", str(out))
        assert result.returncode == 1 and "1 spørgsmål fik intet svar" in result.stderr and "2 besvaret" in result.stderr
        if out.suffix == ".jsonl":
            records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
            assert records["b"]["decision"] == "error" and "--n-ctx" in records["b"]["error"] and "\n" not in records["b"]["error"]
        else:
            records = {r["id"]: r for r in csv.DictReader(out.open())}
            assert records["b"]["decision"] == "error" and records["b"]["answer"].startswith("Fejl: ")
        assert sorted(records) == ["a", "b", "c"] and records["a"]["decision"] != "error" and records["c"]["decision"] != "error"
        # A resume asks the failed question again (it had counted as done), and keeps one record per id.
        again = _cli(batch_home, "batch", str(questions), "--index", "b", "--out", str(out))
        assert again.returncode == 1 and "0 besvaret, 2 fandtes allerede" in again.stderr
        # The error's advice can be followed: batch takes --n-ctx (it had been "No such option").
        roomy = _cli(batch_home, "batch", str(questions), "--index", "b", "--out", str(out), "--n-ctx", "8192")
        assert roomy.returncode == 0 and "1 besvaret, 2 fandtes allerede" in roomy.stderr, roomy.stderr
        if out.suffix == ".jsonl":
            records = [json.loads(line) for line in out.read_text().splitlines()]
            ids = [r["id"] for r in records]
        else:
            records = list(csv.DictReader(out.open()))
            ids = [r["id"] for r in records]
        assert sorted(ids) == ["a", "b", "c"] and all(r["decision"] != "error" for r in records)


@pytest.mark.parametrize("kind", ["device", "fifo", "folder"])
def test_an_out_that_is_no_regular_file_is_refused_before_anything_is_read(tmp_path, kind):
    # /dev/full read to its end filled 20 GB of memory; a FIFO (or /dev/stdout on a pipe) waited for ever
    from ragcli.answer_eval import done_records
    from ragcli.batch import answered_ids
    from ragcli.results_file import ResultsFileError

    if kind == "device":
        target = Path("/dev/full")
    elif kind == "fifo":
        target = tmp_path / "ud.jsonl"
        os.mkfifo(target)
    else:
        target = tmp_path / "mappe.jsonl"
        target.mkdir()
    with pytest.raises(ResultsFileError, match="not a regular file"):
        answered_ids(str(target))  # batch --out
    with pytest.raises(ResultsFileError, match="not a regular file"):
        done_records(target)  # eval --answers --out


def test_ids_that_are_cpr_numbers_are_written_masked_and_a_resume_still_knows_them(tmp_path):
    # A case worker's sheet keyed by the citizen's CPR number: the ids had been written in full.
    from types import SimpleNamespace

    from ragcli.batch import pending, run_batch
    from ragcli.session import ask_params

    questions = tmp_path / "sager.csv"
    questions.write_text("id,question\n150585-4321,Hvad har borgeren søgt om?\n010190-1234,Hvornår er sagen afgjort?\n", encoding="utf-8")
    rows = read_questions(str(questions))
    session = SimpleNamespace(search=lambda *a, **k: [], index=SimpleNamespace(embedding_model="e5"))
    out = tmp_path / "svar.jsonl"
    writer = RecordWriter(str(out))
    run_batch(session, rows[:1], writer, ask_params(), retrieve_only=True)
    writer.close()
    assert "150585" not in out.read_text() and json.loads(out.read_text())["id"] == "[skjult]"
    assert [q.id for q in pending(rows, str(out))] == ["010190-1234"]  # the first is done, by its question
    # … also where every question names the citizen, so all mask alike: one record, one row
    alike = tmp_path / "status.csv"
    alike.write_text("id,question\n150585-4321,Status for 150585-4321?\n010190-1234,Status for 010190-1234?\n"
                     "020290-2222,Status for 020290-2222?\n", encoding="utf-8")
    rows = read_questions(str(alike))
    out2 = tmp_path / "status.jsonl"
    writer = RecordWriter(str(out2))
    run_batch(session, rows[:1], writer, ask_params(), retrieve_only=True)  # a run killed after its first row
    writer.close()
    assert [q.id for q in pending(rows, str(out2))] == ["010190-1234", "020290-2222"]  # they had all counted as done
