"""Text of PDF pages through pdfium, in a child process that ragcli.loading starts.

pdfium (C++) reads text ~25x faster than pypdf, but it has no decompression limits and a
hostile file can make it allocate without bound; when an allocation fails it aborts the
whole process (std::bad_alloc, SIGABRT), which in the ingest process would end the ingest.
So it never runs there: loading.py starts this file as a script (``python -I
pdfium_text.py MEMORY_BYTES PACKAGE_ROOT``), which caps its own address space before reading anything,
and sends it one request per line. Whatever goes wrong in here (MemoryError, an abort, a
segfault, an endless page) ends this process only; loading.py starts a new one and reads
that file with pypdf (which has decompression limits) or skips it.

Protocol (ragcli/child_process.py): stdin gets one JSON object a line, {"path": ..., "max_chars": N, "cpu": S};
stdout answers each with one JSON line, {"pages": [text or null, ...]} or {"error": "..."}.
For OCR, {"render": path, "pages": [n, ...], "scale": X, "max_pixels": P, "dir": D, "cpu": S}
draws those pages as grayscale PNGs in D and answers {"files": {"n": path, ...}}.
null marks a page pdfium could not read (loading.py reads that page with pypdf). A page's
text is cut at max_chars characters: millions of glyphs on a page are not prose worth
indexing. S seconds of CPU time per file (RLIMIT_CPU, raised before each file), on top of
the wall-clock limit the parent keeps.

This file imports nothing from ragcli but child_process (the standard library only), so that
starting it costs only Python and pdfium.
"""

from __future__ import annotations

import json
import sys


def _unmapped_as_nul(textpage, text: str) -> str:
    """pdfium writes U+FFFE both for a hyphen at a line end (char code 2) and for a glyph
    without a Unicode mapping (code 0; in Danish PDFs mostly the "fi" ligature:
    "kon\ufffegurere"). Give the second back as U+0000, as pypdf does, so cleaning repairs
    it the same way; U+FFFE stays for the hyphen (cleaning turns it into "-\n")."""
    if "\ufffe" not in text:
        return text
    import pypdfium2.raw as pdfium_c

    chars = list(text)
    utf16 = 0  # pdfium counts UTF-16 units: a character past U+FFFF is two of them
    for index, char in enumerate(chars):
        if char == "\ufffe" and pdfium_c.FPDFText_GetUnicode(textpage, utf16) == 0:
            chars[index] = "\x00"
        utf16 += 2 if ord(char) > 0xFFFF else 1
    return "".join(chars)


def extract(path: str, max_chars: int) -> list[str | None]:
    import pypdfium2 as pdfium

    pages: list[str | None] = []
    document = pdfium.PdfDocument(path)
    try:
        for index in range(len(document)):
            try:
                page = document[index]
                textpage = page.get_textpage()
                count = textpage.count_chars()
                text = textpage.get_text_range(0, min(count, max_chars)) if count > 0 else ""
                pages.append(_unmapped_as_nul(textpage, text))
                textpage.close()
                page.close()
            except MemoryError:
                raise
            except Exception:  # noqa: BLE001 - one unreadable page is read by pypdf instead
                pages.append(None)
    finally:
        document.close()
    return pages


def render(path: str, numbers: list[int], scale: float, max_pixels: int, folder: str) -> dict[str, str]:
    """Grayscale PNGs of the 1-based pages, for OCR: page number → file in `folder`. A page is
    drawn smaller than `scale` when it would exceed `max_pixels` (a hostile MediaBox)."""
    import math
    import os

    import pypdfium2 as pdfium

    files: dict[str, str] = {}
    document = pdfium.PdfDocument(path)
    try:
        for number in numbers:
            page = document[number - 1]
            width, height = page.get_size()
            fitted = min(scale, 0.999 * math.sqrt(max_pixels / max(width * height, 1.0)))  # pdfium rounds up
            image = page.render(scale=fitted, grayscale=True).to_pil()
            page.close()
            out = os.path.join(folder, f"page-{number}.png")
            image.save(out, format="PNG")
            files[str(number)] = out
    finally:
        document.close()
    return files


def main(argv: list[str]) -> int:
    sys.path.insert(0, argv[1])  # the parent's ragcli, installed or not (see child_process.ChildWorker)
    from ragcli.child_process import child_setup, cpu_seconds

    child_setup(argv)
    import pypdfium2  # noqa: F401 - loaded once, before the first request, not inside its time

    for line in sys.stdin:
        request = json.loads(line)
        cpu_seconds(int(request["cpu"]))
        try:
            if "render" in request:
                files = render(request["render"], request["pages"], float(request["scale"]), int(request["max_pixels"]), request["dir"])
                answer = {"files": files}
            else:
                answer = {"pages": extract(request["path"], int(request["max_chars"]))}
        except MemoryError:
            answer = {"error": "memory limit"}
        except Exception as exc:  # noqa: BLE001 - reported in one line, the parent falls back to pypdf
            answer = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        sys.stdout.write(json.dumps(answer, ensure_ascii=True) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
