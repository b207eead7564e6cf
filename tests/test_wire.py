"""The JSON shapes (ragcli.wire): each function builds exactly its TypedDict's keys, and the
README's examples show exactly those keys — not a superset, not a subset."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import pytest
from conftest import REPO

from ragcli import wire
from ragcli.batch import BatchQuestion, answer_record, retrieval_record
from ragcli.schema import Answer, Chunk, Citation, Hit, Sentence


def _hit(doc: str = "fjordby_skolestart.pdf", score: float = 0.0327868852) -> Hit:
    chunk = Chunk(doc, "Skolestart", 1, 2, 0, 120, "En almindelig skoledag starter kl. 8.00 for alle elever.", 30, chunk_id=3)
    return Hit(chunk, score, dense_score=0.87123456789, lexical_score=None, dense_rank=1, lexical_rank=None)


def _answer() -> Answer:
    return Answer(
        question="Hvornår starter skoledagen?",
        text="En almindelig skoledag starter kl. 8.00 for alle elever. [1]",
        refused=False,
        citations=[
            Citation(1, "fjordby_skolestart.pdf", "1-2", 1, 2, 0.36, "Når dit barn …", cited=True),
            Citation(2, "fjordby_barsel.pdf", "1", 1, 1, 0.08, "Barsel …", cited=False),
            Citation(3, "fjordby_bibliotek.pdf", "3", 3, 3, 0.07, "Åbningstider …", cited=True),
        ],
        sentences=[
            Sentence("En almindelig skoledag starter kl. 8.00 for alle elever. [1]", [1], [], True, 1.0),
            Sentence("Biblioteket åbner kl. 10. [3]", [3], [], False, 0.2, missing=["10"]),
        ],
        hits=[_hit(), _hit("fjordby_barsel.pdf", 0.01), _hit("fjordby_bibliotek.pdf", 0.005)],
        model="gemma-3-270m-q4_k_m",
        prompt="…",
        prompt_tokens=736,
        timings={"retrieve_s": 0.05, "total_s": 2.4},
        evidence=[
            {"source": 1, "doc": "fjordby_skolestart.pdf", "pages": "1-2", "quote": "En almindelig skoledag starter kl. 8.00.", "overlap": 1.0},
            {"source": 1, "doc": "fjordby_skolestart.pdf", "pages": "1-2", "quote": "Første skoledag …", "overlap": 0.4},
        ],
        decision="answered",
        raw_answer="En almindelig skoledag starter kl. 8.00 for alle elever. [1]",
    )


def test_every_function_builds_exactly_its_shapes_keys():
    answer = _answer()
    built = wire.answer(answer, "demo", "hybrid")
    assert tuple(built) == wire.keys(wire.AnswerDict)
    assert tuple(built["retrieval"]) == wire.keys(wire.RetrievalDict)
    assert all(tuple(h) == wire.keys(wire.HitDict) for h in built["retrieval"]["hits"])
    assert all(tuple(c) == wire.keys(wire.CitationDict) for c in built["citations"])
    assert all(tuple(s) == wire.keys(wire.SentenceDict) for s in built["sentences"])
    # The sentence dict is the record's fields: a field added to Sentence must be added to the shape.
    assert wire.keys(wire.SentenceDict) == tuple(f.name for f in fields(Sentence))
    found = wire.search("skole", "demo", "lexical", answer.hits, 0.012345)
    assert tuple(found) == wire.keys(wire.SearchDict) and found["seconds"] == 0.0123
    record = answer_record(BatchQuestion("q1", answer.question), answer)
    assert tuple(record) == wire.keys(wire.BatchAnswerDict)
    assert all(tuple(c) == wire.keys(wire.SourceDict) for c in record["citations"])
    passages = retrieval_record(BatchQuestion("q1", answer.question), answer.hits, 0.5, "e5")
    assert tuple(passages) == wire.keys(wire.BatchRetrievalDict)
    tool = wire.tool_answer(answer, "demo")
    assert tuple(tool) == wire.keys(wire.ToolAnswerDict)
    assert all(tuple(c) == wire.keys(wire.ToolCitationDict) for c in tool["citations"])
    assert tuple(wire.tool_search("skole", "demo", answer.hits)) == wire.keys(wire.ToolSearchDict)


def test_one_hit_and_one_citation_everywhere():
    answer = _answer()
    one = wire.hit(answer.hits[0])
    assert answer.hits[0].to_dict() == one  # Hit.to_dict is the wire shape, not a second definition
    assert one["pages"] == "1-2" and one["score"] == 0.032787 and one["dense_score"] == 0.871235 and one["lexical_score"] is None
    assert wire.answer(answer, "demo", "hybrid")["retrieval"]["hits"][0] == one
    assert wire.search("q", "demo", "hybrid", answer.hits, 1.0)["hits"][0] == one
    record = answer_record(BatchQuestion("q1", answer.question), answer)
    assert record["retrieval"][0] == one
    assert retrieval_record(BatchQuestion("q1", "q"), answer.hits, 0.5, "e5")["passages"][0] == one
    # A batch record lists the cited sources (1 and 3, not 2); 3 is cited by an unsupported sentence.
    full = {c["number"]: c for c in wire.answer(answer, "demo", "hybrid")["citations"]}
    assert [(c["number"], c["supported"]) for c in record["citations"]] == [(1, True), (3, False)]
    for short in record["citations"]:
        assert all(short[k] == full[short["number"]][k] for k in ("doc", "pages", "snippet"))


def test_tool_answer_quotes_the_best_evidence_and_chat_text_lists_the_sources():
    answer = _answer()
    tool = wire.tool_answer(answer, "demo")
    first, third = tool["citations"]
    assert first == {"number": 1, "file": "fjordby_skolestart.pdf", "page": "1-2", "quote": "En almindelig skoledag starter kl. 8.00.", "supported": True}
    assert third["quote"] == "Åbningstider …" and third["supported"] is False  # no evidence: the passage's snippet
    text = wire.chat_text(answer)
    assert text.startswith(answer.text)
    assert text.endswith("\n\nKilder:\n[1] fjordby_skolestart.pdf, s. 1-2\n[3] fjordby_bibliotek.pdf, s. 3")
    refused = Answer("q", "Det fremgår ikke af dokumenterne.", True, [], [], [], "m", "", 0, decision="refused")
    assert wire.chat_text(refused) == "Det fremgår ikke af dokumenterne." and wire.tool_answer(refused, "demo")["citations"] == []


# ---------------------------------------------------------------- the README


def _readme_examples() -> dict[str, dict]:
    """The JSON blocks under '## JSON shapes', by the line that introduces each."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## JSON shapes\n", 1)[1].split("\n## ", 1)[0]
    examples = {}
    for match in re.finditer(r"\n\n((?:[^\n]+\n)+)\n```json\n(.*?)\n```", section, re.S):
        examples[match.group(1)] = json.loads(match.group(2))  # keyed by the paragraph before it
    return examples


def _example(examples: dict[str, dict], opening: str) -> dict:
    found = [data for intro, data in examples.items() if intro.startswith(opening)]
    assert len(found) == 1, f"the README's JSON shapes section has no single example opening with {opening!r}"
    return found[0]


def _same_keys(data: dict, shape) -> None:
    assert tuple(data) == wire.keys(shape), f"README keys {list(data)} != {shape.__name__} {list(wire.keys(shape))}"


def test_readme_ask_json_example_has_exactly_the_answer_shape():
    example = _example(_readme_examples(), "`ask --json`")
    _same_keys(example, wire.AnswerDict)
    _same_keys(example["retrieval"], wire.RetrievalDict)
    for nested, shape in ((example["citations"], wire.CitationDict), (example["sentences"], wire.SentenceDict), (example["retrieval"]["hits"], wire.HitDict)):
        assert nested, f"the README's ask example shows no {shape.__name__}"
        for item in nested:
            _same_keys(item, shape)
    # The answer example is one the code can produce: build the same answer and compare.
    built = wire.answer(_answer(), "demo", "hybrid")
    assert {k: type(v) for k, v in built.items()} == {k: type(v) for k, v in example.items()}


@pytest.mark.parametrize(
    ("opening", "shape", "nested"),
    [
        ("`search --json`", wire.SearchDict, {"hits": wire.HitDict}),
        ("A `batch` record", wire.BatchAnswerDict, {"citations": wire.SourceDict, "sentences": wire.SentenceDict, "retrieval": wire.HitDict}),
        ("A `batch --retrieve-only` record", wire.BatchRetrievalDict, {"passages": wire.HitDict}),
    ],
)
def test_readme_search_and_batch_examples_have_exactly_their_shapes(opening, shape, nested):
    example = _example(_readme_examples(), opening)
    _same_keys(example, shape)
    for key, inner in nested.items():
        for item in example[key]:
            _same_keys(item, inner)
