"""Choose the answer step's settings on one half of a question set, report on the other.

usage: python scripts/tune_answers.py --index shared [--questions eval/questions.jsonl ...]

Rows are split by a hash of their id into a "tune" half and a "test" half (stable across
runs and machines). Every setting is tried on the tune half; the one that meets the
targets best is then measured once on the test half and on any extra --report sets
(e.g. ../shared/eval/dev.jsonl). Model outputs are cached by prompt in
--cache (JSON), so thresholds that only change the decision cost no generation, and
a re-run resumes. First-token times come from real (uncached) generations only.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import ragcli.answering
from ragcli.answer_eval import answer_record, summarise
from ragcli.answering import AskParams, answer_question
from ragcli.embedding import load_embedder
from ragcli.evaluation import EvalQuestion, load_questions
from ragcli.generation import GenerationParams, LlamaBackend
from ragcli.prompting import Prompt
from ragcli.registry import default_llm_path
from ragcli.retrieval import RetrievalParams
from ragcli.store import Index

_retrieved: dict = {}
_retrieve = ragcli.answering.retrieve


def _cached_retrieve(index, question, params, embedder, trace=None):
    """Retrieval does not change with the decision settings: do it once per question and k."""
    key = (question, params)
    if key not in _retrieved:
        _retrieved[key] = _retrieve(index, question, params, embedder, trace)
    return list(_retrieved[key])


ragcli.answering.retrieve = _cached_retrieve


def split_of(row_id: str) -> str:
    return "tune" if int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


class CachingBackend:
    """The real model, with its answers remembered by prompt text (and timed when real)."""

    def __init__(self, backend: LlamaBackend, cache: Path):
        self._backend = backend
        self.name, self.n_ctx, self.chat = backend.name, backend.n_ctx, backend.chat
        self._path = cache
        self._cache: dict[str, dict] = json.loads(cache.read_text()) if cache.exists() else {}
        self.fresh = 0

    def count_tokens(self, text: str) -> int:
        return self._backend.count_tokens(text)

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[str]:
        key = hashlib.sha256(f"{params}\n{prompt.text}".encode()).hexdigest()
        if key not in self._cache:
            started = time.perf_counter()
            first = None
            pieces = []
            for piece in self._backend.stream(prompt, params):
                if first is None:
                    first = time.perf_counter() - started
                pieces.append(piece)
            self._cache[key] = {"pieces": pieces, "first_token_s": first, "prompt_tokens": prompt.n_tokens}
            self.fresh += 1
            if self.fresh % 10 == 0:
                self.save()
        yield from self._cache[key]["pieces"]

    def first_token(self, prompt_text: str, params: GenerationParams) -> float | None:
        key = hashlib.sha256(f"{params}\n{prompt_text}".encode()).hexdigest()
        return self._cache.get(key, {}).get("first_token_s")

    def save(self) -> None:
        self._path.write_text(json.dumps(self._cache, ensure_ascii=False))


class ExtractOnly:
    """No model: every generation is a refusal, so the decision is extraction or refusal."""

    name, n_ctx, chat = "extract-only", 4096, False

    def count_tokens(self, text: str) -> int:
        return len(text) // 3 + 1

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[str]:
        yield "Det fremgår ikke af dokumenterne."

    def first_token(self, prompt_text: str, params: GenerationParams) -> None:
        return None

    def save(self) -> None:
        pass


def evaluate(rows: list[EvalQuestion], index: Index, embedder, backend: CachingBackend, params: AskParams) -> dict:
    records = []
    for row in rows:
        answer = answer_question(row.question, index, embedder, backend, params)
        record = answer_record(row, answer)
        record["first_token_s"] = backend.first_token(answer.prompt, params.generation) if answer.raw_answer or record["decision"] != "refused" else None
        records.append(record)
    return {"summary": summarise(records), "records": records}


def score(summary: dict) -> float:
    """How close a setting comes to the targets (issue 16), as one number to maximise."""
    answered = summary["answered"]["precision"]
    extracted = summary["extracted"]["precision"]
    penalties = 0.0
    for value, goal in (
        (answered, 0.8), (summary["unanswerable_refused"], 0.8), (summary["token_recall"], 0.45),
        (summary["cited_on_gold"], 0.9), (extracted, 0.6),
    ):
        if value is not None and value < goal:
            penalties += goal - value
    if summary["answerable_refused"] is not None and summary["answerable_refused"] > 0.15:
        penalties += summary["answerable_refused"] - 0.15
    return (summary["token_recall"] or 0) - 2 * penalties


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="shared")
    parser.add_argument("--home", type=Path, default=Path("indexes"))
    parser.add_argument("--questions", type=Path, action="append", default=[],
                        help="question sets whose tune halves are pooled (default: eval/questions.jsonl and eval/questions_more.jsonl)")
    parser.add_argument("--report", type=Path, action="append", default=[])
    parser.add_argument("--cache", type=Path, default=Path("bench/answer_cache.json"))
    parser.add_argument("--windows", default="0,240,360,520")
    parser.add_argument("--ks", default="3,5")
    parser.add_argument("--coverages", default="0,0.2,0.3,0.46")
    parser.add_argument("--extract", default="0.25,0.3,0.35,0.4,1.01", help="extraction model confidences to try (above 1: no extraction)")
    parser.add_argument("--names", default="0", help="require question names in a passage: 1, 0 or 0,1")
    parser.add_argument("--agree", default="1", help="the model must agree with the best source sentence: 1, 0 or 0,1")
    parser.add_argument("--sources", default="3")
    parser.add_argument("--extract-only", action="store_true", help="no model: tune extraction and refusal alone")
    parser.add_argument("--defaults", action="store_true", help="no tuning: measure the shipped defaults on every half and --report set")
    parser.add_argument("--halves", default="tune,test", help="with --defaults: which halves to measure (tune, test, all)")
    parser.add_argument("--model-answers", action="store_true", help="with --defaults: trust the model's verified answers, as ask --model-answers")
    parser.add_argument("--out", type=Path, default=Path("bench/tune_answers.json"))
    args = parser.parse_args()

    sets = {str(path): load_questions(path) for path in args.questions or [Path("eval/questions.jsonl"), Path("eval/questions_more.jsonl")]}
    rows = [r for set_rows in sets.values() for r in set_rows]
    tune = [r for r in rows if split_of(r.id) == "tune"]
    test = [r for r in rows if split_of(r.id) == "test"]
    index = Index.open(args.home, args.index)
    embedder = load_embedder(index.embedding_model)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    backend = ExtractOnly() if args.extract_only else CachingBackend(LlamaBackend(default_llm_path(), n_ctx=4096), args.cache)
    print(f"{len(tune)} tune rows, {len(test)} test rows", file=sys.stderr)
    if args.defaults:
        shipped = AskParams(prefer_quote=False, model_must_agree=False) if args.model_answers else AskParams()
        report = {}
        for name, set_rows in sets.items():
            for half in args.halves.split(","):
                report[f"{name} {half}"] = evaluate(
                    [r for r in set_rows if half == "all" or split_of(r.id) == half], index, embedder, backend, shipped
                )
        for extra in args.report:
            report[str(extra)] = evaluate(load_questions(extra), index, embedder, backend, shipped)
        backend.save()
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
        print(json.dumps({k: v["summary"] for k, v in report.items()}, indent=1))
        return 0

    results = []
    try:
        for window, k in itertools.product([int(x) for x in args.windows.split(",")], [int(x) for x in args.ks.split(",")]):
            base = AskParams(retrieval=RetrievalParams(k=k), window_chars=window, min_coverage=0.0)
            evaluate(tune, index, embedder, backend, base)  # generate once with no refusal gate
            for coverage, extract, sources, names, agree in itertools.product(
                [float(x) for x in args.coverages.split(",")], [float(x) for x in args.extract.split(",")],
                [int(x) for x in args.sources.split(",")],
                [bool(int(x)) for x in args.names.split(",")], [bool(int(x)) for x in args.agree.split(",")],
            ):
                params = replace(
                    base, min_coverage=coverage, min_extract_confidence=extract, extract_fallback=extract <= 1,
                    extract_sources=sources, require_names=names,
                    model_must_agree=agree,
                )
                summary = evaluate(tune, index, embedder, backend, params)["summary"]
                setting = {"window_chars": window, "k": k, "min_coverage": coverage, "min_extract_confidence": extract,
                           "extract_sources": sources, "require_names": names,
                           "model_must_agree": agree}
                results.append({"setting": setting, "score": round(score(summary), 4), "summary": summary})
                print(json.dumps({"setting": setting, "score": results[-1]["score"], "recall": summary["token_recall"],
                                  "answered": summary["answered"], "extracted": summary["extracted"],
                                  "unans_ref": summary["unanswerable_refused"], "ans_ref": summary["answerable_refused"],
                                  "cited": summary["cited_on_gold"], "first": summary["first_token_s"]}), file=sys.stderr)
            backend.save()
    finally:
        backend.save()
    best = max(results, key=lambda r: r["score"])
    s = best["setting"]
    params = AskParams(
        retrieval=RetrievalParams(k=s["k"]), window_chars=s["window_chars"], min_coverage=s["min_coverage"],
        min_extract_confidence=s["min_extract_confidence"], extract_fallback=s["min_extract_confidence"] <= 1,
        extract_sources=s["extract_sources"], require_names=s["require_names"],
        model_must_agree=s["model_must_agree"],
    )
    report = {"best": best, "test": evaluate(test, index, embedder, backend, params)}
    for extra in args.report:
        report[str(extra)] = evaluate(load_questions(extra), index, embedder, backend, params)
    backend.save()
    args.out.write_text(json.dumps({"tried": results, **report}, ensure_ascii=False, indent=1))
    print(json.dumps({"best": best["setting"], "tune": best["summary"], "test": report["test"]["summary"],
                      **{k: v["summary"] for k, v in report.items() if k not in ("best", "test")}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
