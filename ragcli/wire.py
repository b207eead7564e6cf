"""The JSON shapes ragcli gives to programs, defined once.

Every machine-readable output is built here: `ask --json` and `POST /v1/ask` (answer),
`search --json` and `POST /v1/search` (search), the `batch` records (batch_answer,
batch_retrieval), the MCP tools' structured content (tool_answer, tool_search) and the
citation lines of an OpenAI-compatible chat answer (chat_text), the evidence quotes of an
answer (evidence), an evaluation's ranked passages (ranked) and the answer record filed with
`ask --record` (answer_record and its parts), and `ingest --json` (ingest_report). Each shape is a TypedDict
whose keys are the contract: the functions build exactly those keys (tests/test_wire.py
checks it, and checks the README's examples against them), so a shape cannot drift
between the command line, the batch files and the server.

A hit, a citation and a sentence have one dict each, used by every shape that holds them;
a batch record's and a tool's short source derive from the one citation dict.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

# typing_extensions' TypedDict, not typing's: below Python 3.12 pydantic (and so the MCP SDK,
# which publishes the tool shapes as JSON schemas) reads only these, nested ones included.
from typing_extensions import TypedDict

if TYPE_CHECKING:
    from ragcli.ingest import IngestReport
    from ragcli.record import CitedSpan
    from ragcli.schema import Answer, Chunk, Citation, Hit, Sentence


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


# ---------------------------------------------------------------- parts


class ErrorBodyDict(TypedDict):
    message: str  # one line, in Danish
    type: str  # "invalid_request_error", "authentication_error", "server_busy", …
    code: int  # the HTTP status


class ErrorDict(TypedDict):
    error: ErrorBodyDict


def error(message: str, kind: str, code: int) -> ErrorDict:
    """An HTTP error, in OpenAI's shape so that its clients show the message; the same for
    every endpoint of `ragcli serve`, and for what its connections refuse before any endpoint."""
    return {"error": {"message": message, "type": kind, "code": code}}


class HitDict(TypedDict):
    doc: str
    title: str
    page_start: int
    page_end: int
    pages: str
    char_start: int
    char_end: int
    text: str
    n_tokens: int
    chunk_id: int
    score: float
    dense_score: float | None
    lexical_score: float | None
    dense_rank: int | None
    lexical_rank: int | None
    found_by: str  # "search", or "code_list" for a passage looked up in a code list


def hit(h: Hit) -> HitDict:
    """A retrieved passage: where it is (document, pages, characters), its text and its scores."""
    c = h.chunk
    return {
        "doc": c.doc,
        "title": c.title,
        "page_start": c.page_start,
        "page_end": c.page_end,
        "pages": c.pages,
        "char_start": c.char_start,
        "char_end": c.char_end,
        "text": c.text,
        "n_tokens": c.n_tokens,
        "chunk_id": c.chunk_id,
        "score": round(h.score, 6),
        "dense_score": _round(h.dense_score),
        "lexical_score": _round(h.lexical_score),
        "dense_rank": h.dense_rank,
        "lexical_rank": h.lexical_rank,
        "found_by": h.found_by,
    }


class CitationDict(TypedDict):
    number: int
    doc: str
    pages: str
    page_start: int
    page_end: int
    score: float
    snippet: str
    cited: bool  # the answer refers to this source


def supported_sources(answer: Answer) -> set[int]:
    """Source numbers that back a verified sentence of the answer (cited by the model or attached)."""
    return {n for s in answer.sentences if s.supported for n in (*s.cites, *s.attached)}


def citation(c: Citation) -> CitationDict:
    return _from_attributes(c, CitationDict, score=round(c.score, 6))


class SentenceDict(TypedDict):
    text: str
    cites: list[int]
    attached: list[int]
    supported: bool
    support: float
    missing: list[str]
    informative: bool


def sentence(s: Sentence) -> SentenceDict:
    return asdict(s)  # type: ignore[return-value] - Sentence's fields are SentenceDict's keys (tested)


class EvidenceDict(TypedDict):
    source: int  # the source's number in the prompt
    doc: str
    pages: str
    quote: str  # the source sentence that best backs the answer
    overlap: float  # share of the answer's terms the quote holds


def evidence(source: int, chunk: Chunk, quote: str, overlap: float) -> EvidenceDict:
    """A source sentence that backs the answer (citations.best_evidence), for the user to check."""
    return {"source": source, "doc": chunk.doc, "pages": chunk.pages, "quote": quote, "overlap": round(overlap, 3)}


# ---------------------------------------------------------------- ask and search


class RetrievalDict(TypedDict):
    mode: str
    hits: list[HitDict]


class AnswerDict(TypedDict):
    question: str
    answer: str
    refused: bool
    decision: str  # "answered", "extracted" or "refused" (see README: what the answer rests on)
    model: str
    index: str
    citations: list[CitationDict]
    sentences: list[SentenceDict]
    evidence: list[EvidenceDict]
    retrieval: RetrievalDict
    raw_answer: str
    model_agreed: bool  # "extracted" shown in place of a verified model answer that says the same
    grounding: dict
    windows: list[dict]
    flags: list[dict]
    prompt_tokens: int
    timings: dict[str, float]


def answer(a: Answer, index: str, mode: str) -> AnswerDict:
    """`ask --json` and `POST /v1/ask`: the answer, what it rests on, and how it came about."""
    return {
        "question": a.question,
        "answer": a.text,
        "refused": a.refused,
        "decision": a.decision,
        "model": a.model,
        "index": index,
        "citations": [citation(c) for c in a.citations],
        "sentences": [sentence(s) for s in a.sentences],
        "evidence": a.evidence,
        "retrieval": {"mode": mode, "hits": [hit(h) for h in a.hits]},
        "raw_answer": a.raw_answer,
        "model_agreed": a.model_agreed,
        "grounding": a.grounding,
        "windows": a.windows,
        "flags": a.flags,
        "prompt_tokens": a.prompt_tokens,
        "timings": a.timings,
    }


class SearchDict(TypedDict):
    query: str
    index: str
    mode: str
    hits: list[HitDict]
    seconds: float


def search(query: str, index: str, mode: str, hits: list[Hit], seconds: float) -> SearchDict:
    """`search --json` and `POST /v1/search`: the passages retrieval finds, with their scores."""
    return {"query": query, "index": index, "mode": mode, "hits": [hit(h) for h in hits], "seconds": round(seconds, 4)}


# ---------------------------------------------------------------- batch records


class SourceDict(TypedDict):
    """A source the answer cites, in short (a batch record is one line of a results file)."""

    number: int
    doc: str
    pages: str
    snippet: str
    supported: bool  # a verified sentence of the answer rests on it


def cited_sources(a: Answer) -> list[SourceDict]:
    """The cited sources: CitationDict's keys that say which and where, and whether they back the answer."""
    backed = supported_sources(a)
    return [
        {"number": d["number"], "doc": d["doc"], "pages": d["pages"], "snippet": d["snippet"], "supported": d["number"] in backed}
        for d in (citation(c) for c in a.citations if c.cited)
    ]


class BatchAnswerDict(TypedDict):
    id: str
    question: str
    answer: str
    refused: bool
    decision: str
    citations: list[SourceDict]
    sentences: list[SentenceDict]
    retrieval: list[HitDict]
    grounding: dict
    timings: dict[str, float]
    model: str


def batch_answer(record_id: str, question: str, a: Answer) -> BatchAnswerDict:
    return {
        "id": record_id,
        "question": question,
        "answer": a.text,
        "refused": a.refused,
        "decision": a.decision,
        "citations": cited_sources(a),
        "sentences": [sentence(s) for s in a.sentences],
        "retrieval": [hit(h) for h in a.hits],
        "grounding": a.grounding,
        "timings": a.timings,
        "model": a.model,
    }


class BatchErrorDict(TypedDict):
    id: str
    question: str
    error: str  # one line: why this question got no answer (its prompt over --n-ctx, …)
    decision: str  # "error"
    timings: dict[str, float]
    model: str


def batch_error(record_id: str, question: str, message: str, model: str) -> BatchErrorDict:
    return {"id": record_id, "question": question, "error": message, "decision": "error", "timings": {}, "model": model}


class BatchRetrievalDict(TypedDict):
    id: str
    question: str
    passages: list[HitDict]
    timings: dict[str, float]
    model: str


def batch_retrieval(record_id: str, question: str, hits: list[Hit], seconds: float, embedding_model: str) -> BatchRetrievalDict:
    return {
        "id": record_id,
        "question": question,
        "passages": [hit(h) for h in hits],
        "timings": {"retrieve_s": round(seconds, 4)},
        "model": embedding_model,
    }


# ---------------------------------------------------------------- tools and chat


class ToolCitationDict(TypedDict):
    number: int
    file: str
    page: str  # "4" or a span "4-5"
    quote: str  # the source sentence behind the answer, else the passage's opening
    supported: bool


class ToolAnswerDict(TypedDict):
    question: str
    answer: str
    decision: str
    refused: bool
    index: str
    citations: list[ToolCitationDict]


def tool_answer(a: Answer, index: str) -> ToolAnswerDict:
    """The MCP tool ask_documents' structured content: the answer and the sources it cites."""
    quotes: dict[int, str] = {}
    for ev in a.evidence:  # the best quote of a source comes first
        if isinstance(ev, dict) and "source" in ev:
            quotes.setdefault(ev["source"], ev["quote"])
    return {
        "question": a.question,
        "answer": a.text,
        "decision": a.decision,
        "refused": a.refused,
        "index": index,
        "citations": [
            {"number": c["number"], "file": c["doc"], "page": c["pages"], "quote": quotes.get(c["number"], c["snippet"]), "supported": c["supported"]}
            for c in cited_sources(a)
        ],
    }


class ToolPassageDict(TypedDict):
    file: str
    page: str
    score: float
    text: str


class ToolSearchDict(TypedDict):
    query: str
    index: str
    passages: list[ToolPassageDict]


def tool_search(query: str, index: str, hits: list[Hit]) -> ToolSearchDict:
    """The MCP tool search_documents' structured content: passages with file, page and text."""
    return {
        "query": query,
        "index": index,
        "passages": [{"file": h.chunk.doc, "page": h.chunk.pages, "score": round(h.score, 6), "text": h.chunk.text} for h in hits],
    }


def citation_lines(a: Answer) -> list[str]:
    """`[1] file.pdf, s. 4` for every source the answer cites, as a chat client shows them."""
    return [f"[{c.number}] {c.doc}, s. {c.pages}" for c in a.citations if c.cited]


def chat_text(a: Answer) -> str:
    """An OpenAI-compatible chat answer: the verified answer, then its sources, one a line."""
    lines = citation_lines(a)
    return a.text + ("\n\nKilder:\n" + "\n".join(lines) if lines else "")


# ---------------------------------------------------------------- evaluation


class RankedDict(TypedDict):
    """A passage an evaluation retrieved, in short: enough to see why a question missed."""

    doc: str
    pages: str
    score: float


def ranked(h: Hit) -> RankedDict:
    return {"doc": h.chunk.doc, "pages": h.chunk.pages, "score": round(h.score, 6)}


# ---------------------------------------------------------------- answer records (ask --record)
# ragcli.record decides what goes in (spans, masking, locations); the keys are defined here.
# RECORD_FORMAT names this shape: add fields, never rename them.

RECORD_FORMAT = "ragcli-record/1"


class RecordSentenceDict(TypedDict):
    text: str  # without source markers
    cites: list[int]
    attached: list[int]
    supported: bool
    score: float
    missing: list[str]


def record_sentence(s: Sentence, text: str) -> RecordSentenceDict:
    return {"text": text, "cites": s.cites, "attached": s.attached, "supported": s.supported, "score": s.support, "missing": s.missing}


class RecordSourceDict(TypedDict):
    doc: str
    path: str | None
    sha256: str | None
    size: int | None
    title: str


def record_source(doc: str, document: Any, title: str) -> RecordSourceDict:
    """A cited document as the index knows it (`document`: a store.DocumentRecord, None if unknown)."""
    return {
        "doc": doc,
        "path": getattr(document, "path", None),
        "sha256": getattr(document, "sha256", None),
        "size": getattr(document, "size", None),
        "title": title,
    }


class RecordSpanDict(TypedDict):
    sentence: int
    answer_sentence: str
    source: int
    doc: str
    sha256: str | None
    path: str | None
    page: int
    location: str  # "s. 3", "afsnit 2 (Takster)"
    passage_pages: list[int]  # [first, last] page of the cited passage
    char_start: int
    char_end: int
    quote: str
    score: float
    quote_support: float
    supported: bool


def record_span(s: CitedSpan, source: RecordSourceDict, location: str, quote: str) -> RecordSpanDict:
    return {
        "sentence": s.sentence, "answer_sentence": s.answer_sentence, "source": s.source,
        "doc": s.doc, "sha256": source["sha256"], "path": source["path"],
        "page": s.page, "location": location,
        "passage_pages": [s.page_start, s.page_end],
        "char_start": s.char_start, "char_end": s.char_end, "quote": quote,
        "score": s.score, "quote_support": s.quote_support, "supported": s.supported,
    }


class RecordHitDict(TypedDict):
    source: int
    doc: str
    pages: str
    chunk_id: int
    char_start: int
    char_end: int
    score: float
    dense_score: float | None
    lexical_score: float | None
    found_by: str
    cited: bool


def record_hit(number: int, h: Hit, cited: bool) -> RecordHitDict:
    c = h.chunk
    return {
        "source": number, "doc": c.doc, "pages": c.pages, "chunk_id": c.chunk_id,
        "char_start": c.char_start, "char_end": c.char_end,
        "score": round(h.score, 6), "dense_score": _round(h.dense_score), "lexical_score": _round(h.lexical_score),
        "found_by": h.found_by, "cited": cited,
    }


class RecordModelDict(TypedDict):
    name: str
    file: str | None
    sha256: str | None
    url: str | None


class RecordDict(TypedDict):
    format: str
    created: str
    ragcli_version: str
    question: str
    answer: str
    decision: str
    sentences: list[RecordSentenceDict]
    spans: list[RecordSpanDict]
    sources: list[RecordSourceDict]
    retrieval: list[RecordHitDict]
    prompt: str
    prompt_tokens: int
    raw_answer: str
    model: RecordModelDict
    embedding_model: str
    index: str
    settings: dict
    flags: list[dict]
    timings: dict[str, float]


def answer_record(
    a: Answer,
    *,
    created: str,
    ragcli_version: str,
    sentences: list[RecordSentenceDict],
    spans: list[RecordSpanDict],
    sources: list[RecordSourceDict],
    retrieval: list[RecordHitDict],
    model: RecordModelDict,
    embedding_model: str,
    index: str,
    settings: dict,
) -> RecordDict:
    """`ask --record FILE.json`: the answer and everything it rests on (ragcli.record fills the parts)."""
    return {
        "format": RECORD_FORMAT,
        "created": created,
        "ragcli_version": ragcli_version,
        "question": a.question,
        "answer": a.text,
        "decision": a.decision,
        "sentences": sentences,
        "spans": spans,
        "sources": sources,
        "retrieval": retrieval,
        "prompt": a.prompt,
        "prompt_tokens": a.prompt_tokens,
        "raw_answer": a.raw_answer,
        "model": model,
        "embedding_model": embedding_model,
        "index": index,
        "settings": settings,
        "flags": a.flags,
        "timings": a.timings,
    }


# ---------------------------------------------------------------- ingest


class SkippedDict(TypedDict):
    doc: str
    reason: str  # one line: why the file is not in the index


class NoteDict(TypedDict):
    doc: str
    note: str  # one line: what of a document in the index was left out (an e-mail's attachment), and why


class IngestDict(TypedDict):
    index: str
    folder: str
    documents: int  # in the index after the run
    pages: int
    chunks: int
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    skipped: list[SkippedDict]
    notes: list[NoteDict]
    ignored: dict[str, int]  # files of kinds ragcli does not read, by suffix (".xlsx": 3)
    embedded_chunks: int
    resumed_chunks: int  # vectors taken from an interrupted earlier run instead of embedded again
    seconds: float
    embed_chunks_per_second: float


def ingest_report(r: IngestReport) -> IngestDict:
    """`ingest --json`: what the run added, changed, kept, removed and skipped, and how fast it embedded."""
    return _from_attributes(
        r,
        IngestDict,
        skipped=[{"doc": s.doc, "reason": s.reason} for s in r.skipped],
        notes=[{"doc": n.doc, "note": n.note} for n in r.notes],
        seconds=round(r.seconds, 3),
        embed_chunks_per_second=round(r.chunks_per_second, 2),
    )


def keys(shape: Any) -> tuple[str, ...]:
    """The keys of a shape (a TypedDict above), in order."""
    return tuple(shape.__annotations__)


def _from_attributes(record: Any, shape: Any, **computed: Any) -> Any:
    """A shape whose keys are the record's attributes of the same names; `computed` gives the rest (rounded, renamed)."""
    return {key: computed[key] if key in computed else getattr(record, key) for key in keys(shape)}
