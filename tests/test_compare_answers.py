"""scripts/compare_answers.py: row counts that a table of means hides, on hand-made reports."""

import json
import subprocess
import sys

from conftest import REPO


def _row(id_, answerable, decision, recall, answer):
    return {"id": id_, "question": f"Spørgsmål {id_}?", "answerable": answerable, "decision": decision,
            "recall": recall, "answer": answer}


def _report(rows_test, rows_tune, recall_test):
    summary = {"token_recall": recall_test, "extracted": {"n": 2, "good": 1, "precision": 0.5}}
    return {
        "eval/q.jsonl tune": {"summary": {"token_recall": 0.5, "extracted": {"n": 2, "good": 1, "precision": 0.5}}, "records": rows_tune},
        "eval/q.jsonl test": {"summary": summary, "records": rows_test},
    }


def test_gains_and_losses_are_counted_per_half_and_rows_listed(tmp_path):
    # One answer gains (0 → 1), one loses (1 → 0.5): the mean does not move, the counts do.
    before = _report(
        [_row("a", True, "extracted", 0.0, "Forkert [1]"), _row("b", True, "extracted", 1.0, "Rigtigt [1]"),
         _row("c", False, "extracted", 0.0, "Et svar [1]")],
        [_row("d", False, "refused", None, "Det fremgår ikke af dokumenterne.")],
        0.5,
    )
    after = _report(
        [_row("a", True, "extracted", 1.0, "Rigtigt nu [1]"), _row("b", True, "extracted", 0.5, "Halvt [1]"),
         _row("c", False, "refused", None, "Det fremgår ikke af dokumenterne.")],
        [_row("d", False, "extracted", 0.0, "Noget [2]")],
        0.5,
    )
    (tmp_path / "before.json").write_text(json.dumps(before))
    (tmp_path / "after.json").write_text(json.dumps(after))
    done = subprocess.run(
        [sys.executable, "scripts/compare_answers.py", str(tmp_path / "before.json"), str(tmp_path / "after.json"), "--rows"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "eval/q.jsonl test: no measure moved" in out
    assert "test: answerable rows gained 1 (+1.0), lost 1 (−0.5); unanswerable newly refused 1, newly answered 0" in out
    assert "tune: answerable rows gained 0 (+0.0), lost 0 (−0.0); unanswerable newly refused 0, newly answered 1" in out
    assert out.count("\n\neval/q.jsonl ") == 4  # the four changed rows, each listed after a blank line
    assert "before: extracted 0.0  Forkert [1]" in out and "after: extracted 1.0  Rigtigt nu [1]" in out


def test_reports_of_different_rows_are_refused(tmp_path):
    before = _report([_row("a", True, "extracted", 1.0, "x")], [], 1.0)
    after = _report([_row("z", True, "extracted", 1.0, "x")], [], 1.0)
    (tmp_path / "before.json").write_text(json.dumps(before))
    (tmp_path / "after.json").write_text(json.dumps(after))
    done = subprocess.run(
        [sys.executable, "scripts/compare_answers.py", str(tmp_path / "before.json"), str(tmp_path / "after.json")],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0 and "different rows" in done.stderr
