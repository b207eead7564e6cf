"""Sentence-aware, token-budgeted chunking.

A document's pages are joined into one text; the text is cut into sentence-like
units; units are packed into chunks that fit the embedding model's token budget,
with a few sentences of overlap between neighbours. Nothing is truncated silently:
a unit longer than the budget is split at word boundaries, and every finished
chunk is re-counted with the model's own tokenizer.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ragcli.schema import Chunk, Page

TokenCounter = Callable[[Sequence[str]], list[int]]

PAGE_SEPARATOR = "\n\n"

# Sentence ends: . ! ? (optionally closed by a quote or bracket) before a capital,
# digit, bullet or quote; blank lines always end a unit; so does the line break after
# a short line without end punctuation when a capital follows (a heading or a label).
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)\]]*\s+(?=[A-ZÆØÅÄÖÜ0-9\"“„•\-–(])|\n\s*\n")
_LINE = re.compile(r"[^\n]*\n?")
_HEADING_MAX_CHARS = 60
# Abbreviations that end with a period but rarely end a Danish sentence, and list numbers.
_ABBREVIATIONS = re.compile(
    r"\b(?:kl|nr|ca|jf|pkt|stk|tlf|mht|evt|inkl|ekskl|bl\.a|f\.eks|dvs|mv|osv|s|fx|ift|iht|dr|hr|fru"
    r"|maks|max|mio|mia|pga|vedr|iflg|ifm|ang|afd|m\.fl|o\.l|m\.m)\.$",
    re.IGNORECASE,
)
_LIST_NUMBER = re.compile(r"\s*\d{1,3}\.$")
_ABBREVIATION_TAIL = 12  # longer than any abbreviation above with its boundary


def _ends_with_abbreviation(text: str, span: _Span) -> bool:
    """Only the span's last characters are looked at, so merging a run of abbreviations
    (a megabyte line of "kl. 8 nr. 3 …") stays linear instead of rescanning the run."""
    if span.end - span.start <= 16 and _LIST_NUMBER.fullmatch(text, span.start, span.end):
        return True
    return _ABBREVIATIONS.search(text, max(span.start, span.end - _ABBREVIATION_TAIL), span.end) is not None


@dataclass(frozen=True)
class ChunkingParams:
    max_tokens: int = 256  # the budget for one chunk, in embedding-model tokens
    overlap_tokens: int = 48  # sentences carried over from the previous chunk, at most this many tokens

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError("max_tokens must be at least 16")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ValueError("overlap_tokens must be below half of max_tokens")


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


def join_pages(pages: Sequence[Page]) -> tuple[str, list[int], list[int]]:
    """Join page texts; return the text, each page's start offset, and page numbers."""
    parts: list[str] = []
    starts: list[int] = []
    numbers: list[int] = []
    offset = 0
    for page in pages:
        if not page.text:
            continue
        if parts:
            parts.append(PAGE_SEPARATOR)
            offset += len(PAGE_SEPARATOR)
        starts.append(offset)
        numbers.append(page.page)
        parts.append(page.text)
        offset += len(page.text)
    return "".join(parts), starts, numbers


def _split_headings(text: str, span: _Span) -> list[_Span]:
    """Cut after short lines without end punctuation that are followed by a capital."""
    pieces: list[_Span] = []
    start = span.start
    for match in _LINE.finditer(text, span.start, span.end):
        line = match.group().strip()
        line_end = match.end()
        if not line or line_end >= span.end:
            continue
        next_char = text[line_end : line_end + 1]
        if len(line) <= _HEADING_MAX_CHARS and line[-1] not in ".!?:;,-" and next_char.isupper():
            pieces.append(_Span(start, match.start() + len(match.group().rstrip())))
            start = line_end
    pieces.append(_Span(start, span.end))
    return pieces


def sentence_spans(text: str) -> list[_Span]:
    """Split text into sentence-like spans (offsets into text, whitespace trimmed)."""
    spans: list[_Span] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        spans.extend(_split_headings(text, _Span(start, match.start())))
        start = match.end()
    spans.extend(_split_headings(text, _Span(start, len(text))))
    merged: list[_Span] = []
    for span in spans:
        if span.end <= span.start or not text[span.start : span.end].strip():
            continue
        if merged and _ends_with_abbreviation(text, merged[-1]):
            merged[-1] = _Span(merged[-1].start, span.end)
        else:
            merged.append(span)
    return merged


def _split_long(text: str, span: _Span, n_tokens: int, budget: int) -> list[_Span]:
    """Split one over-long span at word boundaries into pieces of about budget tokens."""
    words = [m.span() for m in re.finditer(r"\S+", text[span.start : span.end])]
    n_pieces = -(-n_tokens // budget)  # ceil
    per_piece = max(1, -(-len(words) // n_pieces))
    pieces = []
    for i in range(0, len(words), per_piece):
        group = words[i : i + per_piece]
        pieces.append(_Span(span.start + group[0][0], span.start + group[-1][1]))
    return pieces


def chunk_document(
    pages: Sequence[Page],
    count_tokens: TokenCounter,
    params: ChunkingParams = ChunkingParams(),
) -> list[Chunk]:
    """Cut one document's pages into chunks that fit params.max_tokens."""
    if not pages:
        return []
    text, page_starts, page_numbers = join_pages(pages)
    if not text.strip():
        return []
    doc, title = pages[0].doc, pages[0].title

    # Units: sentences, with over-long ones split until each fits the budget.
    units = sentence_spans(text)
    counts = count_tokens([text[u.start : u.end] for u in units])
    fitted: list[tuple[_Span, int]] = []
    pending = list(zip(units, counts))[::-1]  # a stack, next unit last: pops are O(1)
    while pending:
        span, n = pending.pop()
        if n <= params.max_tokens:
            fitted.append((span, n))
            continue
        pieces = _split_long(text, span, n, params.max_tokens)
        if len(pieces) == 1:
            # A single unsplittable "word" (a megabyte of characters without a space): cut
            # by characters into as many pieces as its tokens need, in one pass; halving it
            # again and again re-tokenised the whole word at every level.
            n_cuts = max(2, -(-n // params.max_tokens))
            step = max(1, -(-(span.end - span.start) // n_cuts))
            pieces = [_Span(a, min(a + step, span.end)) for a in range(span.start, span.end, step)]
        piece_counts = count_tokens([text[p.start : p.end] for p in pieces])
        pending.extend(reversed(list(zip(pieces, piece_counts))))

    # Greedy packing with sentence overlap.
    groups: list[list[tuple[_Span, int]]] = []
    current: list[tuple[_Span, int]] = []
    current_tokens = 0
    for unit, n in fitted:
        if current and current_tokens + n > params.max_tokens:
            groups.append(current)
            carry: list[tuple[_Span, int]] = []
            carried = 0
            for prev in reversed(current):
                # Whole sentences only; the last one may be up to twice the overlap, since
                # long sentences would otherwise leave most neighbours without any overlap.
                allowance = params.overlap_tokens * (2 if not carry else 1)
                if carried + prev[1] > allowance or carried + prev[1] + n > params.max_tokens:
                    break
                carry.insert(0, prev)
                carried += prev[1]
            current, current_tokens = carry, carried
        current.append((unit, n))
        current_tokens += n
    if current:
        groups.append(current)

    spans = [_Span(g[0][0].start, g[-1][0].end) for g in groups]
    texts = [text[s.start : s.end] for s in spans]
    real_counts = count_tokens(texts)
    chunks: list[Chunk] = []
    for span, n in zip(spans, real_counts):
        if n > params.max_tokens:
            # Joining units can tokenize slightly differently from the parts; split in two.
            sub = _split_long(text, span, n, params.max_tokens)
            sub_counts = count_tokens([text[s.start : s.end] for s in sub])
            pairs = list(zip(sub, sub_counts))
        else:
            pairs = [(span, n)]
        for s, count in pairs:
            chunks.append(
                Chunk(
                    doc=doc,
                    title=title,
                    page_start=page_numbers[bisect_right(page_starts, s.start) - 1],
                    page_end=page_numbers[bisect_right(page_starts, s.end - 1) - 1],
                    char_start=s.start,
                    char_end=s.end,
                    text=text[s.start : s.end],
                    n_tokens=count,
                )
            )
    return chunks
