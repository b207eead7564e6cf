"""Fit the extraction model (ragcli/evidence.py) on the tune halves; report on the test halves.

usage: python scripts/fit_extraction.py --index shared [--questions eval/questions.jsonl ...]
                                        [--report ../shared/eval/dev.jsonl] [--keep-candidate-model]

For every question: retrieve (k=5), list the candidate sentences of the three best passages
exactly as ask does (`evidence.candidates`), score each against the question with the
index's embedding model, and label it good when it holds at least half of the gold answer's
terms. A logistic model (L2, C=1, fitted by Newton's method — no extra dependency) is fitted
on the tune halves' candidates, with and without the similarity features.

A second logistic model, fitted on the tune halves' questions, decides whether the likeliest
candidate is quoted at all: its inputs are that candidate's log-odds and how many candidates
the passages hold; its label, whether the question is answerable. The quoting threshold on
it is the one with the fewest answerable questions refused among those that refuse at least
0.8 of the unanswerable ones on the tune halves (issue 16's target).

Prints the weights to paste into evidence.py and the measures on every part.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from ragcli.answer_eval import token_recall
from ragcli.answering import similarity_to
from ragcli.danish import answer_type
from ragcli.embedding import load_embedder
from ragcli.evaluation import load_questions
from ragcli.evidence import CANDIDATES_CAP, WITH_SIMILARITY, WORDS_ONLY, candidates, features
from ragcli.grounding import measure_grounding
from ragcli.retrieval import RetrievalParams, retrieve
from ragcli.store import Index


def split_of(row_id: str) -> str:
    return "tune" if int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


def collect(rows, index, embedder) -> list[dict]:
    lexical = index.lexical
    questions = []
    for row in rows:
        hits = retrieve(index, row.question, RetrievalParams(k=5), embedder)
        grounding = measure_grounding(row.question, hits, lexical.document_frequency, len(lexical))
        found = candidates(row.question, answer_type(row.question), hits, grounding.weights)
        similarity = similarity_to(row.question, embedder)
        if similarity and found:
            found = [replace(c, similarity=s) for c, s in zip(found, similarity([c.text for c in found]))]
        questions.append({
            "answerable": row.answerable,
            "x": [features(c, grounding.coverage) for c in found],
            "x_words": [features(replace(c, similarity=None), grounding.coverage) for c in found],
            "good": [bool(row.answer) and token_recall(c.text, row.answer) >= 0.5 for c in found],
            "recall": [token_recall(c.text, row.answer) if row.answer else 0.0 for c in found],
        })
    return questions


def fit(X: np.ndarray, y: np.ndarray, c: float = 1.0, steps: int = 50) -> tuple[np.ndarray, float]:
    """L2-penalised logistic regression (the intercept unpenalised), by Newton's method."""
    A = np.hstack([X, np.ones((len(X), 1))])
    w = np.zeros(A.shape[1])
    penalty = np.eye(A.shape[1]) / c
    penalty[-1, -1] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-A @ w))
        gradient = A.T @ (p - y) + penalty @ w
        hessian = A.T @ (A * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def best_candidate(q: dict, names, weights, bias, key) -> tuple[float, bool, float] | None:
    """The likeliest candidate of a question: (probability, good, gold recall)."""
    best = None
    for values, is_good, r in zip(q[key], q["good"], q["recall"]):
        z = bias + sum(weights[i] * values[n] for i, n in enumerate(names))
        p = 1 / (1 + np.exp(-z))
        if best is None or p > best[0]:
            best = (p, is_good, r)
    return best


def answered_inputs(probability: float, n_candidates: int) -> list[float]:
    """As evidence.answered_probability reads them."""
    return [math.log(probability / (1 - probability)), min(n_candidates, CANDIDATES_CAP) / CANDIDATES_CAP]


def measure(questions, names, weights, bias, threshold, key, answered=None) -> dict:
    """The answer measures when the likeliest candidate is quoted at `threshold`: on its own
    probability, or with `answered` (weights, bias) on the second stage's."""
    answerable = sum(q["answerable"] for q in questions)
    unanswerable = len(questions) - answerable
    answered_n = good = refused_answerable = refused_unanswerable = 0
    recall = 0.0
    for q in questions:
        best = best_candidate(q, names, weights, bias, key)
        score = best[0] if best else 0.0
        if best is not None and answered is not None:
            z = answered[1] + float(np.dot(answered[0], answered_inputs(best[0], len(q[key]))))
            score = 1 / (1 + np.exp(-z))
        if best is None or score < threshold:
            refused_answerable += q["answerable"]
            refused_unanswerable += not q["answerable"]
            continue
        answered_n += 1
        if q["answerable"]:
            good += best[1]
            recall += best[2]
    return {
        "token_recall": round(recall / max(answerable, 1), 3),
        "precision": round(good / max(answered_n, 1), 3),
        "answerable_refused": round(refused_answerable / max(answerable, 1), 3),
        "unanswerable_refused": round(refused_unanswerable / max(unanswerable, 1), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="shared")
    parser.add_argument("--home", type=Path, default=Path("indexes"))
    parser.add_argument("--questions", type=Path, action="append", default=[])
    parser.add_argument("--report", type=Path, action="append", default=[])
    parser.add_argument("--keep-candidate-model", action="store_true",
                        help="fit the second stage on the shipped candidate weights instead of refitting them")
    args = parser.parse_args()

    index = Index.open(args.home, args.index)
    embedder = load_embedder(index.embedding_model)
    parts: dict[str, list[dict]] = {}
    for path in args.questions or [Path("eval/questions.jsonl"), Path("eval/questions_more.jsonl"), Path("eval/questions_real.jsonl")]:
        rows = load_questions(path)
        for half in ("tune", "test"):
            parts[f"{path} {half}"] = collect([r for r in rows if split_of(r.id) == half], index, embedder)
    for path in args.report:
        parts[str(path)] = collect(load_questions(path), index, embedder)
    tune = [q for name, qs in parts.items() if name.endswith(" tune") for q in qs]

    out = {}
    for label, model, key in (("WITH_SIMILARITY", WITH_SIMILARITY, "x"), ("WORDS_ONLY", WORDS_ONLY, "x_words")):
        names = list(model.weights)
        X = np.array([[v[n] for n in names] for q in tune for v in q[key]])
        y = np.array([g for q in tune for g in q["good"]], dtype=float)
        if args.keep_candidate_model:
            weights, bias = np.array([model.weights[n] for n in names]), model.bias
        else:
            weights, bias = fit(X, y)
        # The second stage, on questions: the likeliest candidate's log-odds and the number of candidates.
        asked = [q for q in tune if q[key]]
        A = np.array([answered_inputs(best_candidate(q, names, weights, bias, key)[0], len(q[key])) for q in asked])
        answered = fit(A, np.array([float(q["answerable"]) for q in asked]))
        thresholds = np.arange(0.3, 0.95, 0.005)
        measured = [(t, measure(tune, names, weights, bias, t, key, answered)) for t in thresholds]
        meeting = [(t, m) for t, m in measured if m["unanswerable_refused"] >= 0.8] or measured[-1:]
        threshold = min(meeting, key=lambda tm: (tm[1]["answerable_refused"], -tm[0]))[0]
        out[label] = {
            "weights": dict(zip(names, np.round(weights, 4).tolist())), "bias": round(bias, 4),
            "answered_weights": np.round(answered[0], 4).tolist(), "answered_bias": round(answered[1], 4),
            "min_confidence": round(float(threshold), 3), "candidates": len(y), "questions": len(tune),
            "parts": {name: measure(qs, names, weights, bias, threshold, key, answered) for name, qs in parts.items()},
        }
    print(json.dumps(out, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
