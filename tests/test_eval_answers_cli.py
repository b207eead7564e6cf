"""`ragcli eval --answers` through the real command line, with the real default model."""

from __future__ import annotations

import json

import pytest
from test_cli import GOLD, QUESTION, cli_home, ragcli  # noqa: F401 - cli_home is a fixture

pytestmark = pytest.mark.slow


def test_eval_answers_measures_and_resumes(cli_home, tmp_path):  # noqa: F811
    questions = tmp_path / "q.jsonl"
    rows = [
        {"id": "p", "question": QUESTION, "doc": GOLD[0], "page": GOLD[1], "answer": "PRODUCTION", "kind": "factual"},
        {"id": "u", "question": "Hvor mange ansatte har Digitaliseringsstyrelsen?", "doc": None, "page": None, "kind": "unanswerable"},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "records.jsonl"
    result = ragcli("eval", str(questions), "--index", "kommune", "--answers", "--out", str(out), "--json", home=cli_home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    summary = report["summary"]
    assert summary["n"] == 2 and summary["answerable"] == 1 and summary["unanswerable"] == 1
    assert summary["unanswerable_refused"] == 1.0  # nobody in these documents counts the agency's staff
    [record] = [r for r in report["records"] if r["id"] == "p"]
    assert record["decision"] in ("answered", "extracted", "refused")
    if record["decision"] != "refused":
        assert record["cited_on_gold"] is True
    assert len(out.read_text().splitlines()) == 2
    again = ragcli("eval", str(questions), "--index", "kommune", "--answers", "--out", str(out), "--json", home=cli_home)
    assert again.returncode == 0
    assert len(out.read_text().splitlines()) == 2  # nothing asked twice
    assert json.loads(again.stdout)["summary"] == summary
