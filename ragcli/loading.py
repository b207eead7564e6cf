"""Reading documents into Pages.

PDFs are read page by page with pypdf; plain text and Markdown files are read as a
single page. Every failure is turned into a DocumentError with a one-line reason so
that ingest can report it and carry on with the other files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ragcli.cleaning import clean_text
from ragcli.schema import Page

SUPPORTED_SUFFIXES = (".pdf", ".txt", ".md", ".html", ".htm")

# A page with fewer characters than this after cleaning counts as having no text layer.
MIN_TEXT_CHARS = 20


class DocumentError(Exception):
    """A document that cannot be read; the message is a one-line reason."""


@dataclass(frozen=True)
class LoadedDocument:
    doc: str
    path: Path
    title: str
    pages: list[Page]


def find_documents(folder: Path) -> list[Path]:
    """All supported files under folder, in a stable order (hidden files skipped)."""
    found = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found)


def load_document(path: Path, doc_name: str) -> LoadedDocument:
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _load_pdf(path, doc_name)
    if suffix in (".txt", ".md"):
        return _load_text(path, doc_name)
    if suffix in (".html", ".htm"):
        return _load_text(path, doc_name, html=True)
    raise DocumentError(f"unsupported file type {suffix!r}")


def html_to_text(markup: str) -> tuple[str, str]:
    """Visible text and <title> of an HTML page; scripts, styles and markup dropped."""
    from html.parser import HTMLParser

    class _Text(HTMLParser):
        BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table"}

        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.title = ""
            self._skip = 0
            self._in_title = False

        def handle_starttag(self, tag, attrs):
            if tag in ("script", "style", "noscript", "template"):
                self._skip += 1
            elif tag == "title":
                self._in_title = True
            elif tag in self.BLOCK:
                self.parts.append("\n")

        def handle_endtag(self, tag):
            if tag in ("script", "style", "noscript", "template") and self._skip:
                self._skip -= 1
            elif tag == "title":
                self._in_title = False
            elif tag in self.BLOCK:
                self.parts.append("\n")

        def handle_data(self, data):
            if self._in_title:
                self.title += data
            elif not self._skip:
                self.parts.append(data)

    parser = _Text()
    parser.feed(markup)
    return "".join(parser.parts), parser.title.strip()


def _load_text(path: Path, doc_name: str, html: bool = False) -> LoadedDocument:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read file: {exc.strerror or exc}") from None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        decoded = raw.decode("cp1252", errors="replace")
    html_title = ""
    if html:
        decoded, html_title = html_to_text(decoded)
    text = clean_text(decoded)
    if len(text) < MIN_TEXT_CHARS:
        raise DocumentError("no text")
    title = html_title or next((line.lstrip("# ").strip() for line in text.splitlines() if line.strip()), path.stem)
    page = Page(doc=doc_name, path=str(path.resolve()), page=1, text=text, title=title)
    return LoadedDocument(doc=doc_name, path=path, title=title, pages=[page])


def _load_pdf(path: Path, doc_name: str) -> LoadedDocument:
    import pypdf
    from pypdf.errors import PdfReadError

    # pypdf logs recoverable structure problems as warnings; they are not the user's
    # business unless the file really fails, which we report ourselves.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        if path.stat().st_size == 0:
            raise DocumentError("empty file (0 bytes)")
        with path.open("rb") as handle:
            if not handle.read(1024).lstrip().startswith(b"%PDF"):
                raise DocumentError("not a PDF (no %PDF header)")
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise DocumentError("encrypted PDF (password required)")
            except DocumentError:
                raise
            except Exception:  # noqa: BLE001 - pypdf raises several types for unsupported crypto
                raise DocumentError("encrypted PDF (cannot decrypt)") from None
        n_pages = len(reader.pages)
        if n_pages == 0:
            raise DocumentError("PDF has zero pages")
        pages_text = [clean_text(page.extract_text() or "") for page in reader.pages]
        meta_title = ""
        try:
            if reader.metadata and reader.metadata.title:
                meta_title = str(reader.metadata.title).strip()
        except Exception:  # noqa: BLE001 - broken metadata must not sink a readable PDF
            meta_title = ""
    except DocumentError:
        raise
    except PermissionError:
        raise DocumentError("permission denied") from None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DocumentError(f"corrupt PDF: {reason}") from None

    empty = [i + 1 for i, t in enumerate(pages_text) if len(t) < MIN_TEXT_CHARS]
    ocr_used = False
    if empty and len(empty) * 2 >= n_pages:
        # Mostly image pages: a scan. Read those pages with OCR when Tesseract is there.
        from ragcli.ocr import OcrUnavailable, ocr_pdf_pages

        try:
            for number, text in ocr_pdf_pages(path, empty).items():
                pages_text[number - 1] = clean_text(text)
            ocr_used = True
        except OcrUnavailable as exc:
            raise DocumentError(f"no text layer (scanned PDF); {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a renderer/OCR failure is this file's problem only
            raise DocumentError(f"no text layer and OCR failed: {exc}") from None
    if sum(len(t) for t in pages_text) < MIN_TEXT_CHARS:
        raise DocumentError("no text layer (scanned PDF?)" + (" and OCR found no text" if ocr_used else ""))
    first_line = next((ln for t in pages_text for ln in t.splitlines() if len(ln) > 3), "")
    title = meta_title or first_line[:120] or path.stem
    resolved = str(path.resolve())
    pages = [
        Page(doc=doc_name, path=resolved, page=i + 1, text=text, title=title)
        for i, text in enumerate(pages_text)
    ]
    return LoadedDocument(doc=doc_name, path=path, title=title, pages=pages)
