"""Do the retrieved passages actually answer the question? Evidence for refusal.

A retrieval-score cut-off alone cannot tell an unanswerable question from an
answerable one: unanswerable questions are mostly on-topic near misses, so their
passages score high too. What separates them is whether the question's *specific*
terms — names, numbers, rare words — occur together in one passage. This module
measures that: the IDF-weighted share of the question's content terms found in the
best single passage, with every number in the question required.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ragcli.danish import numbers_in, question_terms, term_credit
from ragcli.lexical import analyze
from ragcli.schema import Hit

# Refuse when the best passage covers less than this share of the question's weighted
# terms. Calibrated on ../shared/eval/dev.jsonl: its unanswerable rows score 0.38 and 0.40,
# its answerable rows 0.47 and up (README, "Refusal").
DEFAULT_MIN_COVERAGE = 0.44


@dataclass
class Grounding:
    """How well the best passage covers the question."""

    terms: list[str]  # the question's content terms, stemmed
    weights: dict[str, float]  # IDF weight of each term in this index
    source: int | None  # 1-based number of the passage that covers the most
    coverage: float  # weighted share of terms found in that passage, 0..1
    missing: list[str] = field(default_factory=list)  # terms absent from that passage
    missing_numbers: list[str] = field(default_factory=list)  # numbers of the question absent from it

    def grounded(self, min_coverage: float) -> bool:
        return self.coverage >= min_coverage and not self.missing_numbers

    def to_dict(self) -> dict:
        return {
            "terms": self.terms,
            "source": self.source,
            "coverage": round(self.coverage, 3),
            "missing": self.missing,
            "missing_numbers": self.missing_numbers,
        }


def measure_grounding(
    question: str, hits: Sequence[Hit], document_frequency: Callable[[str], int], n_chunks: int
) -> Grounding:
    """Score each passage by the IDF-weighted share of question terms it holds; keep the best."""
    terms = question_terms(question)
    weights = {
        t: math.log(1 + (n_chunks - document_frequency(t) + 0.5) / (document_frequency(t) + 0.5)) for t in terms
    }
    total = sum(weights.values())
    numbers = numbers_in(question)
    best: Grounding = Grounding(terms, weights, None, 0.0, list(terms), sorted(numbers))
    if not terms or total <= 0:
        return best
    for number, hit in enumerate(hits, start=1):
        passage_terms = set(analyze(hit.chunk.text))
        credit = {t: term_credit(t, passage_terms) for t in terms}
        found = [t for t in terms if credit[t] > 0]
        coverage = sum(weights[t] * credit[t] for t in terms) / total
        missing_numbers = sorted(numbers - numbers_in(hit.chunk.text))
        better = (not missing_numbers, coverage) > (not best.missing_numbers, best.coverage)
        if best.source is None or better:
            best = Grounding(
                terms, weights, number, coverage, [t for t in terms if t not in found], missing_numbers
            )
    return best
