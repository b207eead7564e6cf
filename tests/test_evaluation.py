"""`ragcli eval`: the question schema, page-level judging, and a real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED, SMALL_DOCS

from ragcli.evaluation import EvalError, EvalQuestion, judge, load_questions, run_eval
from ragcli.retrieval import RetrievalParams
from ragcli.schema import Chunk, Hit
from ragcli.store import Index


def _hit(doc: str, first: int, last: int) -> Hit:
    return Hit(Chunk(doc, doc, first, last, 0, 1, "x", 1), score=1.0)


def test_page_level_judging():
    q = EvalQuestion("q", "?", "a.pdf", 3, "factual")
    hits = [_hit("b.pdf", 3, 3), _hit("a.pdf", 1, 2), _hit("a.pdf", 2, 4)]
    assert judge(q, hits) == (3, 2, 3)  # page 3 of a.pdf first covered at rank 3; a.pdf first seen at 2
    assert judge(EvalQuestion("u", "?", None, None, "unanswerable"), hits) == (None, None, None)


def test_multi_hop_needs_every_hop_for_all_hops():
    q = EvalQuestion("m", "?", "a.pdf", 1, "multi-hop", hops=(("a.pdf", 1), ("b.pdf", 5)))
    assert judge(q, [_hit("b.pdf", 5, 5), _hit("c.pdf", 1, 1)]) == (1, 1, None)
    assert judge(q, [_hit("b.pdf", 5, 5), _hit("a.pdf", 1, 1)]) == (1, 1, 2)


def test_loads_the_shared_schema_as_is(tmp_path):
    dev = SHARED / "eval" / "dev.jsonl"
    if not dev.exists():
        pytest.skip(f"no dev set at {dev}")
    questions = load_questions(dev)
    assert len(questions) == 20
    assert load_questions(str(dev)) == questions  # a path as text too (had been an AttributeError)
    assert any(q.hops and len(q.targets) == 2 for q in questions)
    assert [q.answerable for q in questions].count(False) == sum(q.kind == "unanswerable" for q in questions)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    with pytest.raises(EvalError, match="bad.jsonl:1"):
        load_questions(bad)
    with pytest.raises(EvalError, match="no such"):
        load_questions(tmp_path / "missing.jsonl")
    bad.write_bytes('{"question": "Hvad?", "doc": null}\n'.encode("utf-16-le"))  # no byte-order mark
    with pytest.raises(EvalError, match="bad.jsonl is not UTF-8 text .*UTF-16"):
        load_questions(bad)
    # a page is a whole number from 1, hops are {doc, page}: said in words, not in Python's
    # (a kind that is not a text crashed the report; a page of no document was scored as a miss)
    for row in (
        '{"question": "Hvad?", "doc": "a.pdf", "page": -1}', '{"question": "Hvad?", "hops": "nope"}', "[1, 2]",
        '{"question": "Hvad?", "doc": "a.pdf", "page": 1, "kind": ["a"]}', '{"question": "Hvad?", "page": 1}',
    ):
        bad.write_text(row + "\n")
        with pytest.raises(EvalError, match="bad.jsonl:1: not a question row: expected an object") as raised:
            load_questions(bad)
        assert "indices" not in str(raised.value)


def test_a_question_row_that_cannot_be_asked_is_refused_with_its_line(tmp_path):
    rows = tmp_path / "rows.jsonl"
    good = json.dumps({"id": "a", "question": "Hvornår starter skolen?", "doc": None})
    for bad, shown in (
        (None, "the question must be text, not NoneType"), ("  ", "the question is empty"),
        ("\u200b\u200e", "the question is empty"), ("Hvad? " * 700, "the question has 4,200 characters; at most 4,000"),
    ):
        rows.write_text(good + "\n" + json.dumps({"id": "b", "question": bad, "doc": None}) + "\n")
        with pytest.raises(EvalError, match=f"rows.jsonl:2: {shown}"):
            load_questions(rows)
    rows.write_text(good + "\n")
    assert [q.question for q in load_questions(rows)] == ["Hvornår starter skolen?"]


def test_eval_on_a_real_index(small_index, tmp_path):
    dev = SHARED / "eval" / "dev.jsonl"
    rows = [json.loads(line) for line in dev.read_text().splitlines()]
    rows = [r for r in rows if r["doc"] in SMALL_DOCS and not r.get("hops")] + [r for r in rows if r["doc"] is None]
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    home, name = small_index
    with Index.open(home, name) as index:
        report = run_eval(index, None, load_questions(path), RetrievalParams(mode="lexical", k=10))
    summary = report["summary"]
    assert summary["answerable"]["n"] == 3
    # BM25 with Danish stemming finds each of these pages in the top 5.
    assert summary["answerable"]["hit@5"] == 1.0
    assert 0 < summary["answerable"]["mrr@10"] <= 1.0
    assert len(summary["unanswerable"]) == 2 and all("top_lexical" in u for u in summary["unanswerable"])
    assert set(summary["by_kind"]) == {"factual", "number"}
    assert report["missing_documents"] == []

    # Gold documents the index does not hold are named: the likely mistake is the wrong --index.
    path.write_text(json.dumps({"id": "x", "question": "Hvad?", "doc": "andet.pdf", "page": 1, "kind": "factual"}))
    with Index.open(home, name) as index:
        assert run_eval(index, None, load_questions(path), RetrievalParams(mode="lexical", k=10))["missing_documents"] == ["andet.pdf"]


def test_all_hops_rate_counts_only_multi_hop_rows():
    from ragcli.evaluation import QuestionResult, summarize

    def result(kind: str, rank: int | None, all_hops: int | None, hops: int) -> QuestionResult:
        return QuestionResult("x", kind, "?", rank, rank, all_hops, hops, 1.0, None, None, 0.01)

    rows = [result("factual", 1, 1, 1), result("factual", 2, 2, 1), result("multi-hop", 1, None, 2)]
    assert summarize(rows)["multi_hop_all_hops@10"] == 0.0


def test_question_file_with_a_bom_is_read_like_batch_reads_it(tmp_path):
    from ragcli.evaluation import load_questions

    path = tmp_path / "q.jsonl"
    path.write_bytes('\ufeff{"id": "a", "question": "Hvornår?", "doc": null, "page": null, "kind": "unanswerable"}\n'.encode())
    [row] = load_questions(path)
    assert row.id == "a" and not row.answerable


def test_hostile_question_files_are_one_line_each(tmp_path):
    from ragcli.evaluation import require_answers

    rows = tmp_path / "rows.jsonl"
    rows.write_text("[" * 200_000 + "]" * 200_000 + "\n")  # a RecursionError traceback before
    with pytest.raises(EvalError, match="rows.jsonl:1: JSON nested too deep"):
        load_questions(rows)
    rows.write_text(json.dumps({"id": "a", "question": "Hvad er GeoFA?", "doc": "geofa.pdf", "page": 1, "answer": 5}) + "\n")
    with pytest.raises(EvalError, match="rows.jsonl:1: not a question row"):  # crashed the answer eval after generating
        load_questions(rows)
    rows.write_text(json.dumps({"id": "a", "question": "Hvad er GeoFA?", "doc": "geofa.pdf", "page": 1}) + "\n"
                    + json.dumps({"id": "u", "question": "Hvad koster GeoFA?", "doc": None}) + "\n")
    loaded = load_questions(rows)  # retrieval needs no answer …
    with pytest.raises(EvalError, match=r"--answers needs an 'answer' in every answerable row; 1 lack one \(a\)"):
        require_answers(loaded, rows)  # … the answer eval scored it 0 without a word
    require_answers([q for q in loaded if q.id == "u"], rows)  # an unanswerable row has no answer to give


def test_a_config_file_nested_too_deep_is_one_line_and_a_bom_is_read(tmp_path):
    from ragcli.config import ConfigError, load_config

    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deep"):
        load_config(deep)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(Path("/dev/zero"))  # was read until the kernel killed ragcli
    (tmp_path / "map.toml").mkdir()
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(tmp_path / "map.toml")
    import os
    import threading

    pipe = tmp_path / "pipe.toml"  # --config <(…): a pipe is read, a device is not
    os.mkfifo(pipe)
    writer = threading.Thread(target=lambda: pipe.write_text("k = 7\n"))
    writer.start()
    assert load_config(pipe)[1] == {"k": 7}
    writer.join(5)
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * 2_000_000 + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_config(huge)
    bom = tmp_path / "bom.toml"
    bom.write_text("k = 5\n", encoding="utf-8-sig")  # Notepad's way
    assert load_config(bom)[1] == {"k": 5}


def test_a_record_or_batch_file_nested_too_deep_is_one_line(tmp_path):
    from ragcli.batch import BatchError, read_questions
    from ragcli.record import RecordError, read_record

    deep = "[" * 200_000 + "]" * 200_000
    record = tmp_path / "svar.json"
    record.write_text(deep)
    with pytest.raises(RecordError, match="indlejret for dybt"):
        read_record(record)
    questions = tmp_path / "q.jsonl"
    questions.write_text(deep + "\n")
    with pytest.raises(BatchError, match="nested too deep"):
        read_questions(str(questions))


def test_a_config_home_naming_an_unknown_user_is_one_line(tmp_path):
    # "~ragcli/indexes" meant "~/ragcli/indexes": every command, `ragcli config` too, had died
    # with "RuntimeError: Could not determine home directory".
    from ragcli.config import ConfigError, load_config

    typo = tmp_path / "typo.toml"
    typo.write_text('home = "~ragcli_no_such_user/indexes"\n')
    with pytest.raises(ConfigError, match="unknown user"):
        load_config(typo)
    mine = tmp_path / "mine.toml"
    mine.write_text('home = "~/ragcli/indexes"\n')
    assert load_config(mine)[1] == {"home": str(Path.home() / "ragcli" / "indexes")}
    result = subprocess.run(
        [sys.executable, "-m", "ragcli.cli", "config"], env={**os.environ, "RAGCLI_CONFIG": str(typo)},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown user" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_config_llm_url_that_is_no_server_address_is_refused_when_read(tmp_path):
    """"not a url" had passed `config` and `doctor` and failed only at ask, naming a --llm-url
    the user never typed."""
    from ragcli.config import ConfigError, load_config

    config = tmp_path / "config.toml"
    for bad in ("not a url", "ftp://x", "http://h:99999"):
        config.write_text(f'llm_url = "{bad}"\n')
        with pytest.raises(ConfigError, match="llm_url must be an http:// or https:// address"):
            load_config(config)
    config.write_text('llm_url = "http://localhost:8080/v1"\n')
    assert load_config(config)[1] == {"llm_url": "http://localhost:8080/v1"}
