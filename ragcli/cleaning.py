"""Danish-aware clean-up of text extracted from PDFs.

pypdf gives us text with the layout's line breaks, words hyphenated across lines
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
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
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
    text = _CONTROL.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = _LINE_BREAK_HYPHEN.sub(r"\1\2", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def flatten(text: str) -> str:
    """Join lines into running text (for snippets and prompts)."""
    return re.sub(r"\s+", " ", text).strip()
