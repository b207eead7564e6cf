"""Citations checked in code, not taken on trust.

Small local models cite unreliably, so the answer is split into sentences, each [n]
marker is mapped to the numbered source, and every sentence is checked against the
source(s) it cites: how many of its content words (Danish-stemmed) and all of its
numbers occur there. A sentence with no marker gets the source that clearly supports
it attached. Sentences that no source supports are marked, never hidden.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from ragcli import wire
from ragcli.cleaning import flatten
from ragcli.danish import is_refusal, names_in, new_terms, numbers_in, prefix_match, split_sentences
from ragcli.lexical import analyze
from ragcli.schema import Citation, Hit, Sentence

MARKER = re.compile(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)\]")

# A sentence counts as supported when this share of its content terms is in the source
# (and every number, name and rare term of it is: see `support`).
SUPPORT_THRESHOLD = 0.6

RarityTest = Callable[[str], bool]

# Evidence lists a second source sentence that holds at least this share of what the best holds
# of the answer's terms (a two-part quote's parts hold 0.75 and 0.44 of it; a sentence sharing
# one word with a one-sentence answer, 0.1).
EVIDENCE_SHARE = 0.4
EVIDENCE_OWN_SHARE = 0.6


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


def _never_rare(term: str) -> bool:  # noqa: ARG001 - the default when no index statistics are at hand
    return False


def support(claim: str, source: str, is_rare: RarityTest = _never_rare) -> tuple[float, list[str]]:
    """Share of the claim's content terms found in the source (0 if it lacks a specific), and the specifics it lacks.

    Specifics must all be there, whatever the share of the rest: every number, every
    name (acronyms, codes, capitalised words inside the sentence) and every rare term
    of the index. Three words of five right around the wrong organisation's name is a
    wrong sentence, not 60 % of a right one.
    """
    source_terms = set(analyze(source))
    source_numbers = numbers_in(source)
    missing = sorted(n for n in numbers_in(claim) if n not in source_numbers)
    for name in names_in(claim):
        name_terms = [t for t in analyze(name) if not t.isdigit()]
        if name_terms and not all(prefix_match(t, source_terms) for t in name_terms):
            missing.append(name)
    terms = [t for t in dict.fromkeys(analyze(claim)) if not t.isdigit()]
    found = [t for t in terms if prefix_match(t, source_terms)]
    missing += [t for t in terms if t not in found and is_rare(t)]
    if missing:
        return 0.0, missing
    if not terms:
        return (1.0 if numbers_in(claim) else 0.0), missing
    return len(found) / len(terms), missing


def check_answer(
    answer: str, sources: Mapping[int, str], question: str = "", is_rare: RarityTest = _never_rare
) -> list[Sentence]:
    """Split the answer into sentences and verify each against the numbered sources (1-based).

    `sources` holds what the model was shown of each source (its evidence window). A
    sentence is supported when a source it cites — or, if it cites none that does, the
    one source that does — holds its specifics and enough of its terms. It is
    informative when it adds something the question does not already say.
    """
    checked: list[Sentence] = []
    for raw in split_sentences(answer):
        cites = parse_markers(raw)
        claim = strip_markers(raw)
        if not claim or is_refusal(claim):
            if claim:
                checked.append(Sentence(text=raw, cites=cites, supported=True, support=1.0))
            continue
        valid = [n for n in cites if n in sources]
        results = {n: support(claim, sources[n], is_rare) for n in valid}

        def passes(n: int, results: dict[int, tuple[float, list[str]]] = results) -> bool:
            share, missing = results[n]
            return share >= SUPPORT_THRESHOLD and not missing

        attached: list[int] = []
        if not any(passes(n) for n in valid):
            # The model cited nothing that holds the sentence: attach the source that does, if any.
            for n in sorted(set(sources) - set(valid)):
                results[n] = support(claim, sources[n], is_rare)
            backing = [n for n in results if n not in valid and passes(n)]
            if backing:
                attached.append(max(backing, key=lambda n: (results[n][0], -n)))
        best = [n for n in (*valid, *attached) if passes(n)]
        considered = best or list(results)
        share = max((results[n][0] for n in considered), default=0.0)
        missing = min((results[n][1] for n in considered), key=len, default=[])
        checked.append(
            Sentence(
                text=raw,
                cites=cites,
                attached=attached,
                supported=bool(best) and len(valid) == len(cites),
                support=round(share, 3),
                missing=list(missing),
                informative=bool(new_terms(claim, question)) if question else True,
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


def best_evidence(answer: str, hits: Sequence[Hit], sentences: Sequence[Sentence], limit: int = 2) -> list[wire.EvidenceDict]:
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
                candidates.append((overlap, len(claim_terms & terms) / len(terms), n, sentence))
    candidates.sort(key=lambda c: -c[0])
    # A second sentence only where it backs a good part of the answer too, or the answer holds
    # most of it (a short second answer sentence): one sharing a word or two ("plads") with a
    # one-sentence quote is not what the answer rests on.
    best = candidates[0][0] if candidates else 0.0
    kept = [c for c in candidates[:limit] if c[0] >= EVIDENCE_SHARE * best or c[1] >= EVIDENCE_OWN_SHARE]
    return [wire.evidence(n, hits[n - 1].chunk, sentence, overlap) for overlap, _, n, sentence in kept]
