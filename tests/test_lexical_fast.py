"""The posting-list BM25 search gives bm25s' own scores and ranking (issue 21)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ragcli.lexical import LexicalIndex, analyze

SHARED = Path(__file__).resolve().parents[2] / "shared"

QUESTIONS = [
    "Hvornår starter skoledagen?", "Hvilken betalingsfrist bruger robotten?", "Hvad koster en plads i SFO?",
    "Hvem har ansvaret for drift af platformen?", "Hvordan sorteres affald i kommunen?",
    "affald affald kommunen drift",  # a repeated term counts twice in bm25s too
    "Hvad er GovCloud?", "brugerstyring adgang rettigheder token",
]


def _reference(index: LexicalIndex, query: str, k: int) -> list[tuple[int, float]]:
    vocab = index._retriever.vocab_dict
    terms = [t for t in analyze(query) if t in vocab]
    return index._search_bm25s(terms, k) if terms else []


def _assert_same(index: LexicalIndex, query: str, k: int) -> None:
    fast, ref = index.search(query, k), _reference(index, query, k)
    assert [s for _, s in fast] == [s for _, s in ref], query  # bit-identical float32 scores
    # Same chunks at every score; which of several tied chunks bm25s puts first is arbitrary.
    by_score = lambda hits: {s: sorted(i for i, t in hits if t == s) for s in {t for _, t in hits}}  # noqa: E731
    last = fast[-1][1] if fast else None
    for score, ids in by_score(fast).items():
        if score != last:  # ties at the cut may be a different subset of the tied chunks
            assert ids == by_score(ref)[score], query


def _corpus_texts() -> list[str]:
    questions = SHARED / "eval" / "dev.jsonl"
    rows = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["evidence"] for r in rows if r.get("evidence")] + [r["question"] for r in rows]


def test_scores_and_ranking_match_bm25s_on_real_text():
    texts = _corpus_texts()
    index = LexicalIndex.build(texts, list(range(100, 100 + len(texts))))
    questions = QUESTIONS + texts[-40:]
    for query in questions:
        for k in (1, 5, 20, len(texts) + 5):
            _assert_same(index, query, k)


def test_scores_match_bm25s_on_a_synthetic_index_with_many_ties(tmp_path):
    rng = np.random.default_rng(7)
    words = ["affald", "kommunen", "skole", "drift", "platform", "betaling", "frist", "robot", "plads", "ansvar"]
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 8))) for _ in range(3000)] + ["", "og i på"]
    index = LexicalIndex.build(texts, list(range(len(texts))))
    index.save(tmp_path / "lex")
    loaded = LexicalIndex.load(tmp_path / "lex", mmap=True)
    for query in QUESTIONS:
        for k in (1, 10, 500):
            _assert_same(loaded, query, k)
    assert loaded.search("affald", 0) == [] and loaded.search("og i på", 5) == []
    # Ties are ordered by row, so a search is repeatable.
    assert loaded.search("affald drift", 50) == loaded.search("affald drift", 50)


def test_search_scores_only_the_query_terms_postings():
    # One rare term among 50k rows: the search must cost far less than bm25s' retrieve,
    # which partitions every row (best of 10 each, so a busy machine does not decide it).
    n = 50_000
    texts = ["fjordby"] * n
    texts[12345] = "fjordby affaldssortering"
    index = LexicalIndex.build(texts, list(range(n)))

    def best(search) -> float:
        times = []
        for _ in range(10):
            started = time.perf_counter()
            hits = search()
            times.append(time.perf_counter() - started)
        assert [i for i, _ in hits] == [12345]
        return min(times)

    fast = best(lambda: index.search("affaldssortering", 5))
    reference = best(lambda: _reference(index, "affaldssortering", 5))
    assert fast * 3 < reference, (fast, reference)  # ~0.03 ms against ~25 ms (its thread pool) here
