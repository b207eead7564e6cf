"""Finding the passages for a question: dense, lexical, or both fused.

Hybrid mode runs FAISS (meaning) and BM25 (exact Danish terms) and fuses their
rankings with weighted reciprocal rank fusion, so that a passage both agree on rises
to the top while either alone can still contribute a candidate.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from ragcli.danish import strip_controls
from ragcli.embedding import Embedder
from ragcli.errors import UsageError
from ragcli.schema import Hit
from ragcli.store import IndexProblem
from ragcli.stores import IndexReader as Index  # either store: the local folder or PostgreSQL

Mode = Literal["dense", "lexical", "hybrid"]
MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")
# A question, not a document: e5 reads 512 tokens (about 2,000 characters of Danish) and the
# answer prompt leaves room for about as many. A pasted page used to cost 30 s of query
# embedding before the prompt was found too long, and ended a chat.
MAX_QUESTION_CHARS = 4000


def check_question(text: str) -> str:
    """The question or search text, if it can be used, in NFC (as the index's text); else one
    UsageError line saying why. A question pasted from macOS is decomposed ("å" as "a" and a
    combining ring): its words would match nothing, not even the stop words."""
    if not isinstance(text, str):
        raise UsageError(f"the question must be text, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON): no engine can read it
        raise UsageError("the question is not valid text (it holds a lone surrogate code point)") from None
    text = unicodedata.normalize("NFC", text)  # before its length is measured: NFD is longer
    # Only zero-width or control characters (U+200B, bidi marks) retrieve five arbitrary passages.
    if not strip_controls(text).strip():
        raise UsageError("the question is empty; write a question or search text")
    if len(text) > MAX_QUESTION_CHARS:
        raise UsageError(
            f"the question has {len(text):,} characters; at most {MAX_QUESTION_CHARS:,} are allowed: ask about one thing at a time"
        )
    return text


@dataclass(frozen=True)
class RetrievalParams:
    mode: Mode = "hybrid"
    k: int = 5
    candidates: int = 50  # how deep each ranker looks before fusion
    rrf_k: int = 10
    dense_weight: float = 1.0
    # BM25 is excellent when the question uses the documents' own terms and useless
    # when it rewords them. So its weight in the fusion scales with its confidence c,
    # the IDF-weighted share of the question's terms found in its top passage:
    # weight = lexical_weight * c ** lexical_confidence_power (0 turns this off: fixed weight).
    # Chosen on ../shared/eval/dev.jsonl (real PDFs) and paraphrase.jsonl (reworded questions).
    lexical_weight: float = 3.0
    lexical_confidence_power: float = 3.0
    duplicate_threshold: float = 0.9  # word-set Jaccard above which a lower hit is dropped


def check_embedder(index: Index, embedder: Embedder) -> None:
    if embedder.model_id != index.embedding_model:
        raise IndexProblem(
            f"index {index.name!r} was built with embedding model {index.embedding_model!r}, "
            f"not {embedder.model_id!r}; use the same model or re-ingest with --rebuild"
        )


def rrf_fuse(
    rankings: list[list[int]], weights: list[float], rrf_k: int
) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion: score(d) = Σ w / (rrf_k + rank), rank from 1."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (rrf_k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


_WORD = re.compile(r"\w+")


def _word_set(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def drop_near_duplicates(hits: list[Hit], threshold: float) -> list[Hit]:
    kept: list[Hit] = []
    kept_sets: list[frozenset[str]] = []
    for hit in hits:
        words = _word_set(hit.chunk.text)
        if any(len(words & other) / max(1, len(words | other)) > threshold for other in kept_sets):
            continue
        kept.append(hit)
        kept_sets.append(words)
    return kept


def lexical_confidence(index: Index, query: str, lexical: list[tuple[int, float]]) -> float:
    """IDF-weighted share of the query's terms that BM25's top passage contains (0..1)."""
    from ragcli.grounding import measure_grounding

    if not lexical:
        return 0.0
    top_id = lexical[0][0]
    chunk = index.chunks([top_id]).get(top_id)
    if chunk is None:
        return 0.0
    ranker = index.lexical
    return measure_grounding(query, [Hit(chunk, lexical[0][1])], ranker.document_frequency, len(ranker)).coverage


def retrieve(
    index: Index, query: str, params: RetrievalParams, embedder: Embedder | None = None, trace: dict | None = None
) -> list[Hit]:
    """Return the top params.k hits for query, best first. `trace` (if given) receives the mode
    and, for hybrid, the fusion details."""
    query = check_question(query)
    if trace is not None:
        trace["mode"] = params.mode
    index.refresh()  # search what the last ingest committed, also from a long-lived session
    dense: list[tuple[int, float]] = []
    lexical: list[tuple[int, float]] = []
    if params.mode in ("dense", "hybrid"):
        if embedder is None:
            raise ValueError("dense and hybrid retrieval need an embedder")
        check_embedder(index, embedder)
        dense = index.dense_search(embedder.embed_query(query), params.candidates)
    if params.mode in ("lexical", "hybrid"):
        lexical = index.lexical.search(query, params.candidates)

    dense_by_id = {cid: (rank, score) for rank, (cid, score) in enumerate(dense, start=1)}
    lexical_by_id = {cid: (rank, score) for rank, (cid, score) in enumerate(lexical, start=1)}
    if params.mode == "dense":
        ranked = dense
    elif params.mode == "lexical":
        ranked = lexical
    else:
        lexical_weight = params.lexical_weight
        if params.lexical_confidence_power > 0:
            confidence = lexical_confidence(index, query, lexical)
            lexical_weight = params.lexical_weight * confidence**params.lexical_confidence_power
            if trace is not None:
                trace["lexical_confidence"] = round(confidence, 4)
        if trace is not None:
            trace.update(dense_weight=params.dense_weight, lexical_weight=round(lexical_weight, 4), rrf_k=params.rrf_k)
        ranked = rrf_fuse(
            [[cid for cid, _ in dense], [cid for cid, _ in lexical]],
            [params.dense_weight, lexical_weight],
            params.rrf_k,
        )
    # Look a little deeper than k so that dropping duplicates still leaves k hits.
    top = ranked[: params.k * 2 + 5]
    chunks = index.chunks([cid for cid, _ in top])
    hits = []
    for cid, score in top:
        if cid not in chunks:
            continue
        d_rank, d_score = dense_by_id.get(cid, (None, None))
        l_rank, l_score = lexical_by_id.get(cid, (None, None))
        hits.append(
            Hit(
                chunk=chunks[cid], score=score, dense_score=d_score, lexical_score=l_score,
                dense_rank=d_rank, lexical_rank=l_rank,
            )
        )
    return drop_near_duplicates(hits, params.duplicate_threshold)[: params.k]
