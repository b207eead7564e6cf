"""OCR for scanned PDFs: pages rendered with pypdfium2, read by Tesseract's Danish model.

Tesseract is a system program (Debian: `apt-get install tesseract-ocr tesseract-ocr-dan`),
so OCR is used when it is there and reported as missing when it is not; a scanned PDF is
then skipped with that reason instead of being indexed as empty.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from functools import lru_cache
from io import BytesIO
from pathlib import Path

INSTALL_HINT = "install Tesseract for OCR: apt-get install tesseract-ocr tesseract-ocr-dan"
RENDER_SCALE = 300 / 72  # 300 dpi: Tesseract's sweet spot for printed text
# PDFium is not thread-safe and ingest reads two files at a time: every in-process call holds this.
PDFIUM_LOCK = threading.Lock()


class OcrUnavailable(Exception):
    """Tesseract (or its Danish model) is not installed."""


@lru_cache(maxsize=1)
def tesseract_languages() -> tuple[str, ...]:
    binary = shutil.which("tesseract")
    if binary is None:
        return ()
    try:
        listed = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in listed.splitlines()[1:] if line.strip())


def ocr_language() -> str:
    """'dan' (with English as fallback script) when installed; raises OcrUnavailable otherwise."""
    langs = tesseract_languages()
    if not langs:
        raise OcrUnavailable(f"scanned PDF and no Tesseract; {INSTALL_HINT}")
    if "dan" not in langs:
        raise OcrUnavailable(f"scanned PDF and Tesseract has no Danish model; {INSTALL_HINT}")
    return "dan+eng" if "eng" in langs else "dan"


def ocr_pdf_pages(path: Path, page_numbers: list[int], timeout_per_page: float = 120.0) -> dict[int, str]:
    """OCR the given 1-based pages of a PDF; returns page → raw text."""
    import pypdfium2 as pdfium

    language = ocr_language()
    texts: dict[int, str] = {}
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(str(path))
    try:
        for number in page_numbers:
            with PDFIUM_LOCK:
                page = pdf[number - 1]
                image = page.render(scale=RENDER_SCALE, grayscale=True).to_pil()
                page.close()
            buffer = BytesIO()
            image.save(buffer, format="PNG")
            # Tesseract runs outside the lock: another reader thread may render meanwhile.
            result = subprocess.run(
                ["tesseract", "stdin", "stdout", "-l", language, "--psm", "3"],
                input=buffer.getvalue(), capture_output=True, timeout=timeout_per_page,
            )
            texts[number] = result.stdout.decode("utf-8", errors="replace")
    finally:
        with PDFIUM_LOCK:
            pdf.close()
    return texts
