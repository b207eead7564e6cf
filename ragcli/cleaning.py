"""Danish-aware clean-up of text extracted from PDFs.

pypdf and pdfium give us text with the layout's line breaks, words hyphenated across lines
("kunstig intel-\\nligens"), typographic ligatures ("ﬁ", "ﬀ"), soft hyphens and odd
spaces. Everything downstream (chunking, embedding, BM25, citations) wants plain,
NFC-normalised running text, so this module is the one place that knows about PDF
text quirks.
"""

from __future__ import annotations

import re
import unicodedata

# Typographic ligatures mapped explicitly: NFKC would fix these too, but it also
# rewrites superscripts, fractions and full-width forms that we want to keep.
LIGATURES = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",
    "\ufb06": "st",
}

# Hyphen-like characters a layout engine puts at a line break.
_HYPHENS = "-\u2010\u2011"
_LETTER = r"[^\W\d_]"

# "intel-\nligens" → "intelligens": a hyphen at a line end between a letter and a
# lower-case letter is a typesetting break, not part of the word.
# Not joined: "udviklings-\nog drifts-" (a suspended compound before og/eller/samt/til),
# "GenAI-\nModel" (upper case after the break keeps a real hyphen) and "2019-\n2020".
_LINE_BREAK_HYPHEN = re.compile(
    rf"({_LETTER})[{_HYPHENS}][ \t]*\n[ \t]*(?!(?:og|eller|samt|til|el\.)\b)([a-zæøåäöüé])"
)
# Some PDFs map the "fi" ligature glyph to U+0000 ("Kon\x00gurer", "\x00ler"); in Danish
# text "fi" is by far the most common ligature, so that is the repair.
_NUL_LIGATURE = re.compile(r"(?<=\w)\x00|\x00(?=\w)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0 and C1 controls, DEL
# Invisible format characters (Unicode category Cf, soft hyphen handled above): zero-width
# spaces and joiners, word joiners, bidi overrides and isolates, BOMs, tag characters.
# They are not words: inside one they split it for BM25 and hide it from CPR masking, and
# a bidi override reverses what a terminal shows. Dropped before chunking, so chunk
# offsets index the text as stored.
FORMAT_CHARACTERS = (
    "\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_FORMAT = re.compile(f"[{FORMAT_CHARACTERS}]")
_LINE_SEPARATORS = re.compile("[\u2028\u2029\x85]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def clean_text(raw: str) -> str:
    """Return NFC-normalised text with PDF artefacts repaired.

    Line structure is kept (single newlines), since chunking uses it to tell
    headings and list items from running sentences; runs of blank lines become one.
    """
    text = unicodedata.normalize("NFC", raw)
    for ligature, letters in LIGATURES.items():
        text = text.replace(ligature, letters)
    text = _NUL_LIGATURE.sub("fi", text)
    text = text.replace("\u00ad\n", "").replace("\u00ad", "")  # soft hyphens are invisible
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # pdfium writes U+FFFE for a hyphen it found at a line end, and drops the line break:
    # put both back so the rule below decides (join "budget-\nlægges", keep "LIB-\nSOAP")
    # exactly as it does for pypdf's text.
    text = text.replace("\ufffe", "-\n")
    text = _LINE_SEPARATORS.sub("\n", text)
    text = _FORMAT.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = _LINE_BREAK_HYPHEN.sub(r"\1\2", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def flatten(text: str) -> str:
    """Join lines into running text (for snippets and prompts)."""
    return re.sub(r"\s+", " ", text).strip()


# A line a layout prints at the top or bottom of most pages — "Side 3 af 17", "14. september
# 2022 Side 3 af 17", "Driftshaandbog.md 2025-06-02", "Digital Identity ApS 4 / 9" — is the
# document's furniture, not its content. Left in, it lands in chunks, prompts and quotes:
# "Driftshaandbog.md 2025-06-02 / git clone …" was once quoted as *when* a backup is taken.
RUNNING_LINE_EDGE = 2  # lines looked at at each end of a page
RUNNING_LINE_SHARE = 0.5  # on at least this share of the pages (and on at least 3)
RUNNING_LINE_MAX_CHARS = 200  # a longer line is content (and long lines cost regex time)
_DIGITS = re.compile(r"\d+")
# A page number as layouts print it, with "#" where the page number was: "#", "- # -",
# "Side #", "Side # af 17", "# / 9", "#/49".
_PAGE_LABEL = re.compile(r"^\W*#\W*$|\b(?:side|page|s\.)\s*#|#\s*(?:/|af|of)\s*\d", re.IGNORECASE)


# A line that is only a page's own number, said as one: "Side 2", "Page 2", "- 2 -", "2 / 9",
# "Side 2 af 9". A bare "2" only as a page's last line (a footer); "§ 1" is a heading.
_OWN_PAGE_LABEL = re.compile(
    r"^(?:(?:side|page|s\.)\s*(\d{1,4})(?:\s*(?:/|af|of)\s*\d{1,4})?|-\s*(\d{1,4})\s*-|(\d{1,4})\s*(?:/|af|of)\s*\d{1,4})$",
    re.IGNORECASE,
)
_BARE_NUMBER = re.compile(r"^(\d{1,4})$")


def _drop_own_page_numbers(pages: list[str]) -> list[str]:
    """A document too short to tell its running lines (under 3 pages) still prints its page
    numbers: "Side 1" at the foot of the school page ran into the next page's heading ("…
    distriktsskolen. Side 1 SFO Skolefritidsordningen …") in passages, prompts and quotes.
    Only a line at a page's edge that is that page's own number goes."""
    cleaned = []
    for index, text in enumerate(pages):
        lines = text.split("\n")
        edges = _edges(lines)
        last = max(edges, default=None)
        changed = False
        for i, line in edges.items():
            match = _OWN_PAGE_LABEL.match(line) or (_BARE_NUMBER.match(line) if i == last else None)
            if match and int(next(g for g in match.groups() if g)) == index + 1:
                lines[i] = ""
                changed = True
        cleaned.append(_MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip() if changed else text)
    return cleaned


def _running_key(line: str) -> str:
    """A line as a running header compares: its numbers do not count."""
    return _DIGITS.sub("#", line.lower())


def _edges(lines: list[str]) -> dict[int, str]:
    """The first and last RUNNING_LINE_EDGE non-empty lines of a page (by their index in
    `lines`), whitespace normalised."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if len(filled) < 2:  # a page of one line has no header: its line is the content ("Side 041 ok" in a form)
        return {}
    return {i: " ".join(lines[i].split()) for i in filled[:RUNNING_LINE_EDGE] + filled[-RUNNING_LINE_EDGE:]}


def _running_forms(found: dict[int, set[str]], need: float) -> set[str]:
    """The forms of one line (same but for its numbers) that run through the document, given
    its forms on each page (by 0-based page index): a form that is the same on at least
    `need` pages; and forms that differ only by a page number — a number that counts the
    pages, printed as one ("Side 3 af 17" on page 3, "Side 4 af 17" on page 4) — on at least
    `need` pages. Numbers that change otherwise (prices) and numbered headings ("Afsnit 1" …
    "Afsnit 4") are content."""
    same: dict[str, set[int]] = {}
    counted: dict[tuple[int, str], set[int]] = {}  # (page number - page index, rest of the line) -> pages
    forms_of: dict[tuple[int, str], set[str]] = {}
    for index, lines in found.items():
        for line in lines:
            same.setdefault(line, set()).add(index)
            for match in _DIGITS.finditer(line):
                if len(match.group(0)) <= 5:
                    key = (int(match.group(0)) - index, line[: match.start()] + "#" + line[match.end() :])
                    counted.setdefault(key, set()).add(index)
                    forms_of.setdefault(key, set()).add(line)
    forms = {line for line, on in same.items() if len(on) >= need}
    for key, on in counted.items():
        if len(on) >= need and _PAGE_LABEL.search(key[1]):
            forms |= forms_of[key]
    return forms


def drop_running_lines(pages: list[str]) -> list[str]:
    """Each page's text without the headers and footers the document repeats on most pages.

    Only the first and last RUNNING_LINE_EDGE lines of a page are candidates, so a heading
    or a table header that recurs in the body stays; documents under 3 pages are left alone.
    A running line is kept where it first appears: a header often holds the document's date
    or its author ("Digital Identity ApS"), which a question may ask about.
    """
    if len(pages) < 3:
        return _drop_own_page_numbers(pages)
    need = max(3, RUNNING_LINE_SHARE * len(pages))
    page_lines = [text.split("\n") for text in pages]
    by_key: dict[str, dict[int, set[str]]] = {}
    for index, lines in enumerate(page_lines):
        for line in _edges(lines).values():
            if len(line) <= RUNNING_LINE_MAX_CHARS:
                by_key.setdefault(_running_key(line), {}).setdefault(index, set()).add(line)
    running: set[str] = set()
    for found in by_key.values():
        if len(found) >= need:
            running |= _running_forms(found, need)
    if not running:
        return pages
    cleaned = []
    said: set[str] = set()  # each running line stays where it first appears: the document says it once
    for lines in page_lines:
        edges = _edges(lines)
        kept = []
        for i, line in enumerate(lines):
            if edges.get(i) in running:
                key = _running_key(edges[i])
                if key in said:
                    continue
                said.add(key)
            kept.append(line)
        cleaned.append(_MANY_NEWLINES.sub("\n\n", "\n".join(kept)).strip())
    return cleaned
