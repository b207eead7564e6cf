"""Validate an evaluation question set (JSONL) against the PDFs it cites.

Usage:
    python eval/check_questions.py eval/questions.jsonl ../shared/corpus [--also OTHER.jsonl ...]

Checks, per row:
  * schema (as in dev.jsonl): the keys id, question, doc, page, answer, evidence, kind, plus
    optionally "hops" on multi-hop rows (a list of 2+ {doc, page, evidence}, one per page the
    answer needs; the row's own doc/page is one of them) and "note" on unanswerable rows;
    kind is one of factual, number, date, definition, multi-hop, unanswerable;
    unanswerable rows have doc, page, answer and evidence all null;
    answerable rows name a PDF in the corpus folder and a 1-based page (pypdf page index + 1);
  * ids are unique (also across any --also files, e.g. the dev set);
  * the evidence (and each hop's evidence) occurs on its page (whitespace collapsed to single
    spaces, case-insensitive);
  * the answer's main tokens occur in the evidence: every token holding a digit, and at least
    two thirds of the other content words (stop words and one/two-letter words ignored; a word
    also counts when the evidence has it without a common Danish ending, e.g. "beløbet"/"beløb").
    Multi-hop answers may combine or compute facts, so for them half of all main tokens suffice,
    counted against the evidence of all hops together.
    Token matching is lenient about PDF extraction noise (NFKC folds ligatures such as "ﬁ",
    curly quotes count as straight ones, and a U+2010 line-break hyphen joins its word).

Exit status: 0 when clean, 1 listing every problem, 2 on bad usage or when pypdf is missing.
Only the standard library is needed until the PDFs are read; pypdf is imported lazily.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
import unicodedata
from pathlib import Path

KEYS = ("id", "question", "doc", "page", "answer", "evidence", "kind")
OPTIONAL = {"hops": "multi-hop", "note": "unanswerable"}  # optional key -> the only kind that may carry it
HOP_KEYS = ("doc", "page", "evidence")
KINDS = {"factual", "number", "date", "definition", "multi-hop", "unanswerable"}
NULL_WHEN_UNANSWERABLE = ("doc", "page", "answer", "evidence")

# Function words that carry no answer content (Danish and English, as the corpus has both).
STOP = set(
    """
    og eller men som der det den de en et er var har til fra for med på af om ved ud op ind hos kun
    alene ca cirka over under mindst højst maks omkring efter før inden siden alt alle ikke nej ja hver
    samt the and not only per pr dvs bl fx mv kr mio stk dog
    """.split()
)
# Danish inflection endings: "beløbet" in an answer may stand for "beløb" in the evidence.
SUFFIXES = ("erne", "ene", "et", "en", "ne", "er", "e", "t")
QUOTES = {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2018": "'", "\u2019": "'"}


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def loose(text: str) -> str:
    """Normalisation used only for the answer-token check (not for the evidence match)."""
    text = collapse(text).replace("\u2010 ", "")
    text = "".join(QUOTES.get(c, c) for c in text)
    return unicodedata.normalize("NFKC", text).casefold()


def main_tokens(answer: str) -> tuple[list[str], list[str]]:
    numeric, words = [], []
    for tok in re.findall(r"\w+", loose(answer)):
        if any(ch.isdigit() for ch in tok):
            numeric.append(tok)
        elif len(tok) >= 3 and tok not in STOP:
            words.append(tok)
    return numeric, words


def word_in(word: str, text: str) -> bool:
    if word in text:
        return True
    return any(word.endswith(suf) and len(word) - len(suf) >= 4 and word[: -len(suf)] in text for suf in SUFFIXES)


def answer_problem(answer: str, evidence: str, kind: str) -> str | None:
    ev = loose(evidence)
    numeric, words = main_tokens(answer)
    if not numeric and not words:
        return None
    missing_num = [t for t in numeric if t not in ev]
    missing_words = [t for t in words if not word_in(t, ev)]
    if kind == "multi-hop":
        total = len(numeric) + len(words)
        found = total - len(missing_num) - len(missing_words)
        if found * 2 < total:
            return f"too few answer tokens in evidence ({found}/{total}); missing {missing_num + missing_words}"
        return None
    if missing_num:
        return f"answer numbers not in evidence: {missing_num}"
    need = math.ceil(len(words) * 2 / 3)
    if len(words) - len(missing_words) < need:
        return f"answer words not in evidence: {missing_words}"
    return None


def check_schema(row: object, where: str, problems: list[str]) -> bool:
    """Return True when the row is well-formed enough to check against the PDF."""
    if not isinstance(row, dict):
        problems.append(f"{where}: not a JSON object")
        return False
    keys = set(row)
    extra, missing = sorted(keys - set(KEYS) - set(OPTIONAL)), sorted(set(KEYS) - keys)
    if extra or missing:
        problems.append(f"{where}: keys differ from schema (extra {extra}, missing {missing})")
        return False
    ok = True
    for key, kind in OPTIONAL.items():
        if key in row and row.get("kind") != kind:
            problems.append(f"{where}: only {kind} rows may have {key!r}")
            ok = False
    if "note" in row and (not isinstance(row["note"], str) or not row["note"].strip()):
        problems.append(f"{where}: note must be a non-empty string")
        ok = False
    for key in ("id", "question", "kind"):
        if not isinstance(row[key], str) or not row[key].strip():
            problems.append(f"{where}: {key} must be a non-empty string")
            ok = False
    if not isinstance(row["kind"], str) or row["kind"] not in KINDS:
        problems.append(f"{where}: unknown kind {row['kind']!r}")
        return False
    if row["kind"] == "unanswerable":
        for key in NULL_WHEN_UNANSWERABLE:
            if row[key] is not None:
                problems.append(f"{where}: unanswerable row must have {key} = null")
                ok = False
        return False  # nothing to look up in a PDF
    for key in ("doc", "answer", "evidence"):
        if not isinstance(row[key], str) or not row[key].strip():
            problems.append(f"{where}: {key} must be a non-empty string for an answerable row")
            ok = False
    if not valid_page(row["page"]):
        problems.append(f"{where}: page must be an integer >= 1")
        ok = False
    if "hops" in row:
        hops = row["hops"]
        if not isinstance(hops, list) or len(hops) < 2:
            problems.append(f"{where}: hops must be a list of at least 2 {{doc, page, evidence}} objects")
            return False
        for i, hop in enumerate(hops, 1):
            if not isinstance(hop, dict) or set(hop) != set(HOP_KEYS):
                problems.append(f"{where}: hop {i} must have exactly the keys {list(HOP_KEYS)}")
                ok = False
            elif not (isinstance(hop["doc"], str) and valid_page(hop["page"]) and isinstance(hop["evidence"], str) and hop["evidence"].strip()):
                problems.append(f"{where}: hop {i} needs a doc name, a page >= 1 and non-empty evidence")
                ok = False
        if ok and (row["doc"], row["page"]) not in {(h["doc"], h["page"]) for h in hops}:
            problems.append(f"{where}: the row's doc/page is not one of its hops")
            ok = False
    return ok


def valid_page(page: object) -> bool:
    return isinstance(page, int) and not isinstance(page, bool) and page >= 1


def read_jsonl(path: Path, problems: list[str]) -> list[tuple[int, object]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{n}: invalid JSON ({exc.msg})")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Validate an evaluation question set against its PDFs.")
    ap.add_argument("questions", type=Path, help="JSONL file to check")
    ap.add_argument("corpus", type=Path, help="folder holding the PDFs named in the doc field")
    ap.add_argument("--also", type=Path, nargs="*", default=[], help="other JSONL sets whose ids must not clash")
    args = ap.parse_args(argv)
    if not args.questions.is_file() or not args.corpus.is_dir():
        print(f"error: need a questions file and a corpus folder (got {args.questions}, {args.corpus})", file=sys.stderr)
        return 2

    problems: list[str] = []
    rows = read_jsonl(args.questions, problems)
    seen: dict[str, str] = {}
    for other in args.also:
        for n, row in read_jsonl(other, problems):
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                seen.setdefault(row["id"], f"{other}:{n}")

    to_check = []
    spans_checked = 0
    for n, row in rows:
        where = f"{args.questions.name}:{n}"
        if isinstance(row, dict) and isinstance(row.get("id"), str):
            where += f" ({row['id']})"
            if row["id"] in seen:
                problems.append(f"{where}: duplicate id, also at {seen[row['id']]}")
            else:
                seen[row["id"]] = where
        if check_schema(row, where, problems):
            to_check.append((where, row))

    if to_check:
        try:
            import pypdf  # lazy: the schema checks above need only the standard library
        except ImportError:
            print("error: pypdf is not installed (pip install pypdf); cannot check evidence against the PDFs", file=sys.stderr)
            return 2
        logging.getLogger("pypdf").setLevel(logging.ERROR)  # silence warnings about benign PDF quirks
        pages: dict[str, list[str]] = {}

        def page_of(doc: str, page: int) -> str | None:
            if doc not in pages:
                path = args.corpus / doc
                reader = pypdf.PdfReader(str(path)) if path.is_file() else None
                pages[doc] = [collapse(p.extract_text() or "").casefold() for p in reader.pages] if reader else []
            return pages[doc][page - 1] if page <= len(pages[doc]) else None

        for where, row in to_check:
            spans = [(row["doc"], row["page"], row["evidence"])]
            spans += [(h["doc"], h["page"], h["evidence"]) for h in row.get("hops", []) if h["evidence"] != row["evidence"]]
            found = True
            for doc, page, evidence in spans:
                text = page_of(doc, page)
                if text is None:
                    n = len(pages[doc])
                    problems.append(f"{where}: no such PDF in corpus: {doc}" if not n else f"{where}: page {page} beyond the {n} pages of {doc}")
                    found = False
                elif collapse(evidence).casefold() not in text:
                    problems.append(f"{where}: evidence not found on {doc} page {page}: {evidence[:80]!r}")
                    found = False
            spans_checked += len(spans)
            if not found:
                continue
            why = answer_problem(row["answer"], " | ".join(e for _, _, e in spans), row["kind"])
            if why:
                problems.append(f"{where}: {why}")

    if problems:
        print(f"{len(problems)} problem(s) in {args.questions}:")
        for p in problems:
            print(f"  - {p}")
        return 1
    kinds: dict[str, int] = {}
    for _, row in rows:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    print(f"OK: {len(rows)} rows in {args.questions} ({summary}); {spans_checked} evidence spans of {len(to_check)} answerable rows found on their pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
