"""Code lists: the tables that say what each code stands for.

A data specification such as GeoFA's holds dozens of them, one row per code under a header
that names the field ("funktionsstatus_kode funktionsstatus aktiv Begrebsdefinition" /
"4 Midlertidig lukket 1 Midlertidigt lukket/ude af drift"). Two questions are asked of them:

- what a code stands for: "Hvad betyder off_kode 2?", "… har fået DVFI-kode 4. Hvordan er
  vandløbskvaliteten så vurderet?";
- which code a thing has: "En brandhane er midlertidigt ude af drift. Hvilken
  funktionsstatuskode skal den have?".

Either is answered by one row, which shares next to nothing with the question but the code
or the thing, so the extraction model, which weighs shared words, refuses them. A row is
found only in a list the question names (by its field, "off_kode", "funktionsstatus-kode"),
and a code the list lacks ("trin_kode 13" of a list that stops at 12) finds none.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ragcli.danish import numbers_in, weighted_coverage
from ragcli.lexical import analyze
from ragcli.schema import Hit

# The field a question names, and the code after it: "off_kode 2", "funktionsstatus-kode 7",
# "hastighedskoden 15", "ejerstatuskode 42", "Hvilken artskode …".
_ASKED_FIELD = re.compile(r"(?<![\w-])([^\W\d_]*(?:[_-][^\W\d_]+)*?)[_-]?kode(?:n|r|rne)?\b(?:\s+(\d{1,6})\b)?", re.IGNORECASE)
# A list's header: the field first, then the columns ("statuskode status aktiv",
# "invasivart_kode ia_dansknavn ia_latinsknavn ia_rige aktiv"); a field's description in the
# data model ("hastighed_kode hastighe_k Kode for max fart/hastighed Heltal 15-130 O 30") is none.
_HEADER = re.compile(r"^[ \t]*([\w]*kode)\*?[ \t]+\S[^\n]*\baktiv\b[^\n]*$", re.IGNORECASE | re.MULTILINE)
_ROW = re.compile(r"^[ \t]*(\d{1,6})(?:[ \t]+(\S[^\n]*))?$")
_SECTION = re.compile(r"^[ \t]*\d{1,2}(?:\.\d{1,2})+\.?[ \t]+\S")  # "4.3.15 Funktionsstatus (d_basis_…)"
ROW_LINES = 3  # a row's cells wrap over at most this many lines


@dataclass(frozen=True)
class CodeRow:
    source: int  # 1-based number of the passage
    code: str
    start: int  # offsets into the passage's text
    end: int
    text: str
    field: str  # the list's field, as its header spells it


def _folded(word: str) -> str:
    """A field's name as compared: lower case, ASCII ("bedømmelse" = "bedoemmelse"), no _ or -."""
    word = word.lower().replace("æ", "ae").replace("ø", "oe").replace("å", "aa")
    word = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    return re.sub(r"[_\-*]", "", word).removesuffix("kode")


def asked_field(question: str) -> tuple[str, str | None] | None:
    """The code list field a question names ("off", "funktionsstatus", "" for a bare "kode") and
    the code it gives (None where it asks for one); None where it names no code."""
    for match in _ASKED_FIELD.finditer(question):
        field, code = _folded(match.group(1)), match.group(2)
        if not field and code is None:
            continue  # "Hvilken kode …?" names no list to look in
        if field.startswith("http"):
            continue  # "HTTP-statuskode" asks the protocol, not a code list
        return field, code
    return None


def _same_field(asked: str, listed: str) -> bool:
    """"hastigheds" names "hastighed", "arts" names "invasivart", "oprindelses" names "oprind"."""
    if not asked:
        return True
    for a in {asked, asked.removesuffix("s")}:
        if len(a) >= 3 and (listed.startswith(a) or listed.endswith(a) or (len(listed) >= 4 and a.startswith(listed))):
            return True
    return False


def _row(text: str, lines: list[tuple[int, str]], source: int, field: str) -> CodeRow | None:
    """One row from its lines (offset, line): the code's line and the lines its cells wrap over."""
    if not lines or len(lines) > ROW_LINES:
        return None
    first_at, first = lines[0]
    start = first_at + len(first) - len(first.lstrip())
    end = lines[-1][0] + len(lines[-1][1].rstrip())
    return CodeRow(source, _ROW.match(first).group(1), start, end, re.sub(r"\s+", " ", text[start:end]).strip(), field)


def rows(text: str, source: int) -> list[CodeRow]:
    """Every row of every code list in a passage: from each header to the next header or
    numbered section."""
    found: list[CodeRow | None] = []
    headers = list(_HEADER.finditer(text))
    for n, header in enumerate(headers):
        stop = headers[n + 1].start() if n + 1 < len(headers) else len(text)
        field = _folded(header.group(1))
        current: list[tuple[int, str]] = []
        for match in re.finditer(r"[^\n]+", text[header.end() : stop]):
            at, line = header.end() + match.start(), match.group(0)
            if _SECTION.match(line):
                break
            if _ROW.match(line):
                found.append(_row(text, current, source, field))
                current = [(at, line)]
            elif current:
                current.append((at, line))
        found.append(_row(text, current, source, field))
    return [row for row in found if row is not None]


def code_row(
    question: str, hits: Sequence[Hit], weights: dict[str, float], tainted: set[int] | frozenset[int] = frozenset()
) -> CodeRow | None:
    """The row of a code list that answers the question: the row of the code it gives, in the
    list it names; or, asked which code a thing has, the one row of that list that names the
    thing best (every number of the question in it). None where there is no such list, no
    such code, or no row that says more of the question than another. Passages numbered in
    `tainted` (flagged as prompt injection) are data, never an answer."""
    asked = asked_field(question)
    if asked is None:
        return None
    field, code = asked
    # a bare "kode 10" is looked up in a list the question names otherwise ("… i kodelisten Trussel_vand")
    spelled = _folded(re.sub(r"\W", "", question))
    listed = [row for number, hit in enumerate(hits, start=1) if number not in tainted for row in rows(hit.chunk.text, number)
              if (_same_field(field, row.field) if field else len(row.field) >= 4 and row.field in spelled)]
    if code is not None:
        return next((row for row in listed if row.code.lstrip("0") == code.lstrip("0")), None)
    if not field:
        return None
    # the thing's own terms: not the field's name, which every row of the list shares
    named = {t for t in analyze(question) if _same_field(_folded(t), field) or "kod" in t}
    thing = {t: w for t, w in weights.items() if t not in named}
    if not thing:
        return None
    wanted = numbers_in(question)
    scored = []
    for row in listed:
        label = row.text[len(row.code):]
        if not wanted <= numbers_in(label):
            continue
        scored.append((weighted_coverage(thing, frozenset(analyze(label))), row))
    scored = [s for s in scored if s[0] > 0]
    if not scored:
        return None
    scored.sort(key=lambda s: -s[0])
    if len(scored) > 1 and scored[1][0] == scored[0][0] and scored[1][1].text != scored[0][1].text:
        return None  # two rows name the thing as well: the question does not say which
    return scored[0][1]
