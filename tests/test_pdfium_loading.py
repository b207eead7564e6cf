"""PDF text through pdfium in a limited child process, with pypdf behind it (issue 21)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from conftest import shared_pdf

sys.path.insert(0, str(Path(__file__).parent))
import hostile  # noqa: E402

from ragcli import loading  # noqa: E402
from ragcli.cleaning import clean_text  # noqa: E402
from ragcli.loading import DocumentError, load_document  # noqa: E402


def test_pdfium_reads_danish_text_and_pages(tmp_path):
    path = hostile.write(tmp_path, "d.pdf", hostile.text_pdf(["Blåbærgrød på øen Ærø.", "Side to: Åbningstider i Fjordby."]))
    doc = load_document(path, "d.pdf")
    assert [p.text for p in doc.pages] == ["Blåbærgrød på øen Ærø.", "Side to: Åbningstider i Fjordby."]


def test_pdfium_line_end_hyphen_and_unmapped_ligature_are_repaired_like_pypdf():
    # U+FFFE is pdfium's mark for a hyphen at a line end (it also drops the line break).
    assert clean_text("Bevillingen budget\ufffelægges i 2026") == "Bevillingen budgetlægges i 2026"
    assert clean_text("udviklings\ufffeog drift") == "udviklings-\nog drift"
    # The real file maps the "fi" ligature glyph to nothing; pdfium says so with code 0.
    doc = load_document(shared_pdf("sds_ehdsi_driftshaandbog.pdf"), "sds.pdf")
    text = "\n".join(p.text for p in doc.pages)
    assert "konfigurere" in text and "\ufffe" not in text and "\x00" not in text


def test_a_child_that_aborts_on_a_bomb_falls_back_to_pypdf_limits_and_the_next_file_reads(tmp_path, monkeypatch):
    # Under 150 MB pdfium's allocation for the 80 MB stream fails and it aborts (SIGABRT):
    # in the ingest process that would end the ingest; in the child it is one file's skip.
    monkeypatch.setattr(loading, "PDFIUM_MEMORY_BYTES", 150 << 20)
    loading._PDFIUM.stop()
    bomb = hostile.write(tmp_path, "bombe.pdf", hostile.bomb_pdf())
    good = hostile.write(tmp_path, "god.pdf", hostile.text_pdf(["Affald sorteres i ti fraktioner i Fjordby Kommune."]))
    with pytest.raises(DocumentError, match="safety limits"):
        load_document(bomb, "bombe.pdf")
    assert load_document(good, "god.pdf").pages[0].text.startswith("Affald sorteres")
    loading._PDFIUM.stop()


def test_a_file_past_the_wall_clock_limit_is_a_one_line_skip_and_the_child_is_replaced(tmp_path, monkeypatch):
    good = hostile.write(tmp_path, "god.pdf", hostile.text_pdf(["Skoledagen starter kl. 8.00 for alle elever."]))
    monkeypatch.setattr(loading, "PDFIUM_WALL_SECONDS", 0.0)
    monkeypatch.setattr(loading, "PDFIUM_WALL_SECONDS_PER_PAGE", 0.0)
    started = time.monotonic()
    with pytest.raises(DocumentError, match="too long to read") as info:
        load_document(good, "god.pdf")
    assert "\n" not in str(info.value) and time.monotonic() - started < 10
    monkeypatch.undo()
    assert load_document(good, "god.pdf").pages[0].text.startswith("Skoledagen")


def test_page_text_is_cut_at_the_per_page_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "PDFIUM_MAX_PAGE_CHARS", 40)
    path = hostile.write(tmp_path, "lang.pdf", hostile.text_pdf(["Fjordby Kommune " * 200]))
    text = load_document(path, "lang.pdf").pages[0].text
    assert 20 <= len(text) <= 40
