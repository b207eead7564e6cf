"""Highlighted source pages: where in the PDF each cited sentence is, marked for the reader.

For each cited page of a PDF source, `annotate` writes DIR/<doc>-s<page>.pdf: that page
copied from the original (which is only ever read), with a real PDF highlight annotation
over every source sentence that supports an answer sentence, and the answer sentence as
the annotation's note. The geometry comes from pypdfium2's character boxes; pypdf
writes the annotations. `png=True` also renders each written page to PNG.

A span that cannot be found on the page (a scanned page read by OCR has no character
boxes; a source that is not a PDF has no pages to mark) is reported in one line and
skipped; nothing fails because a highlight cannot be drawn.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

from ragcli.errors import UsageError
from ragcli.results_file import replace_whole

HIGHLIGHT_COLOUR = "ffeb3b"  # a marker-pen yellow
PNG_SCALE = 2.0  # 144 dpi: readable on screen, small on disk
# A fuzzy match must cover this share of the quote's letters and digits, within this stretch.
MIN_FUZZY_SHARE = 0.85
MAX_FUZZY_STRETCH = 1.5
MAX_FUZZY_PAGE = 50_000


@dataclass
class AnnotationReport:
    files: list[Path] = field(default_factory=list)  # highlighted PDFs written
    pngs: list[Path] = field(default_factory=list)
    highlights: list[dict] = field(default_factory=list)  # {"doc", "page", "file", "quads", "note"}
    not_highlighted: list[str] = field(default_factory=list)  # one line each: what and why


def _safe_stem(doc: str) -> str:
    """A file name from a document name: no folders, no odd characters, bounded."""
    # composed first: a Mac's "Bo\u0308rnehave.pdf" had become "Bo_rnehave-s2.pdf"
    doc = unicodedata.normalize("NFC", doc)
    stem = doc[: -len(Path(doc).suffix)] if Path(doc).suffix else doc
    stem = re.sub(r"[^\w.-]+", "_", stem.replace("/", "_").replace("\\", "_")).strip("._") or "dokument"
    return stem[:120]


def _normalise_chars(chars: list[str]) -> tuple[str, list[int]]:
    """Letters and digits only, case-folded, compatibility-decomposed (ligatures become
    letters), each with the index of the character it came from. pypdf and pdfium cut
    lines, hyphens and spaces differently; the letters are what both agree on."""
    out: list[str] = []
    where: list[int] = []
    for index, char in enumerate(chars):
        for piece in unicodedata.normalize("NFKC", char).casefold():
            if piece.isalnum():
                out.append(piece)
                where.append(index)
    return "".join(out), where


def find_in_page(page_chars: list[str], quote: str) -> tuple[int, int] | None:
    """First and last character index (inclusive) on the page of the quote, or None."""
    from ragcli.record import MASK, span_of_parts

    page_norm, where = _normalise_chars(page_chars)
    parts = [p for p in (_normalise_chars(list(part))[0] for part in quote.split(MASK)) if p]
    if not parts or not page_norm:
        return None
    quote_norm = "".join(parts)
    if len(parts) == 1:
        at = page_norm.find(quote_norm)
        if at >= 0:
            return where[at], where[at + len(quote_norm) - 1]
    else:
        # A masked CPR number in the quote: the parts in order, a few characters apart (found
        # in linear time: a table of CPR numbers had made a lazy regex backtrack for minutes).
        span = span_of_parts(parts, [(0, 20)] * (len(parts) - 1), page_norm)
        if span:
            return where[span[0]], where[span[1] - 1]
    if len(page_norm) > MAX_FUZZY_PAGE:
        return None  # a page of a hundred thousand letters is a table dump; no quadratic search in it
    # Extraction differs in detail (a footnote mark, a dropped ligature): accept a close match.
    matcher = SequenceMatcher(None, page_norm, quote_norm, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size >= 4]
    if not blocks:
        return None
    # The densest run of blocks in page order that covers most of the quote.
    best = None
    for i in range(len(blocks)):
        matched = 0
        for j in range(i, len(blocks)):
            stretch = blocks[j].a + blocks[j].size - blocks[i].a
            if stretch > MAX_FUZZY_STRETCH * len(quote_norm):
                break
            matched += blocks[j].size
            if matched >= MIN_FUZZY_SHARE * len(quote_norm) and (best is None or stretch < best[1] - best[0]):
                best = (blocks[i].a, blocks[j].a + blocks[j].size)
    if best is None:
        return None
    return where[best[0]], where[best[1] - 1]


def line_rects(boxes: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Character boxes (left, bottom, right, top) merged into one rectangle per text line."""
    rects: list[list[float]] = []
    for left, bottom, right, top in boxes:
        if right - left <= 0 or top - bottom <= 0:
            continue  # spaces and generated line breaks have no box
        if rects:
            current = rects[-1]
            height = min(top - bottom, current[3] - current[1])
            overlap = min(top, current[3]) - max(bottom, current[1])
            if overlap >= 0.5 * height and left >= current[0] - 2:
                current[0], current[1] = min(current[0], left), min(current[1], bottom)
                current[2], current[3] = max(current[2], right), max(current[3], top)
                continue
        rects.append([left, bottom, right, top])
    return [tuple(r) for r in rects]  # type: ignore[misc]


def quad_points(rects: list[tuple[float, float, float, float]]) -> list[float]:
    """QuadPoints as PDF viewers read them: per rectangle upper-left, upper-right, lower-left, lower-right."""
    points: list[float] = []
    for left, bottom, right, top in rects:
        points += [left, top, right, top, left, bottom, right, bottom]
    return points


def _page_chars(textpage) -> list[str]:
    import pypdfium2.raw as pdfium_c

    return [chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, i) or 0x20) for i in range(textpage.count_chars())]


def ocr_words(page) -> list[tuple[str, tuple[int, int, int], tuple[float, float, float, float]]]:
    """Tesseract's words on a scanned page: (text, line key, box in PDF coordinates).

    The page is rendered and read exactly as ingest's OCR does (ragcli.ocr: same scale,
    language and page segmentation), so the words are the ones the index holds.
    """
    import subprocess
    from io import BytesIO

    from ragcli.ocr import RENDER_SCALE, ocr_language

    language = ocr_language()
    image = page.render(scale=RENDER_SCALE, grayscale=True).to_pil()
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    result = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", language, "--psm", "3", "tsv"],
        input=buffer.getvalue(), capture_output=True, timeout=120,
    )
    left_edge, _, _, top_edge = page.get_cropbox()
    words = []
    for row in result.stdout.decode("utf-8", errors="replace").splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        block, paragraph, line = int(cells[2]), int(cells[3]), int(cells[4])
        x, y, width, height = (int(v) for v in cells[6:10])
        # Pixels from the top-left of the rendered crop box → PDF points from the bottom-left.
        box = (
            left_edge + x / RENDER_SCALE, top_edge - (y + height) / RENDER_SCALE,
            left_edge + (x + width) / RENDER_SCALE, top_edge - y / RENDER_SCALE,
        )
        words.append((cells[11], (block, paragraph, line), box))
    return words


def _locate_ocr(page, quote: str) -> list[tuple[float, float, float, float]] | None:
    """Line rectangles of the quote among Tesseract's words on a scanned page, or None."""
    if page.get_rotation() % 360:
        return None  # the rendered image is turned; its pixel boxes are not the page's coordinates
    words = ocr_words(page)
    chars: list[str] = []
    owner: list[int] = []
    for number, (text, _, _) in enumerate(words):
        chars += list(text) + [" "]
        owner += [number] * (len(text) + 1)
    found = find_in_page(chars, quote)
    if found is None:
        return None
    lines: dict[tuple[int, int, int], list[float]] = {}
    for number in range(owner[found[0]], owner[found[1]] + 1):
        _, key, (left, bottom, right, top) = words[number]
        rect = lines.setdefault(key, [left, bottom, right, top])
        rect[:] = [min(rect[0], left), min(rect[1], bottom), max(rect[2], right), max(rect[3], top)]
    return [tuple(r) for r in lines.values()]  # type: ignore[misc]


def _locate(pdf, span: dict) -> tuple[int, list[tuple[float, float, float, float]]] | str:
    """The page (1-based) and line rectangles of the span's quote, or why there are none."""
    first, last = span.get("passage_pages") or [span["page"], span["page"]]
    order = [span["page"]] + [p for p in range(int(first), int(last) + 1) if p != span["page"]]
    scanned = []
    for number in order:
        if not 1 <= number <= len(pdf):
            continue
        page = pdf[number - 1]
        textpage = page.get_textpage()
        try:
            chars = _page_chars(textpage)
            if sum(c.isalnum() for c in chars) < 20:
                scanned.append(number)
                rects = _scanned_rects(page, span["quote"])
                if rects:
                    return number, rects
                continue
            found = find_in_page(chars, span["quote"])
            if found is None:
                continue
            end = found[1]
            # The sentence's closing punctuation belongs to the mark (letters are what was matched).
            while end + 1 < len(chars) and chars[end + 1] in ".,;:!?)]”\"'":
                end += 1
            boxes = [textpage.get_charbox(i) for i in range(found[0], end + 1)]
        finally:
            textpage.close()
            page.close()
        rects = line_rects(boxes)
        if rects:
            return number, rects
    if scanned and len(scanned) == len([n for n in order if 1 <= n <= len(pdf)]):
        return f"s. {span['page']} er en skannet side; citatet blev ikke fundet blandt Tesseracts ord (eller Tesseract mangler); kan ikke markeres"
    return f"citatet blev ikke fundet på s. {span['page']} i PDF'ens tekstlag; kan ikke markeres"


def _scanned_rects(page, quote: str) -> list[tuple[float, float, float, float]] | None:
    """A scanned page's highlight from Tesseract's word boxes; None where OCR is missing or fails."""
    from ragcli.ocr import OcrUnavailable

    try:
        return _locate_ocr(page, quote)
    except (OcrUnavailable, OSError, ValueError, subprocess.SubprocessError):
        return None


def _open_pdfium(path: Path):
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(str(path))


def annotate(record: dict, out_dir: Path, png: bool = False) -> AnnotationReport:
    """Write a highlighted copy of every cited PDF page in the record (ragcli.record) to out_dir."""
    import pypdf
    from pypdf.annotations import Highlight
    from pypdf.generic import ArrayObject, FloatObject, NameObject, TextStringObject

    from ragcli.record import source_path

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    report = AnnotationReport()
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--annotate {out_dir} er ikke en mappe")
    if out_dir.is_symlink() and not out_dir.exists():  # mkdir had said only "File exists"
        raise UsageError(f"--annotate {out_dir} er et link til en mappe, der ikke findes")
    sources = {s["doc"]: s for s in record.get("sources", [])}
    # Group the highlights per (document, page): one output file per cited page.
    # (two files whose names mask alike, "sag_[skjult].pdf", are told apart by their hash)
    pages: dict[tuple[str, object, int], tuple[Path, list[tuple[dict, list]]]] = {}
    for span in record.get("spans", []):
        doc = span["doc"]
        label = f"{doc}, {span.get('location') or 's. ' + str(span['page'])}"
        path = source_path(span if span.get("path") else sources.get(doc) or span)
        if path.suffix.lower() != ".pdf":
            report.not_highlighted.append(f"{label}: ikke en PDF; citatet står i optegnelsen, men kan ikke markeres")
            continue
        if not path.is_file():
            report.not_highlighted.append(f"{label}: kildefilen findes ikke længere ({path})")
            continue
        try:
            pdf = _open_pdfium(path)
        except Exception as exc:  # noqa: BLE001 - a source that changed into something unreadable
            report.not_highlighted.append(f"{label}: PDF'en kan ikke åbnes ({type(exc).__name__})")
            continue
        try:
            found = _locate(pdf, span)
        finally:
            pdf.close()
        if isinstance(found, str):
            report.not_highlighted.append(f"{doc}: {found}")
            continue
        number, rects = found
        pages.setdefault((doc, span.get("sha256"), number), (path, []))[1].append((span, rects))  # the file as found
    if not pages:
        return report
    out_dir.mkdir(parents=True, exist_ok=True)
    for (doc, _, number), (path, marks) in pages.items():
        try:
            reader = pypdf.PdfReader(str(path))
            if reader.is_encrypted:
                reader.decrypt("")
            writer = pypdf.PdfWriter()
            writer.add_page(reader.pages[number - 1])
            # The copy keeps the original's page number, so a viewer shows "6", not "1".
            writer.set_page_label(0, 0, style="/D", start=number)
            writer.add_metadata({"/Creator": COPY_CREATOR})  # how a later run knows its own copy
        except Exception as exc:  # noqa: BLE001 - pdfium read the page, pypdf could not copy it: this page only
            report.not_highlighted.append(f"{doc}: s. {number} kan ikke kopieres ({type(exc).__name__})")
            continue
        for span, rects in marks:
            points = quad_points(rects)
            rect = (min(r[0] for r in rects), min(r[1] for r in rects), max(r[2] for r in rects), max(r[3] for r in rects))
            annotation = Highlight(
                rect=rect, quad_points=ArrayObject(FloatObject(round(v, 3)) for v in points),
                highlight_color=HIGHLIGHT_COLOUR, printing=True,
            )
            note = f"[{span['source']}] {span['answer_sentence']}"
            annotation[NameObject("/Contents")] = TextStringObject(note)
            annotation[NameObject("/T")] = TextStringObject("ragcli")
            writer.add_annotation(page_number=0, annotation=annotation)
            report.highlights.append({"doc": doc, "page": number, "quads": rects, "note": note})
        target = _free_name(out_dir, f"{_safe_stem(doc)}-s{number}", png, report.files)
        replace_whole(target, writer.write)
        picture = target.with_suffix(".png")
        if not png and _our_picture(picture):
            picture.unlink()  # an earlier run's picture of the copy now replaced
        for highlight in report.highlights:
            if highlight["doc"] == doc and highlight["page"] == number:
                highlight.setdefault("file", str(target))
        report.files.append(target)
        if png:
            report.pngs.append(render_png(target, target.with_suffix(".png")))
    return report


COPY_CREATOR = "ragcli --annotate"


def _marked_ours(path: Path, mark_of) -> bool:
    """Did an earlier run write `path`: a plain file (no link) whose mark, as mark_of reads
    it, is COPY_CREATOR? Anything unreadable is not ours."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        return mark_of(path) == COPY_CREATOR
    except Exception:  # noqa: BLE001 - a file of any kind may stand there
        return False


def _our_copy(path: Path) -> bool:
    """A highlighted copy an earlier run wrote (its PDF creator says so)."""
    import pypdf

    return _marked_ours(path, lambda p: (pypdf.PdfReader(str(p)).metadata or {}).get("/Creator"))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _our_picture(path: Path) -> bool:
    """A PNG an earlier run drew (its PNG text says so)."""
    from PIL import Image

    def software(p: Path):
        with Image.open(p) as image:
            return image.info.get("Software")

    return _marked_ours(path, software)


def _free_name(out_dir: Path, stem: str, png: bool, written: list[Path]) -> Path:
    """A name in out_dir that only an earlier copy of ours has, or nothing: an annotation
    folder may be the documents' own folder, and "rot-s1.pdf" there can be an original (it
    had been overwritten without a word). A name taken by anything else, a link included,
    gives the same stem with -2, -3 …; asking again replaces its own copies, but not one
    `written` in this run ("a/b.pdf" and "a_b.pdf", or two "sag_[skjult].pdf", share a name)."""

    def taken(path: Path) -> bool:
        picture = path.with_suffix(".png")
        if os.path.lexists(path) and (not _our_copy(path) or any(_same_file(path, done) for done in written)):
            return True  # (the same file under another name too: "Referat" and "referat" on macOS)
        return png and os.path.lexists(picture) and not _our_picture(picture)

    target = out_dir / f"{stem}.pdf"
    number = 2
    while taken(target):
        target = out_dir / f"{stem}-{number}.pdf"
        number += 1
    return target


def render_png(pdf_path: Path, png_path: Path, scale: float = PNG_SCALE) -> Path:
    """The first page of pdf_path as PNG, highlights drawn (pdfium draws annotations). Written
    whole and in place of the name, never through a link there to a file elsewhere."""
    pdf = _open_pdfium(pdf_path)
    try:
        page = pdf[0]
        image = page.render(scale=scale, may_draw_forms=True).to_pil()
        page.close()
    finally:
        pdf.close()
    from PIL.PngImagePlugin import PngInfo

    mark = PngInfo()
    mark.add_text("Software", COPY_CREATOR)  # how a later run knows its own picture
    replace_whole(png_path, lambda handle: image.save(handle, format="PNG", optimize=True, pnginfo=mark))
    return png_path


def open_files(paths: list[Path]) -> str | None:
    """Open the highlighted pages in the desktop's PDF viewer; a message where that cannot be done."""
    if not paths:
        return None
    if sys.platform == "darwin":
        opener = shutil.which("open")
    else:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return "ingen skærm (DISPLAY er ikke sat); åbn selv: " + ", ".join(str(p) for p in paths)
        opener = shutil.which("xdg-open")
    if opener is None:
        return "xdg-open findes ikke; åbn selv: " + ", ".join(str(p) for p in paths)
    for path in paths:
        # Each copy holds one page, so the viewer opens on the cited page without a #page anchor.
        subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return None


def export_evidence(
    session, answer, params, record_path: Path | None, annotate_dir: Path | None, png: bool = False, open_pages: bool = False
) -> list[str]:
    """What `ask --record/--annotate/--png/--open` do after an answer; returns one line per outcome.

    The record and the highlights come from the same cited spans (ragcli.record), read
    from the index as stored, so the PDF marks exactly what the record quotes.
    """
    from ragcli.record import build_record, facts_from_session, raw_chunks_from, write_record

    if record_path is None and annotate_dir is None:
        return []
    record = build_record(answer, facts_from_session(session, params), raw_chunks_from(session.index))
    lines: list[str] = []
    if record_path is not None:
        write_record(record, record_path)
        spans, sources = len(record["spans"]), len(record["sources"])
        lines.append(
            f"Optegnelse: {record_path} ({spans} {'citeret sted' if spans == 1 else 'citerede steder'}, "
            f"{sources} {'kilde' if sources == 1 else 'kilder'})"
        )
    if annotate_dir is not None:
        if not record["spans"]:
            lines.append("Markering: svaret citerer ingen kilde; intet at markere")
            return lines
        try:
            report = annotate(record, annotate_dir, png=png)
        except OSError as exc:  # the answer and its record stand; the pages could not be marked
            where = f": {exc.filename}" if exc.filename else ""
            lines.append(f"Ikke markeret: siderne kunne ikke skrives eller læses ({exc.strerror or exc}{where})")
            return lines
        for path in report.files:
            marks = sum(1 for h in report.highlights if h.get("file") == str(path))
            lines.append(f"Markeret: {path} ({marks} markering{'er' if marks != 1 else ''})")
        lines += [f"PNG: {p}" for p in report.pngs]
        lines += [f"Ikke markeret: {line}" for line in report.not_highlighted]
        if open_pages:
            message = open_files(report.files)
            if message:
                lines.append(f"--open: {message}")
    return lines


def chat_export(session, answer, params, command: str, argument: str) -> list[str]:
    """`/annotate MAPPE [--png]` and `/record FIL.json|FIL.md` in chat: lines to show; never ends the session."""
    import shlex

    from ragcli.errors import RagcliError

    try:
        # quotes as a shell reads them: '/annotate "/tmp/med mellemrum"' had made a folder named '"'
        words = shlex.split(argument)
    except ValueError:  # an unbalanced quote: the words as typed
        words = argument.split()
    png = "--png" in words
    # "-png", and "—png" (a Mac turns "--" into an em dash), are typos too, not folder names.
    unknown = [w for w in words if w.startswith(("-", "\u2014", "\u2013")) and w != "--png"]
    if unknown:  # "/annotate mappe --pgn" must not go on without the pictures asked for
        return [f"Fejl: ukendt valg {unknown[0]!r}; /annotate tager kun --png"]
    target = " ".join(w for w in words if w != "--png").strip()
    if not target:
        return ["Brug: /annotate MAPPE [--png]" if command == "/annotate" else "Brug: /record FIL.json eller FIL.md"]
    try:
        where = Path(target).expanduser()
    except RuntimeError:  # "~nobody/x": no such user
        return [f"Fejl: {target!r} nævner en ukendt bruger (mente du ~/…?)"]
    try:
        if command == "/annotate":
            return export_evidence(session, answer, params, None, where, png=png)
        return export_evidence(session, answer, params, where, None)
    except RagcliError as exc:  # worded for the command line: in chat, the user typed the chat command
        return [f"Fejl: {exc}".replace("--record", "/record").replace("--annotate", "/annotate")]
    except OSError as exc:
        return [f"Fejl: {exc.strerror or exc}: {exc.filename or target}"]
