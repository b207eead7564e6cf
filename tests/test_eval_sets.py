"""The repo's question sets stay valid against the real PDFs they cite (eval/check_questions.py)."""

import subprocess
import sys

import pytest
from conftest import REPO, SHARED, SHARED_CORPUS

SETS = [
    "eval/questions.jsonl", "eval/questions_more.jsonl", "eval/questions_real.jsonl", "eval/questions_extra.jsonl",
    "eval/questions_blind.jsonl",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", SETS)
def test_question_set_evidence_is_on_its_pages_and_ids_are_unique(name):
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {SHARED_CORPUS} (set RAGCLI_SHARED)")
    others = [s for s in SETS if s != name] + [str(SHARED / "eval" / "dev.jsonl")]
    also = [arg for other in others for arg in ("--also", other)]
    done = subprocess.run(
        [sys.executable, "eval/check_questions.py", name, str(SHARED_CORPUS), *also],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].startswith("OK: ")
