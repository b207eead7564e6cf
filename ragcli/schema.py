"""Typed records passed between the pipeline stages.

Loading yields Pages, chunking turns Pages into Chunks, retrieval turns a query into
Hits, and generation plus citation checking turn Hits into an Answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Page:
    """One page of text from a source document (1-based page number)."""

    doc: str  # document name as shown to users (path relative to the ingested folder)
    path: str  # absolute path at ingest time
    page: int
    text: str
    title: str = ""


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, sized for the embedding model.

    Offsets are into the document's cleaned text (pages joined with blank lines), so a
    chunk can be traced back to the exact characters it was made from.
    """

    doc: str
    title: str
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    text: str
    n_tokens: int
    chunk_id: int = -1

    @property
    def pages(self) -> str:
        if self.page_start == self.page_end:
            return str(self.page_start)
        return f"{self.page_start}-{self.page_end}"

    def covers(self, doc: str, page: int) -> bool:
        return self.doc == doc and self.page_start <= page <= self.page_end


@dataclass
class Hit:
    """A retrieved chunk with the scores that put it there."""

    chunk: Chunk
    score: float  # the score used for ranking (fused in hybrid mode)
    dense_score: float | None = None
    lexical_score: float | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None
    # "search": ranked by retrieval; "code_list": looked up for a question about a code list's
    # row, which shares next to no words with it (ragcli.code_lists.look_up)
    found_by: str = "search"

    def to_dict(self) -> dict:
        """The hit's JSON shape, as every output shows it (defined in ragcli.wire)."""
        from ragcli.wire import hit

        return dict(hit(self))


@dataclass
class Citation:
    """A numbered source shown to the model and the user: [number] → file and page(s)."""

    number: int
    doc: str
    pages: str
    page_start: int
    page_end: int
    score: float
    snippet: str
    cited: bool = False  # did the answer refer to this source?


@dataclass
class Sentence:
    """One sentence of the generated answer and what it rests on."""

    text: str
    cites: list[int] = field(default_factory=list)  # source numbers the model wrote
    attached: list[int] = field(default_factory=list)  # source numbers added by the checker
    supported: bool = False
    support: float = 0.0  # best support score among cited/attached sources
    missing: list[str] = field(default_factory=list)  # numbers, names, rare terms the source lacks
    informative: bool = True  # adds something the question does not already say


@dataclass
class Answer:
    question: str
    text: str
    refused: bool
    citations: list[Citation]
    sentences: list[Sentence]
    hits: list[Hit]
    model: str
    prompt: str
    prompt_tokens: int
    timings: dict[str, float] = field(default_factory=dict)
    evidence: list[dict] = field(default_factory=list)
    # How the answer came about: "answered" (the model's answer, every sentence verified
    # and one that adds the asked-for information), "extracted" (a source sentence that
    # holds the asked-for information is quoted: the model's answer could not be verified,
    # or it agrees with the quote, which then says all it says — see model_agreed), or
    # "refused" (neither; the closest passages are still shown).
    decision: str = "answered"
    raw_answer: str = ""  # what the model wrote, before any decision
    grounding: dict = field(default_factory=dict)
    flags: list[dict] = field(default_factory=list)  # guardrail findings (input, passages, output)
    retrieval_trace: dict = field(default_factory=dict)  # fusion weights and lexical confidence
    temperature: float = 0.0
    windows: list[dict] = field(default_factory=list)  # what the model was shown of each source (offsets)
    model_agreed: bool = False  # "extracted" in place of a verified model answer that says the same

    @property
    def answer(self) -> str:
        """The answer's text (`text`), under the name the JSON shapes use."""
        return self.text
