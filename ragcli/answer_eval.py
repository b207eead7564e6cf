"""Measuring answers, not just retrieval: `ragcli eval --answers QUESTIONS.jsonl`.

Each row goes through the whole ask pipeline; its record says what was decided, how
much of the gold answer the answer holds, and whether a cited source lies on a gold
page. The summary gives the measures the answer step is judged by:

- token recall: share of the gold answer's content terms (Danish-stemmed, stop words
  out, numbers kept) found in the answer; a refusal holds none of it;
- "good" answer: token recall ≥ 0.5; precision of a decision: its good share (an answer
  to an unanswerable question is never good);
- refusal rates on answerable and on unanswerable rows;
- cited-on-gold-page rate over answers that cite something;
- first-token and total time, p50 and p95.

Records are appended to a JSONL file as they finish, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ragcli.citations import MARKER
from ragcli.evaluation import EvalQuestion
from ragcli.lexical import analyze
from ragcli.privacy import mask_cpr
from ragcli.results_file import EVAL_KEYS, cut_torn_line, match_records, read_records
from ragcli.schema import Answer

GOOD_RECALL = 0.5


def answer_terms(text: str) -> list[str]:
    """Content terms of an answer or gold answer: source markers dropped, stemmed, stop words out."""
    return analyze(MARKER.sub(" ", text))


def token_recall(answer: str, gold: str) -> float:
    gold_terms = set(answer_terms(gold))
    if not gold_terms:
        return 0.0
    return len(gold_terms & set(answer_terms(answer))) / len(gold_terms)


def answer_record(row: EvalQuestion, answer: Answer) -> dict:
    answered = answer.decision in ("answered", "extracted", "unsupported")
    cited = sorted({n for s in answer.sentences for n in (*s.cites, *s.attached) if 0 < n <= len(answer.hits)})
    cited_on_gold = None
    if answered and cited and row.answerable:
        # the answer's file names are masked as it shows them ("sag_[skjult].pdf"), so the gold's are too
        cited_on_gold = any(
            answer.hits[n - 1].chunk.covers(shown, page)
            for n in cited for doc, page in row.targets for shown in {doc, mask_cpr(doc)}
        )
    recall = token_recall(answer.text, row.answer) if (answered and row.answer) else 0.0
    return {
        "id": mask_cpr(row.id),
        "kind": row.kind,
        "question": mask_cpr(row.question),  # as the answer masks them (eval has no --show-cpr)
        "answerable": row.answerable,
        "gold": mask_cpr(row.answer) if row.answer else row.answer,
        "decision": answer.decision,
        "answer": answer.text,
        "raw_answer": answer.raw_answer,
        "recall": round(recall, 4),
        "cited": [f"{answer.hits[n - 1].chunk.doc}:{answer.hits[n - 1].chunk.pages}" for n in cited],
        "cited_on_gold": cited_on_gold,
        "coverage": answer.grounding.get("coverage"),
        "prompt_tokens": answer.prompt_tokens,
        "first_token_s": answer.timings.get("first_token_s"),
        "total_s": answer.timings.get("total_s"),
    }


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))], 3)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def summarise(records: Sequence[dict]) -> dict:
    """The answer-step measures over a set of records (see the module docstring)."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]

    def good(r: dict) -> bool:
        return r["answerable"] and r["recall"] >= GOOD_RECALL

    def decision_precision(decision: str) -> dict:
        chosen = [r for r in records if r["decision"] == decision]
        return {"n": len(chosen), "good": sum(good(r) for r in chosen), "precision": _share(sum(good(r) for r in chosen), len(chosen))}

    citing = [r for r in answerable if r["cited_on_gold"] is not None]
    first = [r["first_token_s"] for r in records if r.get("first_token_s") is not None]
    total = [r["total_s"] for r in records if r.get("total_s") is not None]
    return {
        "n": len(records),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "token_recall": round(statistics.fmean(r["recall"] for r in answerable), 3) if answerable else None,
        "good_share": _share(sum(good(r) for r in answerable), len(answerable)),
        "answered": decision_precision("answered"),
        "extracted": decision_precision("extracted"),
        "unsupported": decision_precision("unsupported"),
        "unanswerable_refused": _share(sum(r["decision"] == "refused" for r in unanswerable), len(unanswerable)),
        "answerable_refused": _share(sum(r["decision"] == "refused" for r in answerable), len(answerable)),
        "cited_on_gold": _share(sum(bool(r["cited_on_gold"]) for r in citing), len(citing)),
        "first_token_s": {"p50": _percentile(first, 0.5), "p95": _percentile(first, 0.95)},
        "total_s": {"p50": _percentile(total, 0.5), "p95": _percentile(total, 0.95)},
    }


def summarise_by_kind(records: Sequence[dict]) -> dict[str, dict]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[r["kind"]].append(r)
    return {kind: summarise(rows) for kind, rows in sorted(groups.items())}


def done_records(path: Path | None) -> list[dict]:
    """Records already written to `path` (a torn last line is ignored and will be redone; a
    file that is not eval's results is refused)."""
    return [] if path is None else read_records(path, keys=EVAL_KEYS)


def run_answer_eval(
    rows: Iterable[EvalQuestion],
    ask: Callable[[str], Answer],
    out: Path | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Ask every row (skipping those already in `out`), append records to `out`, return all records."""
    rows = list(rows)
    # before anything is asked or written (ids and questions are written masked)
    previous = match_records(str(out), [(r.id, r.question) for r in rows], [(str(r["id"]), str(r["question"]), r) for r in done_records(out)])
    records: list[dict] = []
    if out is not None and out.exists():
        cut_torn_line(out)  # else the first new record would be glued to the torn one
    handle = out.open("a", encoding="utf-8") if out is not None else None
    try:
        for row, done in zip(rows, previous):
            if done is not None:
                records.append(done)
                continue
            record = answer_record(row, ask(row.question))
            records.append(record)
            if handle is not None:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                handle.flush()
            if on_record:
                on_record(record)
    finally:
        if handle is not None:
            handle.close()
    return records
