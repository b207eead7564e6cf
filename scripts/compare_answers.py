"""Compare two answer evaluations row by row: what a change moved, and what it cost.

usage: python scripts/compare_answers.py BEFORE.json AFTER.json [--rows]

BEFORE and AFTER are `scripts/tune_answers.py --defaults --out FILE` reports of the same
question sets (run the old tree for one, the new for the other). Prints, per part, the
summary measures that changed; then, per half (tune, test, report sets), how many answerable
rows gained or lost gold-answer recall (and how much), and how many unanswerable rows were
newly refused or newly answered. --rows lists every row whose answer changed.

A table of means hides a change that helps three rows and hurts three others; the row
counts do not. Choose on the tune halves, report on the test halves.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

MEASURES = ("token_recall", "good_share", "extracted", "answered", "unanswerable_refused", "answerable_refused", "cited_on_gold")


def _shown(value) -> str:
    if isinstance(value, dict) and "good" in value:
        return f"{value['good']}/{value['n']}"
    return str(value)


def _half(part: str) -> str:
    return part.rsplit(" ", 1)[-1] if part.endswith((" tune", " test")) else "report"


def compare(before: dict, after: dict) -> dict:
    """Per part, the changed measures; per half, the row counts (see the module's docstring)."""
    if set(before) != set(after):
        raise SystemExit(f"the reports hold different parts: {sorted(set(before) ^ set(after))}")
    parts, halves, rows = {}, {}, []
    for part in before:
        old, new = before[part]["summary"], after[part]["summary"]
        parts[part] = {m: (_shown(old[m]), _shown(new[m])) for m in MEASURES if m in old and old[m] != new[m]}
        old_rows, new_rows = before[part]["records"], after[part]["records"]
        if [r["id"] for r in old_rows] != [r["id"] for r in new_rows]:
            raise SystemExit(f"{part}: the reports hold different rows")
        count = halves.setdefault(_half(part), {"gained": 0, "gain": 0.0, "lost": 0, "loss": 0.0, "newly_refused": 0, "newly_answered": 0})
        for a, b in zip(old_rows, new_rows):
            x, y = a["recall"] or 0.0, b["recall"] or 0.0
            if a["answerable"]:
                if y > x:
                    count["gained"] += 1
                    count["gain"] += y - x
                elif y < x:
                    count["lost"] += 1
                    count["loss"] += x - y
            elif (a["decision"] == "refused") != (b["decision"] == "refused"):
                count["newly_refused" if b["decision"] == "refused" else "newly_answered"] += 1
            if a["answer"] != b["answer"]:
                rows.append({"part": part, "id": a["id"], "answerable": a["answerable"], "question": a["question"],
                             "before": (a["decision"], round(x, 2), a["answer"]), "after": (b["decision"], round(y, 2), b["answer"])})
    for count in halves.values():
        count["gain"], count["loss"] = round(count["gain"], 2), round(count["loss"], 2)
    return {"parts": parts, "halves": halves, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rows", action="store_true", help="list every row whose answer changed")
    args = parser.parse_args()
    found = compare(json.loads(args.before.read_text()), json.loads(args.after.read_text()))
    for part, changed in found["parts"].items():
        moved = "; ".join(f"{m} {old} → {new}" for m, (old, new) in changed.items())
        print(f"{part}: {moved or 'no measure moved'}")
    for half, c in found["halves"].items():
        print(f"{half}: answerable rows gained {c['gained']} (+{c['gain']}), lost {c['lost']} (−{c['loss']}); "
              f"unanswerable newly refused {c['newly_refused']}, newly answered {c['newly_answered']}")
    if args.rows:
        for row in found["rows"]:
            kind = "answerable" if row["answerable"] else "unanswerable"
            print(f"\n{row['part']} {row['id']} ({kind}): {row['question']}")
            for label in ("before", "after"):
                decision, recall, answer = row[label]
                print(f"  {label}: {decision} {recall}  {answer[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
