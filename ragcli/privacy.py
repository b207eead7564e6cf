"""CPR numbers: found in any of their written forms and masked everywhere an answer shows text.

Masking is a property of the answer object, not of one string: `mask_answer` returns a
copy of an Answer in which every text a person or a program can read — the answer, its
sentences, the model's raw answer, the prompt, evidence quotes, citation snippets, the
retrieved passages and their titles, guardrail findings — shows "[skjult]" wherever a CPR
number was. Findings say *that* a number was masked, never which. `show_cpr=True` (the
`--show-cpr` flag, for users entitled to see them) leaves everything as it is.

The pattern covers ddmmyy-xxxx with a hyphen, an en or em dash, a minus sign or a fullwidth
hyphen, one or two of them, with spaces around the dash (`010190 - 1234`), with a slash
(`010190/1234`) or a bar (`010190 | 1234`, a table row), with one space or none (`0101901234`), with a space between day, month and
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

# Invisible characters inside a number: zero-width space, joiners, word joiner, soft hyphen,
# left-to-right and right-to-left marks and embeddings (a question pasted from a right-to-left
# page holds them), invisible operators, byte order mark.
_Z = "[\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,4}"
# Any Unicode space: a PDF line may break inside a number ("150585-\n4321"), and a question
# pasted from a word processor holds thin, figure (made for lining up digits) or ideographic
# spaces, which ingest folds but a question keeps.
_SPACE = r"\s"


# The zero of every run of ten decimal digits in Unicode 14 and 15 (Python 3.11's and 3.12's
# unicodedata; a test checks that this Python's are all here): ASCII, Arabic-Indic, Devanagari, …, fullwidth, mathematical
# bold and monospace. Text that was never NFKC-normalised (a question, a file name) can hold
# a number in any of them, and int() reads each.
_ZEROS = (
    0x11F50, 0x1E4F0,  # Unicode 15 (Python 3.12 on): Kawi, Nag Mundari
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6,
    0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50,
    0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
)


_NARROW_ZEROS = (0x30, 0xFF10)  # ASCII and fullwidth: what nearly all text holds
# A digit neither ASCII nor fullwidth: only then is the pattern of every script worth its cost
# (a character class of 66 ranges at each of ten places made masking nine times slower).
_EXOTIC_DIGIT = re.compile(r"(?![0-9\uff10-\uff19])\d")


def _digit(low: str, high: str, zeros: tuple[int, ...]) -> str:
    """A digit from low to high in the scripts whose zeros are given ("０１０１９０-１２３４", "𝟏𝟓𝟎𝟓𝟖𝟓-𝟒𝟑𝟐𝟏")."""
    a, b = int(low), int(high)
    return "[" + "".join(f"{re.escape(chr(z + a))}-{re.escape(chr(z + b))}" for z in zeros) + "]"


_DASH = "[-\u2010-\u2015\u2043\u2212\ufe58\ufe63\uff0d]"  # hyphens, dashes, a horizontal bar, the small and fullwidth ones
_PAIR_GAP = f"{_Z}(?:{_SPACE}{_Z})?"  # between day, month and year: nothing or one space
# between date and serial: one or two dashes, a slash or a bar (a table's cells as a row of
# text, "150585 | 4321"), with spaces around; only spaces (a table's column gap, "150585
# 4321") or nothing
_GAP = f"{_Z}(?:{_SPACE}{{0,3}}(?:{_DASH}{{1,2}}|[/／|｜]){_SPACE}{{0,3}}|{_SPACE}{{0,8}}){_Z}"
# … or an underscore, as a file name writes it ("sag_150585_4321.pdf"; a scanner's
# "scan_120324_1430.pdf" is written the same way, and is masked too). Not a full stop:
# "Beløb 120399.5000" and "build 240315.1030" are numbers.
_SEPARATOR = f"(?:{_GAP}|{_Z}_{_Z})"
_BEFORE = r"(?<![\d+\uff0b])"  # \d: a digit of any script
_AFTER = r"(?!\d)"


def _patterns(zeros: tuple[int, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The CPR pattern and the cut-short one, for digits of the scripts whose zeros are given."""
    d = lambda low="0", high="9": _digit(low, high, zeros)  # noqa: E731
    day = f"(?:{d('0', '0')}{_Z}{d('1')}|{d('1', '2')}{_Z}{d()}|{d('3', '3')}{_Z}{d('0', '1')})"
    month = f"(?:{d('0', '0')}{_Z}{d('1')}|{d('1', '1')}{_Z}{d('0', '2')})"
    year = f"{d()}{_Z}{d()}"
    serial = f"{d()}{_Z}{d()}{_Z}{d()}{_Z}{d()}"
    compact_date = f"{day}{_PAIR_GAP}{month}{_PAIR_GAP}{year}"
    # The date written as a date ("01.01.90-1234", "01/01/90-1234"): the same mark between day,
    # month and year, and then a dash before the serial. Not only a space or a line break
    # there: "Møde 12.03.24 1400", a date and a time, is no CPR number, nor a title ending in
    # a date. (A line may break after that dash, "01.01.90-\n1234".) Nor a space before the
    # dash: "Betalt 15.01.24 - 2500 kr.", "Skoleår 01.08.24 - 2025", "Frist 12/03/24 - 2025"
    # are a date and an amount or a year, written as a CPR number would be with that space.
    punctuated = f"{day}{_Z}(?P<cpr_mark>[-./．／]){_Z}{month}{_Z}(?P=cpr_mark){_Z}{year}{_Z}{_DASH}{_SPACE}{{0,2}}{_Z}{serial}"
    whole = re.compile(f"{_BEFORE}(?:{compact_date}{_SEPARATOR}{serial}|{punctuated}){_AFTER}")
    # A snippet cut short inside a number ("… CPR 311299 - 99 …"): the date part is masked too
    # (in the compact form only: a title ending in "05.02.2024" is a date).
    # Not after an underscore: "Journal nr. 240101." ends in a date-like number, not in a cut one.
    cut_short = re.compile(f"{_BEFORE}{compact_date}(?:{_GAP}{d()}{{0,3}})?{_Z}(?=\\s*(?:…|\\.\\.\\.)?\\s*$)")
    return whole, cut_short


class _AnyScript:
    """A compiled pattern's search, finditer and sub, with the narrow pattern's speed on text
    whose digits are all ASCII or fullwidth, and the wide one's reach on any other."""

    def __init__(self, narrow: re.Pattern[str], wide: re.Pattern[str]):
        self.narrow, self.wide = narrow, wide

    def _for(self, text: str) -> re.Pattern[str]:
        return self.wide if _EXOTIC_DIGIT.search(text) else self.narrow

    def search(self, text: str, *bounds: int) -> re.Match[str] | None:
        return self._for(text).search(text, *bounds)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self._for(text).fullmatch(text)

    def finditer(self, text: str, *bounds: int):
        return self._for(text).finditer(text, *bounds)

    def sub(self, replacement, text: str, count: int = 0) -> str:
        return self._for(text).sub(replacement, text, count)


_NARROW = _patterns(_NARROW_ZEROS)
_WIDE = _patterns(_ZEROS)
CPR_PATTERN = _AnyScript(_NARROW[0], _WIDE[0])
_CUT_SHORT = _AnyScript(_NARROW[1], _WIDE[1])
# The longest text one match can span (for holding back streamed output before masking):
# ten digits, up to four invisible characters at each of twelve places, two spaces in the
# date, and at most eight characters between date and serial (three spaces, two dashes and
# three spaces; or eight spaces).
MAX_MATCH_CHARS = 10 + 12 * 4 + 2 + 8


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
    if not pieces:
        return values
    # a piece inside a longer term too ("sag_150585" from a file name in the question), but not
    # the digits of another number ("1505850")
    inside = re.compile("|".join(rf"(?<!\d){re.escape(piece)}(?!\d)" for piece in sorted(pieces, key=len, reverse=True)))
    return [MASK if value.lower() in pieces or inside.search(value.lower()) else value for value in values]


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
