"""Reading documents into Pages.

PDFs: pypdf opens the file (header, encryption, page count, metadata) and pdfium reads
the text, ~25x faster, in a child process with a memory limit (ragcli/pdfium_text.py);
pages pdfium cannot read or finds (nearly) empty are read by pypdf, and so is the whole
file when the child fails. Plain text and Markdown files are read as a single page. Every failure is turned into a DocumentError with a one-line reason so
that ingest can report it and carry on with the other files.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ragcli.child_process import ChildTimeout, ChildWorker, stop_all
from ragcli.cleaning import clean_text, drop_running_lines, flatten
from ragcli.errors import DataError
from ragcli.schema import Page

# .docx, .odt and .eml are read by ragcli/office.py (same one-line DocumentError on failure).
SUPPORTED_SUFFIXES = (".pdf", ".txt", ".md", ".html", ".htm", ".docx", ".odt", ".eml")

# About 4,000 pages of dense text, ~7,000 chunks: minutes of embedding on 2 cores. The
# largest document in the shared corpus holds well under a million characters.
MAX_DOCUMENT_CHARS = 10_000_000

# A document with fewer characters than this after cleaning has no text worth indexing;
# a page with fewer that shows an image is a scanned page (OCR is tried on it).
MIN_TEXT_CHARS = 20


class DocumentError(DataError):
    """A document that cannot be read; the message is a one-line reason."""


@dataclass(frozen=True)
class LoadedDocument:
    doc: str
    path: Path
    title: str
    pages: list[Page]
    notes: list[str] = field(default_factory=list)  # parts left out of a document that was read (an e-mail's attachment)


def scan_folder(
    folder: Path, ignored: Counter | None = None, unreadable: list[Path] | None = None
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Supported files under folder (stable order, hidden ones skipped), and links not followed.
    `ignored` (if given) counts the other files by suffix (".xlsx": 3), for the report;
    `unreadable` (if given) gets the folders that could not be listed (they are also refused):
    what the index holds from them (and from files that could not be looked at) must stay,
    not be pruned as gone. A ragcli index folder is not entered (`ingest .` in a folder that
    holds the index home had walked its own index).

    Symbolic links are followed only when they point inside folder: a link to a file
    elsewhere (another case's folder, /etc/passwd) would index what the user did not
    choose, so it is reported instead. Links to folders are never descended into (a
    link inside folder shows files found anyway; one outside is reported).
    """
    root = folder.resolve()
    found: list[Path] = []
    refused: list[tuple[Path, str]] = []

    def cannot_list(error: OSError) -> None:
        # os.walk left such a folder out without a word, and ingest then dropped its
        # documents from the index as deleted (a folder made unreadable, exit 0)
        where = Path(error.filename) if error.filename else folder
        refused.append((where, f"cannot read folder ({error.strerror or error}); what the index holds from it is kept"))
        if unreadable is not None:
            unreadable.append(where)

    for dirpath, dirnames, filenames in os.walk(folder, onerror=cannot_list):
        base = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not _is_index_folder(base / d))
        for name in list(dirnames):
            path = base / name
            try:
                link = path.is_symlink()
            except OSError as exc:  # a path past the system's limit
                dirnames.remove(name)
                cannot_list(OSError(exc.errno, exc.strerror, str(path)))
                continue
            if link:
                dirnames.remove(name)
                target = _resolved(path)
                if target is None:
                    refused.append((path, "symbolic link that loops (not followed)"))
                elif not target.is_relative_to(root):
                    refused.append((path, "symbolic link to a folder outside the ingested folder (not followed)"))
        for name in filenames:
            path = base / name
            if name.startswith("."):
                continue
            try:
                reason = _refusal(path, root, ignored)
            except OSError as exc:  # a path past the system's limit (4,096 bytes), a folder it may list but not enter
                reason = f"cannot read file ({exc.strerror or type(exc).__name__}); what the index holds from it is kept"
                if unreadable is not None:
                    unreadable.append(path)
            if reason == "":
                found.append(path)
            elif reason is not None:
                refused.append((path, reason))
    return sorted(found), sorted(refused)


def _refusal(path: Path, root: Path, ignored: Counter | None) -> str | None:
    """Why a file under the ingested folder is not read ("" when it is read; None when it is
    left out without a word: a kind ragcli does not read, counted in `ignored`)."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        if ignored is not None:
            # a suffix as a kind of file (".xlsx"), never a name's tail shown as one
            # (".150585-4321", an escape sequence)
            suffix = path.suffix.lower()
            ignored[suffix if _KIND_SUFFIX.fullmatch(suffix) else "(anden)" if suffix else "(uden endelse)"] += 1
        return None
    if path.is_symlink():
        target = _resolved(path)
        if target is None:
            return "symbolic link that loops (not followed)"
        if not target.exists():
            return "broken symbolic link"
        if not target.is_relative_to(root):
            return "symbolic link to a file outside the ingested folder (not followed)"
        if not target.is_file():
            return "not a regular file (a pipe, socket or device)"
    elif not path.is_file():
        # A pipe named "notat.txt" would block the reader; say why it is left out.
        return "not a regular file (a pipe, socket or device)" if path.exists() else None
    if not _utf8(str(path.resolve())):
        # "B\xe6rnehave.txt" from a Windows zip: the index stores names and paths as text
        whose = "file name" if _utf8(str(path.resolve().parent)) else "folder name"
        fix = "convmv -f cp1252 -t utf-8 FILE" if whose == "file name" else "convmv -r -f cp1252 -t utf-8 FOLDER"
        return f"the {whose} is not UTF-8 text; rename it ({fix})"
    return ""


_KIND_SUFFIX = re.compile(r"\.[a-z][a-z0-9]{0,7}")


def _is_index_folder(path: Path) -> bool:
    """A ragcli index (ragcli.store: a manifest.json beside gen-NNNNNN generation folders)."""
    try:
        return (path / "manifest.json").is_file() and any(p.name.startswith("gen-") for p in path.iterdir())
    except OSError:
        return False


def _resolved(path: Path) -> Path | None:
    """Where a link leads, or None for a loop ("a.txt" -> "b.txt" -> "a.txt")."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError for a loop, 3.13 OSError
        return None


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 come back as lone surrogates
        return False
    return True


def find_documents(folder: Path) -> list[Path]:
    """All supported files under folder that ingest reads (see scan_folder)."""
    return scan_folder(folder)[0]


def load_document(path: Path, doc_name: str, stop: threading.Event | None = None) -> LoadedDocument:
    """Read one file into cleaned pages. `stop`, once set, abandons a long OCR between pages
    (ingest sets it when it is interrupted while other files are still being read)."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _load_pdf(path, doc_name, stop)
    if suffix in (".txt", ".md"):
        return _load_text(path, doc_name)
    if suffix in (".html", ".htm"):
        return _load_text(path, doc_name, html=True)
    if suffix in (".docx", ".odt", ".eml"):
        from ragcli.office import load_office

        return load_office(path, doc_name, stop)
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


MAX_TEXT_FILE_BYTES = 64 * 1024 * 1024  # as office files: a 200 MB .txt took 2.2 GB to load

_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16's: they begin alike
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"), (codecs.BOM_UTF8, "utf-8-sig"),
)


def _decode_text(raw: bytes) -> str:
    """A text file's text: by its byte-order mark (Notepad's "Unicode" is UTF-16, which was read
    as cp1252 into "ÿþT\x00e\x00…"), else UTF-8, else cp1252 (older Windows files)."""
    encoding = next((encoding for mark, encoding in _BYTE_ORDER_MARKS if raw.startswith(mark)), None)
    if encoding is not None:
        decoded = raw.decode(encoding, errors="replace")
    else:
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded = raw.decode("cp1252", errors="replace")
    # a NUL in a text file is no PDF's lost "fi" ligature, which clean_text would put back
    return decoded.replace("\x00", "")


def _load_text(path: Path, doc_name: str, html: bool = False) -> LoadedDocument:
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_FILE_BYTES:
            raise DocumentError(f"too large ({size // (1024 * 1024)} MB; at most {MAX_TEXT_FILE_BYTES // (1024 * 1024)} MB)")
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read file: {exc.strerror or exc}") from None
    decoded = _decode_text(raw)
    html_title = ""
    if html:
        decoded, html_title = html_to_text(decoded)
    text = clean_text(decoded)
    if len(text) < MIN_TEXT_CHARS:
        raise DocumentError("no text")
    first_line = next((line.lstrip("# ").strip() for line in text.splitlines() if line.strip()), "")
    title = clean_title(html_title) or clean_title(first_line[:1000]) or path.stem
    page = Page(doc=doc_name, path=str(path.resolve()), page=1, text=text, title=title)
    return LoadedDocument(doc=doc_name, path=path, title=title, pages=[page])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def clean_title(raw: str) -> str:
    """A title from metadata or a first line: cleaned like the text, on one line, bounded."""
    return flatten(clean_text(raw))[:200]


def _has_image(page, depth: int = 0) -> bool:
    """Does the page (or a form it draws) show a raster image? Broken resources count as no."""
    try:
        resources = page.get("/Resources") if depth == 0 else page
        resources = resources.get_object() if resources is not None else None
        xobjects = resources.get("/XObject") if resources is not None else None
        if xobjects is None:
            return False
        for ref in xobjects.get_object().values():
            obj = ref.get_object()
            subtype = obj.get("/Subtype")
            if subtype == "/Image":
                return True
            if subtype == "/Form" and depth < 3 and obj.get("/Resources") is not None:
                if _has_image(obj.get("/Resources"), depth + 1):
                    return True
    except Exception:  # noqa: BLE001 - a broken resource dictionary is not an image
        return False
    return False


# The pdfium child (ragcli/pdfium_text.py): its address space, CPU seconds per file, wall
# seconds per file (plus per page), and characters kept per page. 1 GiB holds pdfium on
# any real document (the corpus peaks near 60 MB); a decompression bomb past it aborts the
# child, and pypdf, which stops at 75 MB per stream, then reads the file or refuses it.
PDFIUM_MEMORY_BYTES = 1 << 30
PDFIUM_CPU_SECONDS = 120
PDFIUM_WALL_SECONDS = 60.0
PDFIUM_WALL_SECONDS_PER_PAGE = 1.0
PDFIUM_MAX_PAGE_CHARS = 200_000
# Scanned pages for OCR are drawn at the scale OCR asks for, but never over 60 million
# pixels a page (A4 at 300 dpi is 8.7 million; a page a mile wide is drawn smaller, not
# refused), with 20 s of wall-clock time per page.
OCR_MAX_PIXELS = 60_000_000
OCR_RENDER_WALL_SECONDS_PER_PAGE = 20.0


class _PdfiumWorker(ChildWorker):
    """One long-lived pdfium child for the whole ingest (Python's start-up costs ~0.2 s, more
    than pdfium needs for a typical file); replaced when it fails, times out or dies."""

    def __init__(self) -> None:
        super().__init__("pdfium_text.py", PDFIUM_MEMORY_BYTES)

    def pages(self, path: Path, n_pages: int) -> list[str | None] | None:
        """pdfium's text of each page (None: a page it could not read); None: pdfium failed."""
        request = {"path": str(path), "max_chars": PDFIUM_MAX_PAGE_CHARS, "cpu": PDFIUM_CPU_SECONDS}
        answer = self.ask(request, PDFIUM_WALL_SECONDS + PDFIUM_WALL_SECONDS_PER_PAGE * n_pages)
        return None if "error" in answer else answer["pages"]

    def render(self, path: Path, pages: list[int], scale: float, out_dir: Path) -> dict[int, Path]:
        """Grayscale PNGs of the given 1-based pages, for OCR, rendered in the child: a hostile
        scan (a page a mile wide, an image bomb) meets the child's memory limit, not ingest's.
        Raises OSError when the child could not render them."""
        request = {
            "render": str(path), "pages": pages, "scale": scale, "max_pixels": OCR_MAX_PIXELS,
            "dir": str(out_dir), "cpu": PDFIUM_CPU_SECONDS,
        }
        answer = self.ask(request, PDFIUM_WALL_SECONDS + OCR_RENDER_WALL_SECONDS_PER_PAGE * len(pages))
        if "error" in answer:
            raise OSError("the page images could not be rendered within pdfium's memory limit")
        return {int(number): Path(file) for number, file in answer["files"].items()}


_PDFIUM = _PdfiumWorker()


def stop_reading() -> None:
    """End the parsers' children now (a read in progress fails at once; the next one starts a new child)."""
    stop_all()


def _pdf_text(path: Path, reader, n_pages: int) -> list[str]:
    """Cleaned text of each page: pdfium's, pypdf's where pdfium gives none or next to none.

    A page pdfium finds (nearly) empty is read again by pypdf: some broken font maps only
    pypdf decodes, and pypdf's decompression limits are what refuse a bomb pdfium inflated.
    """
    try:
        raw = _PDFIUM.pages(path, n_pages)
    except ChildTimeout:
        raise DocumentError(
            f"PDF takes too long to read (over {PDFIUM_WALL_SECONDS + PDFIUM_WALL_SECONDS_PER_PAGE * n_pages:.0f} s;"
            " a pathological page?)"
        ) from None
    if raw is None or len(raw) != n_pages:
        raw = [None] * n_pages
    texts = []
    for i, page_raw in enumerate(raw):
        text = clean_text(page_raw) if page_raw else ""
        if len(text) < MIN_TEXT_CHARS:
            fallback = clean_text(reader.pages[i].extract_text() or "")
            if len(fallback) > len(text):
                text = fallback
        texts.append(text)
    return texts


def _load_pdf(path: Path, doc_name: str, stop: threading.Event | None = None) -> LoadedDocument:
    import pypdf
    from pypdf.errors import LimitReachedError, PdfReadError

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
        pages_text = _pdf_text(path, reader, n_pages)
        # Pages without text that show an image: what a scanner makes.
        image_pages = [i + 1 for i, t in enumerate(pages_text) if len(t) < MIN_TEXT_CHARS and _has_image(reader.pages[i])]
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
    except LimitReachedError as exc:
        # A decompression bomb or a page of millions of operators: pypdf stops at its
        # limits (memory stays bounded) and so does this file, not the whole ingest.
        raise DocumentError(f"PDF exceeds pypdf's safety limits (decompression bomb?): {_first_line(exc)}") from None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise DocumentError(f"corrupt PDF: {_first_line(exc)}") from None
    except MemoryError:
        raise DocumentError("PDF too large to read (out of memory)") from None
    except Exception as exc:  # noqa: BLE001 - whatever a hostile file makes pypdf raise is this file's problem only
        raise DocumentError(f"unreadable PDF ({type(exc).__name__}): {_first_line(exc)}") from None

    ocr_used = False
    # Scanned is decided for the document from its text *and* its images: mostly pages that
    # show an image and carry no text. A long PDF with little text on every page and no
    # images (a form, a table of numbers) is indexed as it is, not called a scan.
    if image_pages and len(image_pages) * 2 >= n_pages:
        from ragcli.ocr import OcrUnavailable, ocr_pdf_pages

        try:
            for number, text in ocr_pdf_pages(path, image_pages, _PDFIUM.render, stop=stop).items():
                pages_text[number - 1] = clean_text(text)
            ocr_used = True
        except OcrUnavailable as exc:
            raise DocumentError(f"no text layer (scanned PDF); {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a renderer/OCR failure is this file's problem only
            raise DocumentError(f"no text layer and OCR failed: {exc}") from None
    if sum(len(t) for t in pages_text) < MIN_TEXT_CHARS:
        if ocr_used:
            raise DocumentError("no text layer (scanned PDF) and OCR found no text")
        raise DocumentError("no text layer (scanned PDF?)" if image_pages else "no text (the PDF's pages hold no text)")
    first_line = next((ln for t in pages_text for ln in t.splitlines() if len(ln) > 3), "")
    title = clean_title(meta_title) or clean_title(first_line[:120]) or path.stem
    pages_text = drop_running_lines(pages_text)  # after the title: a running header often names the document
    resolved = str(path.resolve())
    pages = [
        Page(doc=doc_name, path=resolved, page=i + 1, text=text, title=title)
        for i, text in enumerate(pages_text)
    ]
    return LoadedDocument(doc=doc_name, path=path, title=title, pages=pages)
