"""Measuring retrieval on a question set with gold pages.

The question schema is shared with other evaluation sets and accepted as is: one JSON
object a line with `id, question, doc, page, kind` and optional `hops: [{doc, page}]`.
Rows with `doc: null` (kind `unanswerable`) have no gold page; they are reported
separately with the scores retrieval gave them, which is what a refusal rule needs.

A hit is page-level: a retrieved chunk from the gold document whose page span covers
the gold page. For multi-hop rows any hop counts as a hit; `all_hops@k` says whether
every hop was found.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ragcli import wire
from ragcli.embedding import Embedder
from ragcli.errors import DataError, UsageError
from ragcli.privacy import mask_cpr, mask_hits
from ragcli.results_file import utf16_problem
from ragcli.retrieval import RetrievalParams, check_question, retrieve
from ragcli.schema import Hit
from ragcli.store import Index

CUTOFFS = (1, 5, 10)


class EvalError(DataError):
    """The question file cannot be used."""


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    doc: str | None
    page: int | None
    kind: str
    hops: tuple[tuple[str, int], ...] = ()
    answer: str | None = None  # the gold answer, for `eval --answers`

    @property
    def targets(self) -> tuple[tuple[str, int], ...]:
        if self.hops:
            return self.hops
        return ((self.doc, self.page),) if self.doc is not None and self.page is not None else ()

    @property
    def answerable(self) -> bool:
        return bool(self.targets)


@dataclass
class QuestionResult:
    id: str
    kind: str
    question: str
    rank: int | None  # 1-based rank of the first hit on a gold page, None if not in top k
    doc_rank: int | None  # 1-based rank of the first chunk from a gold document
    all_hops_rank: int | None  # rank by which every hop was found
    hops: int  # gold targets: 2 or more for multi-hop rows
    top_score: float | None
    top_dense: float | None
    top_lexical: float | None
    seconds: float
    retrieved: list[wire.RankedDict] = field(default_factory=list)


ROW_SHAPE = (
    "expected an object with 'question' (a text) and, for an answerable one, 'doc' (a file name) and"
    " 'page' (a whole number from 1), or 'hops' (a list of such {doc, page}); 'answer' and 'kind', where given, texts"
)


def _page(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(value)
    return value


def _question_row(row: object, number: int) -> EvalQuestion:
    """One row of a question file; KeyError, TypeError or ValueError where it is not one."""
    if not isinstance(row, dict) or "question" not in row:  # the question itself is checked as ask checks it
        raise TypeError(row)
    if row.get("doc") is not None and not isinstance(row["doc"], str):
        raise TypeError(row["doc"])
    if row.get("answer") is not None and not isinstance(row["answer"], str):
        raise TypeError(row["answer"])  # 5 as an answer crashed the answer eval after its generation
    if row.get("kind") is not None and not isinstance(row["kind"], str):
        raise TypeError(row["kind"])  # ["a"] crashed the report (a kind is a key)
    if row.get("doc") is None and row.get("page") is not None:
        raise KeyError("doc")  # a page of no document had been scored as an answerable miss
    hops = tuple((str(h["doc"]), _page(h["page"])) for h in row.get("hops") or ())
    return EvalQuestion(
        id=str(row.get("id", number)),
        question=row["question"],
        doc=row.get("doc"),
        page=None if row.get("page") is None else _page(row["page"]),
        kind=row.get("kind") or ("unanswerable" if row.get("doc") is None else "unknown"),
        hops=hops,
        answer=row.get("answer"),
    )


def load_questions(path: Path | str) -> list[EvalQuestion]:
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"no such question file: {path}")
    questions = []
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM is accepted, as batch does
    except UnicodeDecodeError as exc:
        raise EvalError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    problem = utf16_problem(text, str(path))
    if problem:
        raise EvalError(problem)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{path}:{number}: not JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise EvalError(f"{path}:{number}: JSON nested too deep") from None
        try:
            questions.append(_question_row(row, number))
        except (KeyError, TypeError, ValueError):
            raise EvalError(f"{path}:{number}: not a question row: {ROW_SHAPE}") from None
        try:
            check_question(questions[-1].question)  # found before the first answer, not in a long run
        except UsageError as exc:
            raise EvalError(f"{path}:{number}: {exc}") from None
    if not questions:
        raise EvalError(f"{path} holds no questions")
    return questions


def require_answers(rows: list[EvalQuestion], path: Path) -> None:
    """The answer eval scores each answerable row against its 'answer': one without it would be
    scored 0 without a word."""
    lacking = [row.id for row in rows if (row.doc is not None or row.hops) and not (row.answer or "").strip()]
    if lacking:
        shown = ", ".join(lacking[:5]) + (f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
        raise EvalError(f"{path}: --answers needs an 'answer' in every answerable row; {len(lacking)} lack one ({shown})")


def _first_rank(hits: list[Hit], match) -> int | None:
    return next((rank for rank, hit in enumerate(hits, start=1) if match(hit)), None)


def judge(question: EvalQuestion, hits: list[Hit]) -> tuple[int | None, int | None, int | None]:
    """(page rank, document rank, all-hops rank) of a question's gold targets among hits."""
    targets = question.targets
    if not targets:
        return None, None, None
    rank = _first_rank(hits, lambda h: any(h.chunk.covers(doc, page) for doc, page in targets))
    docs = {doc for doc, _ in targets}
    doc_rank = _first_rank(hits, lambda h: h.chunk.doc in docs)
    hop_ranks = [_first_rank(hits, lambda h, d=doc, p=page: h.chunk.covers(d, p)) for doc, page in targets]
    all_hops = None if any(r is None for r in hop_ranks) else max(hop_ranks)
    return rank, doc_rank, all_hops


def evaluate_question(index: Index, embedder: Embedder | None, question: EvalQuestion, params: RetrievalParams) -> QuestionResult:
    started = time.perf_counter()
    hits = retrieve(index, question.question, params, embedder)
    seconds = time.perf_counter() - started
    rank, doc_rank, all_hops = judge(question, hits)
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    lexical = [h.lexical_score for h in hits if h.lexical_score is not None]
    # What eval shows and writes has CPR numbers masked, as everything else does (eval has no --show-cpr).
    return QuestionResult(
        id=mask_cpr(question.id), kind=question.kind, question=mask_cpr(question.question), rank=rank, doc_rank=doc_rank,
        all_hops_rank=all_hops, hops=len(question.targets), top_score=hits[0].score if hits else None,
        top_dense=max(dense, default=None), top_lexical=max(lexical, default=None), seconds=seconds,
        retrieved=[wire.ranked(h) for h in mask_hits(hits)],
    )


def _rate(values: list[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def summarize(results: list[QuestionResult]) -> dict:
    """hit@1/5/10, doc hit@5, MRR@10 over answerable rows (overall and per kind), latency."""
    answerable = [r for r in results if r.kind != "unanswerable"]

    def metrics(rows: list[QuestionResult]) -> dict:
        data = {f"hit@{k}": _rate([r.rank is not None and r.rank <= k for r in rows]) for k in CUTOFFS}
        data["doc_hit@5"] = _rate([r.doc_rank is not None and r.doc_rank <= 5 for r in rows])
        data["mrr@10"] = round(statistics.fmean([1 / r.rank if r.rank and r.rank <= 10 else 0.0 for r in rows]), 4) if rows else 0.0
        data["n"] = len(rows)
        return data

    by_kind: dict[str, list[QuestionResult]] = defaultdict(list)
    for r in answerable:
        by_kind[r.kind].append(r)
    multi = [r for r in answerable if r.hops > 1]
    latencies = sorted(r.seconds for r in results)
    summary = {
        "answerable": metrics(answerable),
        "by_kind": {kind: metrics(rows) for kind, rows in sorted(by_kind.items())},
        "latency_ms": {
            "p50": round(1000 * statistics.median(latencies), 2),
            "p95": round(1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 2),
        },
        "unanswerable": [
            {"id": r.id, "question": r.question, "top_score": r.top_score, "top_dense": r.top_dense, "top_lexical": r.top_lexical}
            for r in results
            if r.kind == "unanswerable"
        ],
    }
    if multi:
        summary["multi_hop_all_hops@10"] = _rate([r.all_hops_rank is not None for r in multi])
    return summary


def missing_documents(index: Index, questions: list[EvalQuestion]) -> list[str]:
    """Gold documents the index lacks, masked as eval shows names: they can never be hit, and
    usually mean the wrong --index."""
    indexed = {d.name for d in index.documents()}
    return sorted({mask_cpr(doc) for q in questions for doc, _ in q.targets if doc not in indexed})


def run_eval(index: Index, embedder: Embedder | None, questions: list[EvalQuestion], params: RetrievalParams) -> dict:
    results = [evaluate_question(index, embedder, q, params) for q in questions]
    return {
        "index": index.name,
        "missing_documents": missing_documents(index, questions),
        "embedding_model": index.embedding_model,
        "mode": params.mode,
        "k": params.k,
        "summary": summarize(results),
        "questions": [r.__dict__ for r in results],
    }
