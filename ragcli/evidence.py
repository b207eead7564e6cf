"""Evidence windows: the sentences of each retrieved chunk that bear on the question.

A small model answers a fact better from three short passages than from five whole
384-token chunks, and reads them in a fraction of the time. So each chunk is cut into
units (lines, then sentences, with character offsets into the chunk), each unit is
scored by the IDF-weighted share of the question's terms it holds, and the best units
plus their neighbours — the sentence before often names the subject, the one after
often finishes a list — are kept under a character budget. Offsets let citations,
evidence quotes and `--explain` point at the exact text the model was shown.

The same units feed extraction: when the model's answer cannot be verified, the unit
that holds what the question asks for (a number for "hvor mange", a time for
"hvornår", a name for "hvem") may be quoted instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ragcli.chunking import sentence_spans
from ragcli.danish import AnswerType, fits_type, is_furniture, new_terms, weighted_coverage
from ragcli.lexical import analyze
from ragcli.schema import Hit

SEPARATOR = " … "
MAX_UNIT_CHARS = 320  # longer units are tables or lists run together; they are cut into pieces


@dataclass(frozen=True)
class Unit:
    """A line or sentence of a chunk: chunk.text[start:end]."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Window:
    """What the model is shown of one retrieved chunk: some of its units, in document order."""

    source: int  # 1-based source number
    spans: tuple[tuple[int, int], ...]  # character offsets into the chunk's text
    text: str  # the spans' text joined with SEPARATOR
    score: float  # best unit's weighted question coverage

    def to_dict(self) -> dict:
        return {"source": self.source, "spans": [list(s) for s in self.spans], "score": round(self.score, 3)}


def _pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut an over-long unit at spaces into pieces of at most MAX_UNIT_CHARS."""
    pieces = []
    while end - start > MAX_UNIT_CHARS:
        cut = text.rfind(" ", start, start + MAX_UNIT_CHARS)
        if cut <= start:
            cut = start + MAX_UNIT_CHARS
        pieces.append((start, cut))
        start = cut + 1
    pieces.append((start, end))
    return pieces


def units(text: str) -> list[Unit]:
    """Sentences, with headings and labels on their own (chunking's splitter), never cut at a
    mere line break: a PDF line break inside "Søskende får 50 procent rabat" is not a
    sentence end, and cutting there once separated the number from its meaning."""
    found: list[Unit] = []
    for span in sentence_spans(text):
        for start, end in _pieces(text, span.start, span.end):
            raw = text[start:end]
            piece = raw.strip()
            if piece:
                lead = len(raw) - len(raw.lstrip())
                found.append(Unit(start + lead, start + lead + len(piece), re.sub(r"\s+", " ", piece)))
    return found


@lru_cache(maxsize=100_000)
def _terms(text: str) -> frozenset[str]:
    return frozenset(analyze(text))


def unit_coverage(unit_text: str, weights: dict[str, float]) -> float:
    return weighted_coverage(weights, _terms(unit_text))


def select_window(hit: Hit, source: int, weights: dict[str, float], budget_chars: int) -> Window:
    """The best-scoring units of a chunk and their neighbours, up to budget_chars, in order."""
    text = hit.chunk.text
    found = [u for u in units(text) if not is_furniture(u.text)]
    if not found:
        return Window(source, (), "", 0.0)
    scores = [unit_coverage(u.text, weights) for u in found]
    chosen: set[int] = set()
    used = 0

    def take(i: int) -> bool:
        nonlocal used
        if i in chosen or not 0 <= i < len(found):
            return True
        cost = len(found[i].text) + len(SEPARATOR)
        if used + cost > budget_chars and chosen:
            return False
        chosen.add(i)
        used += cost
        return True

    for i in sorted(range(len(found)), key=lambda i: (-scores[i], i)):
        if scores[i] <= 0 and chosen:
            break
        if not take(i):
            break
        take(i - 1)
        take(i + 1)
        if used >= budget_chars:
            break
    ordered = sorted(chosen)
    spans: list[tuple[int, int]] = []
    parts: list[str] = []
    for i in ordered:
        u = found[i]
        if spans and i - 1 in chosen:
            # Adjacent units read as running text: one span, joined as in the chunk.
            spans[-1] = (spans[-1][0], u.end)
            parts[-1] = re.sub(r"\s+", " ", text[spans[-1][0] : u.end])
        else:
            spans.append((u.start, u.end))
            parts.append(re.sub(r"\s+", " ", u.text))
    return Window(source, tuple(spans), SEPARATOR.join(parts), max(scores[i] for i in ordered))


def select_windows(hits: Sequence[Hit], weights: dict[str, float], budget_chars: int) -> list[Window]:
    return [select_window(hit, number, weights, budget_chars) for number, hit in enumerate(hits, start=1)]


@dataclass(frozen=True)
class Extract:
    source: int
    text: str
    start: int  # offsets into the chunk's text
    end: int
    coverage: float


def _introduces(text: str) -> bool:
    """A unit that announces what follows: ends with a colon, or stops mid-sentence (a list follows)."""
    stripped = text.rstrip()
    return stripped.endswith(":") or (len(stripped) > 40 and stripped[-1].isalpha() and stripped[-1].islower())


def extract_answer(
    question: str,
    kind: AnswerType,
    hits: Sequence[Hit],
    weights: dict[str, float],
    min_coverage: float,
    tainted: set[int] | frozenset[int] = frozenset(),
    max_sources: int = 3,
    context_weight: float = 0.5,
) -> Extract | None:
    """The unit that best covers the question *and* holds what it asks for, or None.

    A unit's score mixes its own coverage of the question's weighted terms with that of
    its neighbourhood (the two units before it and the one after): the sentence that
    holds an answer seldom repeats the whole question — "Der er derfor altid mindst 500
    ledige pladser" follows the sentences that name the parties and the car parks.
    A unit qualifies only if it adds something the question does not say (new terms or
    numbers), carries the asked-for kind of answer, scores at least `min_coverage`, and
    does not come from a `tainted` source (1-based numbers of passages flagged as prompt
    injection: their text is data, never an answer, and the payload often sits in the
    sentence after the flagged one).
    """
    best: tuple[float, int, int, Unit] | None = None
    for number, hit in enumerate(hits[:max_sources], start=1):
        if number in tainted:
            continue
        found = [u for u in units(hit.chunk.text) if not is_furniture(u.text)]
        own = [unit_coverage(u.text, weights) for u in found]
        for i, unit in enumerate(found):
            if len(unit.text) < 12:
                continue
            if _introduces(unit.text) and i + 1 < len(found):
                # "… værktøjer til applikationsudvikling:" — the answer is the list that follows.
                after = found[i + 1]
                unit = Unit(unit.start, after.end, f"{unit.text} {after.text}")
            if not new_terms(unit.text, question) or not fits_type(unit.text, kind, question):
                continue
            around = " ".join(u.text for u in found[max(0, i - 2) : i + 2])
            score = (1 - context_weight) * own[i] + context_weight * unit_coverage(around, weights)
            if score < min_coverage:
                continue
            candidate = (score, -number, -len(unit.text), unit)
            if best is None or candidate[:3] > best[:3]:
                best = candidate
    if best is None:
        return None
    score, negative_source, _, unit = best
    return Extract(-negative_source, unit.text, unit.start, unit.end, score)
