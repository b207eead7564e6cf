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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ragcli.danish import asking_sentence, numbers_in, weighted_coverage
from ragcli.lexical import analyze
from ragcli.schema import Chunk, Hit

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
LOOKUP_DEPTH = 80  # passages the lexical index is asked for when looking a list up
# Codes that are not a list's: a protocol's status codes, passwords, PINs, source code.
_NOT_LISTS = ("http", "adgang", "pin", "kilde", "qr", "mitid", "nemid", "fejl", "pass", "engangs", "sikkerheds")
# What a question about a code asks: what it stands for ("Hvad betyder off_kode 2?", "Hvilken
# trussel har kode 10?", "Hvordan er vandløbskvaliteten vurderet?") — not who, why, when or
# how many, which the row does not say.
_NOT_MEANING = re.compile(r"^\W*(?:hvem|hvorfor|hvornår|hvor\s+(?:mange|meget|længe|ofte|stor\w*)|hvor\b)", re.IGNORECASE)


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
        if field.startswith(_NOT_LISTS):
            continue  # "HTTP-statuskode", "adgangskoden", "pinkode": no code list
        return field, code
    return None


def _skeleton(word: str) -> str:
    """A field's name without its e's and s's, which Danish compounds put in or leave out
    ("salgsstatus" / "salg_status", "havnetype" / "havn_type")."""
    return re.sub(r"[es]", "", word)


def _same_field(asked: str, listed: str) -> bool:
    """"hastigheds" names "hastighed", "arts" names "invasivart", "oprindelses" names "oprind"."""
    if not asked:
        return True
    for a, b in ((asked, listed), (asked.removesuffix("s"), listed), (_skeleton(asked), _skeleton(listed))):
        if len(a) >= 3 and (b.startswith(a) or b.endswith(a) or (len(b) >= 4 and a.startswith(b))):
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
    # the list of that very name before one whose name only begins or ends with it
    # ("funktionsstatus", not "funktion")
    listed = [row for row in listed if row.field in (field, field.removesuffix("s"))] or listed
    if code is not None:
        if _NOT_MEANING.search(asking_sentence(question)):
            return None  # "Hvem opdaterer ejerstatuskode 80?": the row says what 80 is, not who
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


def _joined(before: Chunk, chunk: Chunk) -> Chunk | None:
    """The passage before and this one as one, where they overlap or touch: a list that runs
    on from the passage before has its header there ("invasivart_kode …" / "1150 Mårhund …")."""
    if before.doc != chunk.doc or not before.char_start < chunk.char_start <= before.char_end:
        return None
    text = before.text + chunk.text[before.char_end - chunk.char_start :]
    # no chunk of the index is this text: chunk_id -1 (a record keeps the text as shown)
    return replace(before, page_end=chunk.page_end, char_end=chunk.char_end, text=text,
                   n_tokens=before.n_tokens + chunk.n_tokens, chunk_id=-1)


def look_up(
    question: str,
    weights: dict[str, float],
    search: Callable[[str, int], list[tuple[int, float]]],
    fetch: Callable[[list[int]], dict[int, Chunk]],
) -> Hit | None:
    """A passage that holds the row a code-list question asks for, where retrieval found none:
    a row shares next to no words with the question, so passages are sought by the list's
    header (its field and "aktiv … Begrebsdefinition") and the question's words together
    (`search`: the lexical index; `fetch`: chunks by id). A list that runs on from the passage
    before is read with that passage's header."""
    asked = asked_field(question)
    if asked is None:
        return None
    field = asked[0]
    found = search(f"aktiv begrebsdefinition {field}_kode {field}kode {question}", LOOKUP_DEPTH)
    ids = [cid for cid, _ in found]
    chunks = fetch(sorted(set(ids) | {cid - 1 for cid in ids}))
    for rank, (cid, score) in enumerate(found, start=1):
        chunk = chunks.get(cid)
        if chunk is None:
            continue
        before = chunks.get(cid - 1)
        joined = _joined(before, chunk) if before is not None else None
        for passage in (chunk, joined):
            hit = Hit(chunk=passage, score=score, lexical_score=score, lexical_rank=rank) if passage else None
            if hit is not None and code_row(question, [hit], weights) is not None:
                return hit
    return None
