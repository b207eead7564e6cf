"""The evidence quotes, an evaluation's ranked passages and the answer record are wire shapes too:
each module builds them through ragcli.wire, with exactly the TypedDict's keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from test_store import _docs_and_chunks, _fields
from test_wire import _answer

from ragcli import wire
from ragcli.citations import best_evidence
from ragcli.evaluation import EvalQuestion, evaluate_question
from ragcli.record import RECORD_FORMAT, RecordFacts, build_record, read_record, write_record
from ragcli.retrieval import RetrievalParams
from ragcli.store import DocumentRecord, Index, write_generation

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _facts(show_cpr: bool = False) -> RecordFacts:
    document = DocumentRecord("fjordby_skolestart.pdf", "/x/skole.pdf", "Skolestart 010190-1234", "ab" * 32, 10, 2, 3)
    return RecordFacts(
        index="demo", embedding_model="e5", documents={document.name: document}, settings={"k": 5},
        model_file="/m.gguf", model_sha256="cd" * 32, show_cpr=show_cpr,
    )


def test_the_answer_record_has_exactly_the_wire_keys(tmp_path):
    record = build_record(_answer(), _facts(), now=NOW)
    assert tuple(record) == wire.keys(wire.RecordDict)
    assert record["format"] == RECORD_FORMAT == "ragcli-record/1"
    assert all(tuple(s) == wire.keys(wire.RecordSentenceDict) for s in record["sentences"])
    assert record["spans"] and all(tuple(s) == wire.keys(wire.RecordSpanDict) for s in record["spans"])
    assert record["sources"] and all(tuple(s) == wire.keys(wire.RecordSourceDict) for s in record["sources"])
    assert all(tuple(h) == wire.keys(wire.RecordHitDict) for h in record["retrieval"])
    assert tuple(record["model"]) == wire.keys(wire.RecordModelDict)
    # What record.py puts in: markers stripped, CPR numbers masked, cited hits marked, scores rounded.
    assert record["sentences"][0]["text"] == "En almindelig skoledag starter kl. 8.00 for alle elever."
    assert record["sources"][0]["title"] == "Skolestart [skjult]"
    assert [h["cited"] for h in record["retrieval"]] == [True, False, True]
    assert record["retrieval"][0]["dense_score"] == 0.871235 and record["retrieval"][0]["lexical_score"] is None
    assert record["spans"][0]["sha256"] == "ab" * 32 and record["spans"][0]["location"] == "s. 1"
    assert build_record(_answer(), _facts(show_cpr=True), now=NOW)["sources"][0]["title"] == "Skolestart 010190-1234"
    # The file verify reads is the same shape.
    path = write_record(record, tmp_path / "svar.json")
    assert read_record(path) == json.loads(json.dumps(record))


def test_evidence_quotes_have_exactly_the_wire_keys():
    answer = _answer()
    evidence = best_evidence(answer.text, answer.hits, answer.sentences)
    assert evidence and all(tuple(e) == wire.keys(wire.EvidenceDict) for e in evidence)
    best = evidence[0]
    assert (best["source"], best["doc"], best["pages"]) == (1, "fjordby_skolestart.pdf", "1-2")
    assert best["quote"] == "En almindelig skoledag starter kl. 8.00 for alle elever." and best["overlap"] == 1.0


def test_an_evaluations_ranked_passages_have_exactly_the_wire_keys(tmp_path):
    docs, chunks, vectors = _docs_and_chunks(["Skoledagen starter kl. 8.", "Affald sorteres i ti fraktioner."])
    write_generation(tmp_path / "idx", docs, chunks, vectors, _fields())
    question = EvalQuestion(id="q1", question="Hvordan sorteres affaldet?", doc="a.pdf", page=2, kind="fact")
    with Index(tmp_path / "idx") as index:
        result = evaluate_question(index, None, question, RetrievalParams(mode="lexical", k=2))
    assert result.rank == 1
    assert [tuple(r) for r in result.retrieved] == [wire.keys(wire.RankedDict)]
    assert result.retrieved[0]["doc"] == "a.pdf" and result.retrieved[0]["pages"] == "2"


def _ingest_report():
    from ragcli.ingest import IngestReport, Skipped

    return IngestReport(
        index="demo", folder="corpus", documents=5, pages=9, chunks=12, added=["a.pdf"], unchanged=["b.pdf"],
        skipped=[Skipped("c.pdf", "encrypted PDF")], embedded_chunks=4, resumed_chunks=2, seconds=1.23456, embed_seconds=0.5,
    )


def test_ingest_json_has_exactly_the_wire_keys():
    built = _ingest_report().to_dict()
    assert tuple(built) == wire.keys(wire.IngestDict)
    assert all(tuple(s) == wire.keys(wire.SkippedDict) for s in built["skipped"])
    assert built["skipped"] == [{"doc": "c.pdf", "reason": "encrypted PDF"}]
    assert (built["seconds"], built["embed_chunks_per_second"], built["resumed_chunks"]) == (1.235, 8.0, 2)


def test_readme_ingest_json_lists_exactly_the_wire_keys():
    import re

    from conftest import REPO

    text = (REPO / "README.md").read_text(encoding="utf-8")
    [shown] = re.findall(r"`ingest --json`: `(\{.*?\})`", text, re.DOTALL)
    top_level = re.findall(r'"(\w+)"', re.sub(r"\[.*?\]", "", shown, flags=re.DOTALL))
    assert tuple(top_level) == wire.keys(wire.IngestDict)
