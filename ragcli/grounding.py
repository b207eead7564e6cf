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

from ragcli.danish import numbers_in, prefix_match, question_names, question_terms, term_credit, weighted_coverage
from ragcli.lexical import analyze
from ragcli.schema import Hit

# Refuse without asking the model when the best passage covers less than this share of the
# question's weighted terms. Since the extraction model (evidence.py) weighs coverage with
# the other evidence, this gate only turns away the plainly off-topic: on the tune halves
# of eval/questions*.jsonl any gate from 0 to 0.2 gave the same decisions, 0.3 and more
# refused answerable questions the extraction model would have answered right.
DEFAULT_MIN_COVERAGE = 0.2


@dataclass
class Grounding:
    """How well the best passage covers the question."""

    terms: list[str]  # the question's content terms, stemmed
    weights: dict[str, float]  # IDF weight of each term in this index
    source: int | None  # 1-based number of the passage that covers the most
    coverage: float  # weighted share of terms found in that passage, 0..1
    missing: list[str] = field(default_factory=list)  # terms absent from that passage
    missing_numbers: list[str] = field(default_factory=list)  # numbers of the question absent from it
    missing_names: list[str] = field(default_factory=list)  # names and codes of the question absent from it

    def grounded(self, min_coverage: float, require_names: bool = True) -> bool:
        return self.coverage >= min_coverage and not self.missing_numbers and not (require_names and self.missing_names)

    def to_dict(self) -> dict:
        return {
            "terms": self.terms,
            "source": self.source,
            "coverage": round(self.coverage, 3),
            "missing": self.missing,
            "missing_numbers": self.missing_numbers,
            "missing_names": self.missing_names,
        }


def question_weights(question: str, document_frequency: Callable[[str], int], n_chunks: int) -> dict[str, float]:
    """Each content term of the question with its IDF weight in this index (rare terms weigh most)."""
    return {
        t: math.log(1 + (n_chunks - document_frequency(t) + 0.5) / (document_frequency(t) + 0.5))
        for t in question_terms(question)
    }


def measure_grounding(
    question: str, hits: Sequence[Hit], document_frequency: Callable[[str], int], n_chunks: int
) -> Grounding:
    """Score each passage by the IDF-weighted share of question terms it holds; keep the best."""
    weights = question_weights(question, document_frequency, n_chunks)
    terms = list(weights)
    total = sum(weights.values())
    numbers = numbers_in(question)
    names = question_names(question)
    best: Grounding = Grounding(terms, weights, None, 0.0, list(terms), sorted(numbers), names)
    if not terms or total <= 0:
        return best
    for number, hit in enumerate(hits, start=1):
        passage_terms = frozenset(analyze(hit.chunk.text))
        found = [t for t in terms if term_credit(t, passage_terms) > 0]
        coverage = weighted_coverage(weights, passage_terms)
        missing_numbers = sorted(numbers - numbers_in(hit.chunk.text))
        # A name may identify the document rather than the passage ("Randers", "GeoFA"): its title counts.
        named = passage_terms | frozenset(analyze(f"{hit.chunk.title} {hit.chunk.doc.replace('_', ' ')}"))
        missing_names = [n for n in names if not all(prefix_match(t, named) for t in analyze(n) if not t.isdigit())]
        rank = (not missing_numbers, not missing_names, coverage)
        if best.source is None or rank > (not best.missing_numbers, not best.missing_names, best.coverage):
            best = Grounding(
                terms, weights, number, coverage, [t for t in terms if t not in found], missing_numbers, missing_names
            )
    return best
