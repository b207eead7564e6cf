"""Retrieval on reworded questions: ../shared/eval/paraphrase.jsonl, one passage per document.

    make eval-paraphrase                       # default model and mode
    python scripts/eval_paraphrase.py --mode dense

Each row's `passage` becomes a document of its own; `question` (reworded, few shared
words) and `question_direct` (the passage's own terms) become two question sets in the
schema `ragcli eval` reads. Both are run through the real CLI on a fresh index in a
temporary folder, so this measures exactly what a user gets.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RAGCLI_SHARED", REPO.parent / "shared"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=SHARED / "eval" / "paraphrase.jsonl")
    parser.add_argument("--mode", default=None, help="dense, lexical or hybrid (default: ragcli's)")
    parser.add_argument("--embed-model", default=None, help="embedding model (default: ragcli's)")
    args = parser.parse_args()
    if not args.questions.exists():
        sys.exit(f"no paraphrase set at {args.questions} (set RAGCLI_SHARED)")
    rows = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]

    with tempfile.TemporaryDirectory(prefix="ragcli-paraphrase-") as tmp:
        work = Path(tmp)
        docs = work / "passages"
        docs.mkdir()
        sets = {"reworded": "question", "direct": "question_direct"}
        for row in rows:
            (docs / f"{row['id']}.txt").write_text(row["passage"], encoding="utf-8")
        for name, field in sets.items():
            with (work / f"{name}.jsonl").open("w", encoding="utf-8") as out:
                for row in rows:
                    out.write(json.dumps({"id": row["id"], "question": row[field], "doc": f"{row['id']}.txt",
                                          "page": 1, "kind": name}, ensure_ascii=False) + "\n")

        ragcli = [sys.executable, "-m", "ragcli.cli"]
        env = {**os.environ, "RAGCLI_HOME": str(work / "indexes"), "HF_HUB_OFFLINE": "1"}
        ingest = [*ragcli, "ingest", str(docs), "--index", "paraphrase", "--quiet"]
        if args.embed_model:
            ingest += ["--embed-model", args.embed_model]
        subprocess.run(ingest, check=True, env=env)
        for name in sets:
            command = [*ragcli, "eval", str(work / f"{name}.jsonl"), "--index", "paraphrase"]
            if args.mode:
                command += ["--mode", args.mode]
            subprocess.run(command, check=True, env=env)


if __name__ == "__main__":
    main()
