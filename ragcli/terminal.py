"""Output safety: nothing from a document, a file name or a question can drive the terminal.

Text a person reads goes through `printable`: control characters (C0 and C1, DEL) other
than newline and tab, invisible format characters (zero-width, bidi overrides and
isolates), line/paragraph separators and lone surrogates (undecodable bytes) are shown
as visible escapes (`\\x1b`, `\\u202e`), so an escape sequence in a file name cannot set
the window title or clear the screen, and an RTL override cannot reverse a line.

`SafeConsole` is the one place every rich rendering passes: it applies `printable` to
each segment of text just before it is written (styles and rich's own cursor controls,
which are not text, pass as they are). Renderers also build cells with `plain()`, which
escapes the same way before layout (so table widths are right) and keeps rich markup in
data as literal text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment
from rich.text import Text

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ALLOWED = frozenset("\n\t")
# Fast path: plain printable ASCII and Latin-1 letters need no look-up per character.
_SAFE_RUN = re.compile(r"[\n\t\x20-\x7e\u00a0-\u00ac\u00ae-\u05ff]*")


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def is_unsafe(char: str) -> bool:
    return char not in _ALLOWED and unicodedata.category(char) in _UNSAFE_CATEGORIES


def printable(text: str) -> str:
    """text with every character that could act on a terminal shown as a visible escape."""
    if _SAFE_RUN.fullmatch(text):
        return text
    return "".join(_escape(c) if is_unsafe(c) else c for c in text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code > 0xFFFF:  # JSON writes a character beyond the BMP as its surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def json_line(data: object) -> str:
    """data as one line of JSON, non-ASCII letters as they are but every character that could
    act on a terminal escaped (`\\u202e`): json.dumps escapes C0 controls, not C1 ones, bidi
    overrides or a lone surrogate (which would not even encode), and `--json` is read on
    terminals too. The same JSON to a parser."""
    text = json.dumps(data, ensure_ascii=False)
    if _SAFE_RUN.fullmatch(text):
        return text
    return "".join(_json_escape(c) if is_unsafe(c) else c for c in text)


def plain(text: object, style: str = "") -> Text:
    """A rich Text of data: escaped, and never parsed as markup."""
    return Text(printable(str(text)), style=style)


def file_name(name: str) -> str:
    """A file name for a line or a table cell: printable, with newline and tab escaped too (a
    name may hold them, and a raw line break in a table cell fakes a row of its own)."""
    return printable(name).replace("\n", "\\n").replace("\t", "\\t")


class SafeConsole(Console):
    """A rich Console that escapes unsafe characters in every piece of text it writes."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:  # noqa: D401 - rich's hook
        return super()._render_buffer(
            segment if segment.control else Segment(printable(segment.text), segment.style, segment.control)
            for segment in buffer
        )
