"""Citations checked in code, not taken on trust.

Small local models cite unreliably, so the answer is split into sentences, each [n]
marker is mapped to the numbered source, and every sentence is checked against the
source(s) it cites: how many of its content words (Danish-stemmed) and all of its
numbers occur there. A sentence with no marker gets the source that clearly supports
it attached. Sentences that no source supports are marked, never hidden.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragcli.chunking import sentence_spans
from ragcli.cleaning import flatten
from ragcli.lexical import analyze
from ragcli.prompting import REFUSAL
from ragcli.schema import Citation, Hit, Sentence

MARKER = re.compile(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)\]")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")

# A sentence counts as supported when this share of its content terms is in the source.
SUPPORT_THRESHOLD = 0.6


def parse_markers(text: str) -> list[int]:
    """Source numbers in a text, in order of first appearance: "[1]", "[2, 3]", "[1-3]"."""
    found: list[int] = []
    for match in MARKER.finditer(text):
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            if re.search(r"[–-]", part):
                start, end = (int(x) for x in re.split(r"\s*[–-]\s*", part))
                numbers = list(range(start, end + 1)) if 0 < end - start < 20 else [start, end]
            else:
                numbers = [int(part)]
            found.extend(n for n in numbers if n not in found)
    return found


def strip_markers(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", text)).strip()


def numbers_in(text: str) -> set[str]:
    """The numbers in a text, normalised ("1.850,5" and "1.850.5" compare equal; no trailing dot)."""
    return {n.replace(",", ".").rstrip(".") for n in _NUMBER.findall(text)}


def support_score(claim: str, source: str) -> float:
    """Share of the claim's content terms found in the source; 0 if a number is missing."""
    claim_numbers = numbers_in(claim)
    if claim_numbers and not claim_numbers <= numbers_in(source):
        return 0.0
    terms = set(analyze(claim))
    if not terms:
        return 1.0 if claim_numbers else 0.0
    source_terms = set(analyze(source))
    return len(terms & source_terms) / len(terms)


def is_refusal(text: str) -> bool:
    return "fremgår ikke" in text.lower() or text.strip() == REFUSAL


def split_sentences(text: str) -> list[str]:
    flat = flatten(text)
    return [flat[s.start : s.end].strip() for s in sentence_spans(flat) if flat[s.start : s.end].strip()]


def check_answer(answer: str, hits: Sequence[Hit]) -> list[Sentence]:
    """Split the answer into sentences and verify each against the numbered sources (1-based)."""
    sources = {i: hit.chunk.text for i, hit in enumerate(hits, start=1)}
    checked: list[Sentence] = []
    for raw in split_sentences(answer):
        cites = parse_markers(raw)
        claim = strip_markers(raw)
        if not claim or is_refusal(claim):
            if claim:
                checked.append(Sentence(text=raw, cites=cites, supported=True, support=1.0))
            continue
        valid = [n for n in cites if n in sources]
        scores = {n: support_score(claim, sources[n]) for n in valid}
        attached: list[int] = []
        if not scores or max(scores.values()) < SUPPORT_THRESHOLD:
            # The model cited nothing useful: attach the source that clearly supports it, if any.
            best = max(sources, key=lambda n: support_score(claim, sources[n]), default=None)
            if best is not None and best not in valid:
                best_score = support_score(claim, sources[best])
                if best_score >= SUPPORT_THRESHOLD:
                    attached.append(best)
                    scores[best] = best_score
        support = max(scores.values(), default=0.0)
        checked.append(
            Sentence(
                text=raw,
                cites=cites,
                attached=attached,
                supported=support >= SUPPORT_THRESHOLD and len(valid) == len(cites),
                support=round(support, 3),
            )
        )
    return checked


def make_citations(hits: Sequence[Hit], sentences: Sequence[Sentence], snippet_chars: int = 160) -> list[Citation]:
    used = {n for s in sentences for n in (*s.cites, *s.attached)}
    citations = []
    for number, hit in enumerate(hits, start=1):
        snippet = flatten(hit.chunk.text)
        if len(snippet) > snippet_chars:
            snippet = snippet[:snippet_chars].rsplit(" ", 1)[0] + " …"
        citations.append(
            Citation(
                number=number,
                doc=hit.chunk.doc,
                pages=hit.chunk.pages,
                page_start=hit.chunk.page_start,
                page_end=hit.chunk.page_end,
                score=hit.score,
                snippet=snippet,
                cited=number in used,
            )
        )
    return citations


def best_evidence(answer: str, hits: Sequence[Hit], sentences: Sequence[Sentence], limit: int = 2) -> list[dict]:
    """The source sentences that best back the answer, for the user to check at a glance."""
    numbers = sorted({n for s in sentences for n in (*s.cites, *s.attached) if 0 < n <= len(hits)})
    if not numbers:
        return []
    claim_terms = set(analyze(strip_markers(answer)))
    if not claim_terms:
        return []
    candidates = []
    for n in numbers:
        for sentence in split_sentences(hits[n - 1].chunk.text):
            terms = set(analyze(sentence))
            if not terms:
                continue
            overlap = len(claim_terms & terms) / len(claim_terms)
            if overlap > 0:
                candidates.append((overlap, n, sentence))
    candidates.sort(key=lambda c: -c[0])
    evidence = []
    for overlap, n, sentence in candidates[:limit]:
        chunk = hits[n - 1].chunk
        evidence.append(
            {"source": n, "doc": chunk.doc, "pages": chunk.pages, "quote": sentence, "overlap": round(overlap, 3)}
        )
    return evidence
