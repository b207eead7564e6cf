"""`eval --answers` measures: token recall, decision precision, refusal rates, resuming."""

from __future__ import annotations

import json

from ragcli.answer_eval import run_answer_eval, summarise, token_recall
from ragcli.evaluation import EvalQuestion
from ragcli.schema import Answer, Chunk, Hit, Sentence


def _answer(text: str, decision: str, doc: str = "a.pdf", page: int = 2) -> Answer:
    chunk = Chunk(doc=doc, title="", page_start=page, page_end=page, char_start=0, char_end=10, text="x", n_tokens=1)
    sentences = [] if decision == "refused" else [Sentence(text=text, cites=[1], supported=True, support=1.0)]
    return Answer(
        question="?", text=text, refused=decision == "refused", citations=[], sentences=sentences,
        hits=[Hit(chunk=chunk, score=1.0)], model="m", prompt="", prompt_tokens=0, decision=decision,
        timings={"first_token_s": 0.5, "total_s": 1.0},
    )


ROWS = [
    EvalQuestion("a", "Hvor mange pladser?", "a.pdf", 2, "number", answer="Mindst 500 ledige pladser"),
    EvalQuestion("b", "Hvem driver platformen?", "a.pdf", 2, "factual", answer="Statens IT"),
    EvalQuestion("c", "Hvor mange ansatte?", None, None, "unanswerable"),
    EvalQuestion("d", "Hvornår?", "a.pdf", 9, "date", answer="13. juni 2025"),
]


def test_token_recall_counts_stemmed_content_words_and_ignores_markers():
    assert token_recall("Der er altid mindst 500 ledige pladser i p-husene [1].", "Mindst 500 ledige pladser") == 1.0
    assert token_recall("Der er ledige pladser [500].", "Mindst 500 ledige pladser") == 0.5  # a marker is no number
    assert token_recall("Det fremgår ikke af dokumenterne.", "13. juni 2025") == 0.0


def test_summary_measures_precision_per_decision_and_refusals():
    answers = {
        "a": _answer("Der er mindst 500 ledige pladser [1].", "answered"),
        "b": _answer("Netcompany driver den [1].", "extracted"),
        "c": _answer("Der er 300 ansatte [1].", "extracted"),  # an answer to an unanswerable question
        "d": _answer("Det fremgår ikke af dokumenterne.", "refused", page=9),
    }
    records = run_answer_eval(ROWS, lambda q: answers[next(r.id for r in ROWS if r.question == q)])
    summary = summarise(records)
    assert summary["answered"] == {"n": 1, "good": 1, "precision": 1.0}
    assert summary["extracted"] == {"n": 2, "good": 0, "precision": 0.0}
    assert summary["unanswerable_refused"] == 0.0
    assert summary["answerable_refused"] == round(1 / 3, 3)
    assert summary["token_recall"] == round((1.0 + 0.0 + 0.0) / 3, 3)
    assert summary["cited_on_gold"] == 1.0  # both cited answers to answerable rows cite page 2 of a.pdf
    assert summary["first_token_s"]["p50"] == 0.5


def test_an_interrupted_run_resumes_from_its_records(tmp_path):
    out = tmp_path / "records.jsonl"
    asked: list[str] = []

    def ask(question: str) -> Answer:
        asked.append(question)
        if len(asked) == 3:
            raise KeyboardInterrupt
        return _answer("Det fremgår ikke af dokumenterne.", "refused")

    try:
        run_answer_eval(ROWS, ask, out)
    except KeyboardInterrupt:
        pass
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a", "b"]
    asked.clear()
    records = run_answer_eval(ROWS, lambda q: asked.append(q) or _answer("Det fremgår ikke af dokumenterne.", "refused"), out)
    assert asked == ["Hvor mange ansatte?", "Hvornår?"]  # only the rows not yet written
    assert [r["id"] for r in records] == ["a", "b", "c", "d"]


def test_a_torn_last_record_is_redone_and_not_glued_to_the_next(tmp_path):
    out = tmp_path / "records.jsonl"
    first = run_answer_eval(ROWS[:1], lambda q: _answer("Det fremgår ikke af dokumenterne.", "refused"), out)
    out.write_text(out.read_text() + '{"id": "b", "quest', encoding="utf-8")  # a run killed mid-write
    records = run_answer_eval(ROWS[:2], lambda q: _answer("Det fremgår ikke af dokumenterne.", "refused"), out)
    lines = out.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]  # every line whole
    assert [r["id"] for r in records] == ["a", "b"] and records[0] == first[0]


def test_a_gold_file_named_by_a_cpr_number_is_cited_on_gold_and_ids_are_written_masked(tmp_path):
    # The answer shows "sag_[skjult].pdf"; compared with the gold's full name, a right citation
    # had counted as a wrong one. Ids that are CPR numbers had been written in full.
    row = EvalQuestion("150585-4321", "Hvad har borgeren søgt om?", "sag_150585-4321.pdf", 1, "factual", answer="briller")
    out = tmp_path / "records.jsonl"
    [record] = run_answer_eval([row], lambda q: _answer("Borgeren har søgt om briller [1].", "extracted", doc="sag_[skjult].pdf", page=1), out)
    assert record["cited_on_gold"] is True and record["id"] == "[skjult]"
    assert "150585" not in out.read_text()
    asked = []
    assert run_answer_eval([row], lambda q: asked.append(q), out)[0]["recall"] == 1.0 and asked == []  # resumed
    # a second row keyed by another number resumes too (both ids are "[skjult]": it had been
    # refused as "another question under id '[skjult]'")
    other = EvalQuestion("010190-1234", "Hvornår er sagen afgjort?", "sag_010190-1234.pdf", 1, "date", answer="1. maj")
    records = run_answer_eval([row, other], lambda q: _answer("Sagen blev afgjort 1. maj [1].", "extracted", page=1), out)
    assert [r["recall"] for r in records] == [1.0, 1.0] and len(out.read_text().splitlines()) == 2
