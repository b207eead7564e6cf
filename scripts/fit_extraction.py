"""Fit the extraction model (ragcli/evidence.py) on the tune halves; report on the test halves.

usage: python scripts/fit_extraction.py --index shared [--questions eval/questions.jsonl ...]
                                        [--report ../shared/eval/dev.jsonl]

For every question: retrieve (k=5), list the candidate sentences of the three best passages
exactly as ask does (`evidence.candidates`), score each against the question with the
index's embedding model, and label it good when it holds at least half of the gold answer's
terms. A logistic model (L2, C=1, fitted by Newton's method — no extra dependency) is fitted
on the tune halves' candidates, with and without the similarity features; the quoting
threshold is the one that comes closest to the answer targets (issue 16) on the tune
halves. Prints the weights to paste into evidence.py and the measures on every part.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from ragcli.answer_eval import token_recall
from ragcli.answering import similarity_to
from ragcli.danish import answer_type
from ragcli.embedding import load_embedder
from ragcli.evaluation import load_questions
from ragcli.evidence import WITH_SIMILARITY, WORDS_ONLY, candidates, features
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


def measure(questions, names, weights, bias, threshold, key) -> dict:
    answerable = sum(q["answerable"] for q in questions)
    unanswerable = len(questions) - answerable
    answered = good = refused_answerable = refused_unanswerable = 0
    recall = 0.0
    for q in questions:
        best = None
        for values, is_good, r in zip(q[key], q["good"], q["recall"]):
            z = bias + sum(weights[i] * values[n] for i, n in enumerate(names))
            p = 1 / (1 + np.exp(-z))
            if best is None or p > best[0]:
                best = (p, is_good, r)
        if best is None or best[0] < threshold:
            refused_answerable += q["answerable"]
            refused_unanswerable += not q["answerable"]
            continue
        answered += 1
        if q["answerable"]:
            good += best[1]
            recall += best[2]
    return {
        "token_recall": round(recall / max(answerable, 1), 3),
        "precision": round(good / max(answered, 1), 3),
        "answerable_refused": round(refused_answerable / max(answerable, 1), 3),
        "unanswerable_refused": round(refused_unanswerable / max(unanswerable, 1), 3),
    }


def closeness(m: dict) -> float:
    """As scripts/tune_answers.py's score: recall, minus twice every shortfall from the targets."""
    shortfall = sum(max(0.0, goal - m[k]) for k, goal in (("precision", 0.6), ("unanswerable_refused", 0.8), ("token_recall", 0.45)))
    shortfall += max(0.0, m["answerable_refused"] - 0.15)
    return m["token_recall"] - 2 * shortfall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="shared")
    parser.add_argument("--home", type=Path, default=Path("indexes"))
    parser.add_argument("--questions", type=Path, action="append", default=[])
    parser.add_argument("--report", type=Path, action="append", default=[])
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
        weights, bias = fit(X, y)
        thresholds = np.arange(0.1, 0.6, 0.025)
        threshold = max(thresholds, key=lambda t: closeness(measure(tune, names, weights, bias, t, key)))
        out[label] = {
            "weights": dict(zip(names, np.round(weights, 4).tolist())), "bias": round(bias, 4),
            "min_confidence": round(float(threshold), 3), "candidates": len(y), "questions": len(tune),
            "parts": {name: measure(qs, names, weights, bias, threshold, key) for name, qs in parts.items()},
        }
    print(json.dumps(out, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
