"""CPR numbers: found in any of their written forms and masked everywhere an answer shows text.

Masking is a property of the answer object, not of one string: `mask_answer` returns a
copy of an Answer in which every text a person or a program can read — the answer, its
sentences, the model's raw answer, the prompt, evidence quotes, citation snippets, the
retrieved passages and their titles, guardrail findings — shows "[skjult]" wherever a CPR
number was. Findings say *that* a number was masked, never which. `show_cpr=True` (the
`--show-cpr` flag, for users entitled to see them) leaves everything as it is.

The pattern covers ddmmyy-xxxx with a hyphen, an en or em dash, a minus sign or a fullwidth
hyphen, one or two of them, with spaces around the dash (`010190 - 1234`), with a slash
(`010190/1234`), with one space or none (`0101901234`), with a space between day, month and
year (`01 01 90-1234`), written as a date with dots, slashes or dashes and a dash before the
serial (`01.01.90-1234`), in fullwidth digits (`０１０１９０-１２３４`), with a line break where a space or
nothing may be (a PDF's line wraps inside the number: `150585-\n4321`), and digits split by invisible
characters (zero-width space, word joiner, soft hyphen). It does not match dates in
running text (`31.12.1999`, `31-12-1999`, a range `010124-311224`) or phone numbers (8
digits, `+45 3112 9999`), since it needs a valid day and month and exactly four digits
after the date, with no digit on either side.
"""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass, replace
from typing import Any

from ragcli.schema import Answer, Chunk, Hit

MASK = "[skjult]"
CPR_RULE = "cpr-number"

_Z = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]{0,4}"  # invisible characters inside a number
# Any Unicode space: a PDF line may break inside a number ("150585-\n4321"), and a question
# pasted from a word processor holds thin, figure (made for lining up digits) or ideographic
# spaces, which ingest folds but a question keeps.
_SPACE = r"\s"


def _digit(low: str = "0", high: str = "9") -> str:
    """A digit from low to high, ASCII or fullwidth ("０１０１９０-１２３４" is in text that was
    never NFKC-normalised: a question, a file name)."""
    wide = lambda d: chr(ord(d) - ord("0") + 0xFF10)  # noqa: E731
    return f"[{low}-{high}{wide(low)}-{wide(high)}]"


_DASH = "[-\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d]"  # … and the small and fullwidth hyphen-minus
_PAIR_GAP = f"{_Z}(?:{_SPACE}{_Z})?"  # between day, month and year: nothing or one space
_DAY = f"(?:{_digit('0', '0')}{_Z}{_digit('1')}|{_digit('1', '2')}{_Z}{_digit()}|{_digit('3', '3')}{_Z}{_digit('0', '1')})"
_MONTH = f"(?:{_digit('0', '0')}{_Z}{_digit('1')}|{_digit('1', '1')}{_Z}{_digit('0', '2')})"
_YEAR = f"{_digit()}{_Z}{_digit()}"
# between date and serial: one or two dashes or a slash, with spaces around, or only spaces or nothing
_SEPARATOR = f"{_Z}(?:{_SPACE}{{0,3}}(?:{_DASH}{{1,2}}|/){_SPACE}{{0,3}}|{_SPACE}{{0,3}}){_Z}"
_SERIAL = f"{_digit()}{_Z}{_digit()}{_Z}{_digit()}{_Z}{_digit()}"
_BEFORE = "(?<![0-9\uff10-\uff19+\uff0b])"
_AFTER = "(?![0-9\uff10-\uff19])"
_COMPACT_DATE = f"{_DAY}{_PAIR_GAP}{_MONTH}{_PAIR_GAP}{_YEAR}"
# The date written as a date ("01.01.90-1234", "01/01/90-1234"): the same mark between day,
# month and year, and then a dash right before the serial. Not a space or a line break there:
# "Møde 12.03.24 1400", a date and a time, is no CPR number, nor a title ending in a date.
# (A line may break after that dash, "01.01.90-\n1234"; a space before it is a date range's:
# "Frist 12/03/24 - 2025".)
_PUNCTUATED = f"{_DAY}{_Z}(?P<cpr_mark>[./-]){_Z}{_MONTH}{_Z}(?P=cpr_mark){_Z}{_YEAR}{_Z}{_DASH}{_SPACE}{{0,2}}{_Z}{_SERIAL}"

CPR_PATTERN = re.compile(f"{_BEFORE}(?:{_COMPACT_DATE}{_SEPARATOR}{_SERIAL}|{_PUNCTUATED}){_AFTER}")
# The longest text one match can span (for holding back streamed output before masking):
# ten digits, up to four invisible characters at each of twelve places, two spaces in the
# date, and three spaces, two dashes and three spaces between date and serial.
MAX_MATCH_CHARS = 10 + 12 * 4 + 2 + 8
# A snippet cut short inside a number ("… CPR 311299 - 99 …"): the date part is masked too
# (in the compact form only: a title ending in "05.02.2024" is a date).
_CUT_SHORT = re.compile(
    f"{_BEFORE}{_COMPACT_DATE}(?:{_SEPARATOR}{_digit()}{{0,3}})?{_Z}(?=\\s*(?:…|\\.\\.\\.)?\\s*$)"
)


def mask_cpr(text: str) -> str:
    """text with every CPR number replaced by [skjult]."""
    return CPR_PATTERN.sub(MASK, text) if text else text


def mask_snippet(text: str) -> str:
    """mask_cpr, and a number cut short at the end of a shortened snippet too."""
    return _CUT_SHORT.sub(MASK, mask_cpr(text)) if text else text


def canonical_cpr(text: str) -> str:
    """`text` with every CPR number written as ddmmyy-ssss in ASCII digits, the way documents
    mostly write it: "1505854321", "15.05.85-4321" and "１５０５８５-４３２１" are the same
    person's number, and a question must find the passage that names it."""

    def canonical(match: re.Match) -> str:
        digits = "".join(str(int(d)) for d in re.findall(r"\d", match.group(0)))
        return f"{digits[:6]}-{digits[6:]}"

    return CPR_PATTERN.sub(canonical, text) if text else text


# How the analyser and the number finder cut a CPR number into pieces ("150585", "4321").
_PIECES = re.compile(r"\d+(?:[.,:]\d+)*|\b\w\w+\b")


def mask_cpr_parts(values: list[str], text: str) -> list[str]:
    """`values` (terms or numbers drawn from `text`) with each piece of a CPR number in `text`
    masked: the analyser splits "150585-4321" into "150585" and "4321", which the pattern no
    longer sees as a CPR number. Only those very pieces: "85" from "§ 85" stays."""
    pieces = {piece.lower() for match in CPR_PATTERN.finditer(text) for piece in _PIECES.findall(match.group(0))}
    return [MASK if value.lower() in pieces else value for value in values] if pieces else values


def contains_cpr(text: str) -> bool:
    return bool(text) and CPR_PATTERN.search(text) is not None


def _mask_value(value: Any) -> Any:
    """Strings masked inside any nesting of dicts, lists, tuples and dataclasses."""
    if isinstance(value, str):
        return mask_cpr(value)
    if isinstance(value, dict):
        return {key: _mask_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_value(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_mask_value(item) for item in value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _mask_value(getattr(value, f.name)) for f in fields(value) if f.init})
    return value


def mask_values(value: Any) -> Any:
    """Every string in a record (dicts, lists, tuples, dataclasses, nested) with CPR numbers
    masked: an ingest report's file names ("sag_010190-1234.pdf"), shown as `info` shows them."""
    return _mask_value(value)


def mask_chunk(chunk: Chunk) -> Chunk:
    """A passage with CPR numbers masked in its file name, title and text. A title is a
    document's first line and a passage's text ends where the chunking cut it, so either can
    end inside a number ("… personnummer 150585-"): masked as a cut-short snippet is."""
    return replace(chunk, doc=mask_cpr(chunk.doc), title=mask_snippet(chunk.title), text=mask_snippet(chunk.text))


def mask_hits(hits: list[Hit], show_cpr: bool = False) -> list[Hit]:
    """Retrieved passages with CPR numbers masked in their text, title and file name."""
    if show_cpr:
        return hits
    return [replace(hit, chunk=mask_chunk(hit.chunk)) for hit in hits]


def _mask_flag(flag: dict) -> dict:
    masked = _mask_value(flag)
    if masked.get("rule") == CPR_RULE:
        masked["match"] = MASK  # the finding says that a number was masked, not which
    return masked


def _mask_evidence(evidence: Any) -> Any:
    masked = _mask_value(evidence)
    if isinstance(masked, dict) and isinstance(masked.get("quote"), str):
        masked["quote"] = mask_snippet(masked["quote"])
    return masked


def mask_answer(answer: Answer, show_cpr: bool = False) -> Answer:
    """A copy of answer with every CPR number in every text field masked (idempotent)."""
    if show_cpr:
        return answer
    in_sources = [
        number
        for number, hit in enumerate(answer.hits, start=1)
        if any(contains_cpr(text) for text in (hit.chunk.text, hit.chunk.title, hit.chunk.doc))
    ] or [c.number for c in answer.citations if contains_cpr(c.snippet)]
    flags = [_mask_flag(f) for f in answer.flags]
    if in_sources and not any(f.get("rule") == CPR_RULE and f.get("where") == "passage" for f in flags):
        flags.append(
            {
                "rule": CPR_RULE, "where": "passage", "action": "mask",
                "message": "kilderne indeholder CPR-numre; de er skjult (--show-cpr viser dem)",
                "match": MASK, "source": in_sources[0],
            }
        )
    special = {
        "model": answer.model,
        "citations": [replace(_mask_value(c), snippet=mask_snippet(c.snippet)) for c in answer.citations],
        "hits": mask_hits(answer.hits),
        "evidence": [_mask_evidence(ev) for ev in answer.evidence],
        "flags": flags,
    }
    # Every other field, including any added later, is masked wherever it holds text.
    changes = {f.name: special[f.name] if f.name in special else _mask_value(getattr(answer, f.name)) for f in fields(answer) if f.init}
    return replace(answer, **changes)
