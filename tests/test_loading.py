"""Loading real PDFs, and every kind of broken file, into Pages or one-line errors."""

from __future__ import annotations

import io

import pypdf
import pytest
from conftest import shared_pdf

from ragcli.loading import DocumentError, find_documents, load_document


def test_real_pdf_loads_page_by_page_with_title():
    doc = load_document(shared_pdf("aarhus_naar_dit_barn_gaar_i_skole.pdf"), "skole.pdf")
    assert [p.page for p in doc.pages] == [1, 2]
    assert all(p.doc == "skole.pdf" for p in doc.pages)
    assert "skole" in doc.pages[0].text.lower()
    assert doc.title


def test_scanned_pdf_without_ocr_is_reported_as_without_text_layer(monkeypatch):
    from ragcli import ocr

    monkeypatch.setattr(ocr, "tesseract_languages", lambda: ())
    with pytest.raises(DocumentError, match="no text layer"):
        load_document(shared_pdf("SCANNED_randers_jordtip_procesdiagram.pdf"), "scan.pdf")
    with pytest.raises(DocumentError, match="apt-get install tesseract-ocr"):
        load_document(shared_pdf("SCANNED_randers_jordtip_procesdiagram.pdf"), "scan.pdf")


def _good_pdf_bytes() -> bytes:
    return shared_pdf("aarhus_naar_dit_barn_gaar_i_skole.pdf").read_bytes()


def test_broken_files_give_one_line_reasons(tmp_path):
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    fake = tmp_path / "fake.pdf"
    fake.write_text("dette er ikke en pdf", encoding="utf-8")
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(_good_pdf_bytes()[:3000])
    cases = {empty: "empty file", fake: "not a PDF", truncated: "corrupt PDF"}
    for path, reason in cases.items():
        with pytest.raises(DocumentError) as info:
            load_document(path, path.name)
        assert reason in str(info.value)
        assert "\n" not in str(info.value)


def test_encrypted_pdf_with_password_is_skipped_and_empty_password_is_tried(tmp_path):
    reader = pypdf.PdfReader(io.BytesIO(_good_pdf_bytes()))
    for password, should_load in (("hemmelig", False), ("", True)):
        writer = pypdf.PdfWriter()
        for page in reader.pages:
            writer.add_page(page)
        writer.encrypt(user_password=password, owner_password="ejer", algorithm="RC4-128")
        path = tmp_path / f"enc_{bool(password)}.pdf"
        with path.open("wb") as handle:
            writer.write(handle)
        if should_load:
            assert len(load_document(path, path.name).pages) == 2
        else:
            with pytest.raises(DocumentError, match="encrypted"):
                load_document(path, path.name)


def test_text_and_markdown_files(tmp_path):
    (tmp_path / "noter.md").write_text("# Noter\n\nBiblioteket åbner kl. 10.", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("Affald sorteres i ti fraktioner.", encoding="utf-8")
    (tmp_path / ".skjult.txt").write_text("skjult", encoding="utf-8")
    (tmp_path / "billede.png").write_bytes(b"\x89PNG")
    found = find_documents(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["noter.md", "sub/a.txt"]
    doc = load_document(found[0], "noter.md")
    assert doc.title == "Noter"
    assert "kl. 10" in doc.pages[0].text


def test_a_text_file_is_read_by_its_byte_order_mark_and_a_nul_is_no_ligature(tmp_path):
    text = "Tilskud til foreninger søges inden 1. marts. Ansøgningen behandles på fire uger."
    for encoding in ("utf-16", "utf-16-be", "utf-32", "utf-8-sig"):  # Notepad's "Unicode" is UTF-16 with a mark
        path = tmp_path / f"{encoding}.txt"
        raw = text.encode(encoding)
        path.write_bytes(raw if encoding in ("utf-16", "utf-32", "utf-8-sig") else b"\xfe\xff" + raw)
        assert load_document(path, path.name).pages[0].text == text, encoding  # was "ÿþTfiifilskud…"
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"NUL\x00 tegn i en tekstfil, som ikke er en PDF med ligaturer.")
    assert load_document(nul, "nul.txt").pages[0].text.startswith("NUL tegn")  # not "NULfi tegn"
    nul.write_bytes("NUL\x00 tegn i en tekstfil med et byte-order mark foran.".encode("utf-8-sig"))
    assert load_document(nul, "nul.txt").pages[0].text.startswith("NUL tegn")


def test_a_text_file_too_large_is_skipped_with_one_line(tmp_path, monkeypatch):
    import ragcli.loading as loading

    monkeypatch.setattr(loading, "MAX_TEXT_FILE_BYTES", 1000)  # the real cap is 64 MB
    big = tmp_path / "log.txt"
    big.write_text("Linje i en logfil. " * 100)
    with pytest.raises(DocumentError, match=r"too large \(0 MB; at most 0 MB\)"):
        load_document(big, "log.txt")
