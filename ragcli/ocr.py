"""OCR for scanned PDFs: pages rendered with pypdfium2, read by Tesseract's Danish model.

Tesseract is a system program (Debian: `apt-get install tesseract-ocr tesseract-ocr-dan`),
so OCR is used when it is there and reported as missing when it is not; a scanned PDF is
then skipped with that reason instead of being indexed as empty.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

INSTALL_HINT = "install Tesseract for OCR: apt-get install tesseract-ocr tesseract-ocr-dan"
RENDER_SCALE = 300 / 72  # 300 dpi: Tesseract's sweet spot for printed text


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


def ocr_pdf_pages(
    path: Path, page_numbers: list[int], render: Callable[[Path, list[int], float, Path], dict[int, Path]],
    timeout_per_page: float = 120.0, stop: threading.Event | None = None,
) -> dict[int, str]:
    """OCR the given 1-based pages of a PDF; returns page → raw text.

    `render(path, pages, scale, folder)` draws the pages as PNG files in `folder` (ingest passes
    the pdfium child's renderer, so a hostile scan cannot exhaust ingest's own memory). Once
    `stop` is set, Tesseract is ended and OcrStopped raised: a 300-page scan must not hold up an
    interrupted ingest."""
    language = ocr_language()
    texts: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="ragcli-ocr-") as folder:
        for number in page_numbers:  # one page at a time: its image is on disk only while read
            if stop is not None and stop.is_set():
                raise OcrStopped("stopped")
            for drawn, image in render(path, [number], RENDER_SCALE, Path(folder)).items():
                texts[drawn] = _tesseract(image, language, timeout_per_page, stop)
                image.unlink(missing_ok=True)
    return texts


class OcrStopped(Exception):
    """OCR was abandoned because the ingest that asked for it is stopping."""


def _tesseract(image: Path, language: str, seconds: float, stop: threading.Event | None) -> str:
    process = subprocess.Popen(
        ["tesseract", str(image), "stdout", "-l", language, "--psm", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                out, _ = process.communicate(timeout=0.2)
                return out.decode("utf-8", errors="replace")
            except subprocess.TimeoutExpired:
                if stop is not None and stop.is_set():
                    raise OcrStopped("stopped") from None
                if time.monotonic() > deadline:
                    raise
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
