"""Office formats on real files: .docx (python-docx), .odt (odfpy) and .eml (stdlib email)
written here with the real libraries, loaded, ingested into a small index, searched and cited;
hostile ones (a zip bomb, a truncated archive, a mail nested a thousand deep) skipped with one line.
"""

from __future__ import annotations

import re
import zipfile
from email.message import EmailMessage
from pathlib import Path

import docx
import pytest
from odf.opendocument import OpenDocumentText
from odf.text import H, P

from ragcli import office
from ragcli.loading import DocumentError, load_document, scan_folder

PERMIT = "Kommunen har givet tilladelse til carporten på Skovvej 12. Tilladelsen gælder i et år."
LICENCE = "En beboerlicens koster 600 kr. om året og gælder i zone B."


def make_docx(path: Path) -> Path:
    document = docx.Document()
    document.core_properties.title = "Vejledning om beboerparkering"
    document.add_heading("Beboerlicens i midtbyen", level=1)
    document.add_paragraph("Beboere i midtbyen kan søge om en beboerlicens til én bil pr. husstand.")
    document.add_heading("Takster", level=1)
    document.add_paragraph(LICENCE)
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Zone", (0, 1): "Pris", (1, 0): "B", (1, 1): "600 kr."}.items():
        table.cell(row, col).text = text
    document.save(str(path))
    return path


def make_odt(path: Path) -> Path:
    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Åbningstider på Hovedbiblioteket"))
    document.text.addElement(P(text="Hovedbiblioteket har åbent alle hverdage fra kl. 8 til kl. 20."))
    document.text.addElement(H(outlinelevel=1, text="Lån af lokaler"))
    document.text.addElement(P(text="Foreninger kan låne mødelokaler gratis efter aftale med personalet."))
    document.save(str(path))
    return path


def make_eml(path: Path, attachment: bytes) -> Path:
    message = EmailMessage()
    message["Subject"] = "Afgørelse om byggetilladelse"
    message["From"] = "byg@fjordby.dk"
    message["To"] = "borger@example.dk"
    message["Date"] = "Mon, 3 Nov 2025 10:00:00 +0100"
    message.set_content(f"Kære borger\n\n{PERMIT}\n")
    # Hostile names: only ever shown, never a path on disk.
    message.add_attachment(
        attachment, maintype="application", subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="../../vilkår.docx",
    )
    message.add_attachment("Vilkår: Carporten må højst være 3 meter høj.".encode(), maintype="text", subtype="plain", filename="C:\\tmp\\noter.txt")
    message.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream", filename="program.exe")
    path.write_bytes(bytes(message))
    return path


def nested_eml(path: Path, depth: int = 1000) -> Path:
    opening = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth))
    closing = "".join(f"--b{i}--\n" for i in reversed(range(depth)))
    path.write_text(f"From: a@b.dk\nSubject: dyb\nMIME-Version: 1.0\n{opening}Content-Type: text/plain\n\nhej med dig\n{closing}")
    return path


def zip_bomb(path: Path, megabytes: int) -> Path:
    """A .docx-shaped zip whose text part unpacks to `megabytes` of zeros (about 1/1000 on disk)."""
    block = b"\0" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as handle:
            for _ in range(megabytes):
                handle.write(block)
    return path


def test_docx_is_read_in_sections_that_start_at_headings(tmp_path):
    loaded = load_document(make_docx(tmp_path / "vejledning.docx"), "vejledning.docx")
    assert loaded.title == "Vejledning om beboerparkering"
    assert [p.page for p in loaded.pages] == [1, 2]
    assert loaded.pages[0].text.startswith("Beboerlicens i midtbyen\nBeboere i midtbyen")
    assert loaded.pages[1].text == f"Takster\n{LICENCE}\nZone | Pris\nB | 600 kr."


def test_odt_is_read_in_sections_that_start_at_headings(tmp_path):
    loaded = load_document(make_odt(tmp_path / "bibliotek.odt"), "bibliotek.odt")
    assert [p.text.split("\n")[0] for p in loaded.pages] == ["Åbningstider på Hovedbiblioteket", "Lån af lokaler"]
    assert "kl. 8 til kl. 20" in loaded.pages[0].text and loaded.title == "Åbningstider på Hovedbiblioteket"


def test_eml_body_then_each_readable_attachment(tmp_path):
    mail = make_eml(tmp_path / "brev.eml", make_docx(tmp_path / "bilag.docx").read_bytes())
    before = sorted(p.name for p in tmp_path.rglob("*"))
    loaded = load_document(mail, "brev.eml")
    assert loaded.title == "Afgørelse om byggetilladelse"
    texts = [p.text for p in loaded.pages]
    assert texts[0].startswith("Emne: Afgørelse om byggetilladelse\nFra: byg@fjordby.dk") and PERMIT in texts[0]
    # The .docx attachment's two sections, then the text file; the .exe is not read.
    assert texts[1].startswith("Bilag: vilkår.docx\nBeboerlicens i midtbyen") and LICENCE in texts[2]
    assert texts[3] == "Bilag: noter.txt\nVilkår: Carporten må højst være 3 meter høj."
    assert len(texts) == 4
    # Nothing was written beside the mail (or above it) under the attachments' names.
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert not (tmp_path.parent / "vilkår.docx").exists()


def test_scan_folder_finds_office_files(tmp_path):
    make_docx(tmp_path / "a.docx")
    make_odt(tmp_path / "b.ODT")
    (tmp_path / "c.eml").write_text("Subject: x\n\nhej")
    (tmp_path / "d.doc").write_bytes(b"old")
    assert [p.name for p in scan_folder(tmp_path)[0]] == ["a.docx", "b.ODT", "c.eml"]


def _one_line_error(path: Path) -> str:
    with pytest.raises(DocumentError) as caught:
        load_document(path, path.name)
    message = str(caught.value)
    assert message and "\n" not in message and len(message) < 240
    return message


def test_hostile_and_broken_office_files_fail_with_one_line(tmp_path, monkeypatch):
    good = make_docx(tmp_path / "god.docx").read_bytes()
    (tmp_path / "halv.docx").write_bytes(good[: len(good) // 2])
    assert "corrupt DOCX" in _one_line_error(tmp_path / "halv.docx")
    (tmp_path / "tom.odt").write_bytes(b"")
    assert "empty" in _one_line_error(tmp_path / "tom.odt")
    (tmp_path / "tekst.odt").write_bytes(b"not a zip at all")
    assert "corrupt ODT" in _one_line_error(tmp_path / "tekst.odt")
    (tmp_path / "krypteret.docx").write_bytes(office.OLE_MAGIC + b"\0" * 600)
    assert "encrypted" in _one_line_error(tmp_path / "krypteret.docx")
    # A zip whose text part unpacks to more than the limit (lowered here; the real bomb is in the slow test).
    monkeypatch.setattr(office, "MAX_UNCOMPRESSED", 4 * 1024 * 1024)
    assert "zip bomb" in _one_line_error(zip_bomb(tmp_path / "bombe.docx", 5))
    assert "nested" in _one_line_error(nested_eml(tmp_path / "dyb.eml"))
    monkeypatch.setattr(office, "MAX_FILE_BYTES", 1000)
    assert "too large" in _one_line_error(make_eml(tmp_path / "stor.eml", good))
    # An attachment that is itself broken leaves the mail readable.
    monkeypatch.setattr(office, "MAX_FILE_BYTES", 64 * 1024 * 1024)
    loaded = load_document(make_eml(tmp_path / "brev.eml", good[:100]), "brev.eml")
    assert [p.text.split("\n")[0] for p in loaded.pages] == ["Emne: Afgørelse om byggetilladelse", "Bilag: noter.txt"]


def test_record_names_an_office_section_by_its_heading(tmp_path):
    from test_record import facts, scripted_answer

    from ragcli.annotate import annotate
    from ragcli.record import build_record, verify_record

    source = make_docx(tmp_path / "vejledning.docx")
    answer, doc = scripted_answer(source, "vejledning.docx", LICENCE, "En beboerlicens koster 600 kr. om året.")
    record = build_record(answer, facts(doc))
    [span] = record["spans"]
    assert span["quote"] == LICENCE and span["page"] == 2 and span["location"] == "afsnit 2 (Takster)"
    assert verify_record(record).ok
    report = annotate(record, tmp_path / "markeret")
    assert report.files == [] and "ikke en PDF" in report.not_highlighted[0]


# ---------------------------------------------------------------- ingested into a real index (slow)


@pytest.fixture(scope="module")
def office_index(tmp_path_factory, minilm):
    from conftest import TEST_EMBED_MODEL

    from ragcli.session import ingest

    folder = tmp_path_factory.mktemp("office")
    docs = folder / "docs"
    docs.mkdir()
    make_docx(docs / "vejledning.docx")
    make_odt(docs / "bibliotek.odt")
    make_eml(docs / "brev.eml", make_docx(folder / "bilag.docx").read_bytes())
    good = (docs / "vejledning.docx").read_bytes()
    (docs / "halv.docx").write_bytes(good[: len(good) // 2])
    zip_bomb(docs / "bombe.docx", 300)  # the real limit: 300 MB of zeros in a 300 kB file
    nested_eml(docs / "dyb.eml")
    mail = EmailMessage()
    mail["Subject"] = "Ansøgning om tilskud"
    mail.set_content("Hermed min ansøgning om tilskud til foreningens sommerlejr.")
    mail.add_attachment(office.OLE_MAGIC + b"\0" * 600, maintype="application", subtype="octet-stream", filename="ansøgning.docx")
    (docs / "ansøgning.eml").write_bytes(bytes(mail))  # an encrypted .docx attached
    for name in ("budget.xlsx", "slides.pptx", "gammel.doc", "tabel.xlsx"):
        (docs / name).write_bytes(b"PK\x03\x04 not read")
    report = ingest(docs, "office", home=folder / "indexes", embed_model=TEST_EMBED_MODEL)
    return folder / "indexes", report


def test_office_files_are_ingested_and_hostile_ones_skipped_with_one_line(office_index):
    _, report = office_index
    assert sorted(report.added) == ["ansøgning.eml", "bibliotek.odt", "brev.eml", "vejledning.docx"]
    reasons = {s.doc: s.reason for s in report.skipped}
    assert set(reasons) == {"halv.docx", "bombe.docx", "dyb.eml"}
    assert "corrupt DOCX" in reasons["halv.docx"] and "zip bomb" in reasons["bombe.docx"] and "nested" in reasons["dyb.eml"]
    assert all("\n" not in r for r in reasons.values())


def test_office_files_are_searched_and_cited(office_index):
    from test_decision import Scripted

    from ragcli.answering import AskParams, answer_question
    from ragcli.record import build_record, facts_from_session, raw_chunks_from
    from ragcli.retrieval import RetrievalParams
    from ragcli.session import Session

    home, _ = office_index
    with Session.open("office", home, mode="lexical") as session:
        hits = session.search("Hvad koster en beboerlicens?", k=3)
        assert hits[0].chunk.doc in ("vejledning.docx", "brev.eml") and "600 kr." in hits[0].chunk.text
        hits = session.search("Hvornår har Hovedbiblioteket åbent?", k=1)
        assert hits[0].chunk.doc == "bibliotek.odt" and hits[0].chunk.page_start == 1
        hits = session.search("Hvor høj må carporten være?", k=1)
        assert hits[0].chunk.doc == "brev.eml" and "3 meter" in hits[0].chunk.text
        answer = answer_question(
            "Hvornår har Hovedbiblioteket åbent?", session.index, None,
            Scripted("Hovedbiblioteket har åbent alle hverdage fra kl. 8 til kl. 20 [1]."),
            AskParams(retrieval=RetrievalParams(mode="lexical", k=3), prefer_quote=False),
        )
        assert answer.decision == "answered"
        assert answer.retrieval_trace == {"mode": "lexical"}  # --explain had shown "Resultater ()"
        assert [c.doc for c in answer.citations if c.cited] == ["bibliotek.odt"]
        # The record names the section that holds the sentence, by its heading.
        record = build_record(answer, facts_from_session(session), raw_chunks_from(session.index))
    [span] = record["spans"]
    assert span["doc"] == "bibliotek.odt" and span["location"] == "afsnit 1 (Åbningstider på Hovedbiblioteket)"
    assert span["quote"] == "Hovedbiblioteket har åbent alle hverdage fra kl. 8 til kl. 20."


def test_a_docx_without_core_properties_is_titled_by_its_first_line_not_word_document(tmp_path):
    # Word for the web and many converters write no docProps/core.xml; python-docx then makes
    # up "Word Document", which had become every such file's title.
    made = make_docx(tmp_path / "made.docx")
    bare = tmp_path / "bare.docx"
    with zipfile.ZipFile(made) as source, zipfile.ZipFile(bare, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename == "docProps/core.xml":
                continue
            data = source.read(item)
            if item.filename == "_rels/.rels":
                data, dropped = re.subn(rb"<Relationship [^>]*docProps/core\.xml[^>]*/>", b"", data)
                assert dropped == 1
            target.writestr(item, data)
    assert docx.Document(str(bare)).core_properties.title == "Word Document"
    assert load_document(bare, "bare.docx").title == "Beboerlicens i midtbyen"
    assert load_document(made, "made.docx").title == "Vejledning om beboerparkering"


def test_an_attachment_name_with_nul_characters_loses_them_and_gains_no_ligature():
    assert office.attachment_label("kon\x00trakt.pdf") == "kontrakt.pdf"
    assert office.attachment_label("..\\..\\\x00noter.txt") == "noter.txt"
    assert office.attachment_label("\x00") == "bilag"


def test_a_table_row_keeps_equal_values_gives_a_merged_cell_once_and_masks_a_cpr_number_across_cells(tmp_path):
    document = docx.Document()
    document.add_paragraph("Takster og ansøgere for boligstøtte i Fjordby Kommune, 2025.")
    table = document.add_table(rows=4, cols=4)
    rows = [
        ["Vuggestue", "3.200 kr.", "3.200 kr.", "3.400 kr."],  # February's price is January's
        ["Friplads", "Ja", "Ja", "Nej"],
        ["Jens Hansen", "150585", "4321", "bevilget"],  # a CPR number in two cells
    ]
    for r, values in enumerate(rows):
        for c, text in enumerate(values):
            table.cell(r, c).text = text
    merged = table.cell(3, 0).merge(table.cell(3, 1))  # one cell spanning two grid places
    merged.text = "I alt"
    table.cell(3, 2).text = "9.800 kr."
    boxes = document.add_table(rows=1, cols=10)  # a paper form's digit boxes
    for c, digit in enumerate("1505854321"):
        boxes.cell(0, c).text = digit
    path = tmp_path / "takster.docx"
    document.save(str(path))

    lines = load_document(path, path.name).pages[0].text.splitlines()
    assert "Vuggestue | 3.200 kr. | 3.200 kr. | 3.400 kr." in lines
    assert "Friplads | Ja | Ja | Nej" in lines
    assert "I alt | 9.800 kr." in lines
    from ragcli.privacy import mask_cpr

    shown = [mask_cpr(line) for line in lines]
    assert "Jens Hansen | [skjult] | bevilget" in shown and "[skjult]" in shown
    assert not any(re.search(r"\d{4}", line) for line in shown if "[skjult]" in line)


def test_cells_that_only_look_like_numbers_are_not_run_together():
    assert office._row_text(["Antal", "3", "12", "45", "7"]) == "Antal | 3 | 12 | 45 | 7"
    assert office._row_text(["12", "34", "5", "6"]) == "12 | 34 | 5 | 6"
    assert office._row_text(["Sag", "150585", "-", "4321"]) == "Sag | 150585-4321"


def _docx_with(path: Path, **parts: str) -> Path:
    """A real .docx (python-docx's own) with some of its XML parts replaced."""
    document = docx.Document()
    document.add_paragraph("Afgørelse om boligstøtte fra Fjordby Kommune.")
    base = tmp = path.with_suffix(".base.docx")
    document.save(str(base))
    with zipfile.ZipFile(tmp) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item, parts.get(item.filename, source.read(item.filename)))
    tmp.unlink()
    return path


W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def test_a_docx_that_needs_gigabytes_to_parse_costs_the_parsers_child_not_ingest(tmp_path, monkeypatch):
    """A few hundred KB that unpack to millions of empty elements in the styles part (read
    up front by python-docx): 4.9 GB in ingest's own process before; now the child's limit."""
    styles = f'<?xml version="1.0"?><w:styles {W}><w:style w:type="paragraph" w:styleId="X"><w:rPr>' + "<w:b/>" * 5_000_000 + "</w:rPr></w:style></w:styles>"
    path = _docx_with(tmp_path / "stilbombe.docx", **{"word/styles.xml": styles})
    assert path.stat().st_size < 300_000
    monkeypatch.setattr(office, "_OFFICE", office.ChildWorker("office_child.py", 300 << 20))
    monkeypatch.setattr(office, "OFFICE_MEMORY_BYTES", 300 << 20)
    try:
        assert "too large to read (over 300 MB of memory" in _one_line_error(path)
        # the next file gets a new child
        assert load_document(make_docx(tmp_path / "god.docx"), "god.docx").title == "Vejledning om beboerparkering"
    finally:
        office._OFFICE.stop()


def test_a_docx_that_takes_minutes_to_parse_is_refused_at_the_time_limit(tmp_path, monkeypatch):
    """Two million empty paragraphs in 19 KB had taken 160 s; the time limit is lowered here."""
    body = f'<?xml version="1.0"?><w:document {W}><w:body>' + "<w:p/>" * 1_000_000 + "<w:p><w:r><w:t>Slut.</w:t></w:r></w:p></w:body></w:document>"
    path = _docx_with(tmp_path / "afsnit.docx", **{"word/document.xml": body})
    monkeypatch.setattr(office, "OFFICE_CPU_SECONDS", 1)
    assert "takes too long to read" in _one_line_error(path)


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile's, as the hostile file is written
def test_a_docx_with_two_members_of_one_name_or_an_oversized_xml_part_is_refused(tmp_path, monkeypatch):
    good = make_docx(tmp_path / "god.docx")
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(tmp_path / "dobbelt.docx", "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        target.writestr("word/document.xml", f'<w:document {W}><w:body><w:p><w:r><w:t>skjult tekst</w:t></w:r></w:p></w:body></w:document>')
    assert "same name" in _one_line_error(tmp_path / "dobbelt.docx")
    monkeypatch.setattr(office, "MAX_XML_PART", 100_000)
    styles = f'<?xml version="1.0"?><w:styles {W}>' + "<w:b/>" * 30_000 + "</w:styles>"
    assert "XML part too large" in _one_line_error(_docx_with(tmp_path / "stor.docx", **{"word/styles.xml": styles}))


def test_an_e_mail_is_refused_once_its_attachments_pass_the_document_text_limit(tmp_path, monkeypatch):
    """Each attachment was checked alone: 30 attachments of 19 million characters were read (576
    million, 150 s) before the mail was refused. The limit counts the whole mail as it reads."""
    monkeypatch.setattr(office, "MAX_DOCUMENT_CHARS", 5_000)
    message = EmailMessage()
    message["Subject"] = "Mange bilag"
    message["From"] = "a@example.dk"
    message.set_content("Se bilagene.")
    for n in range(30):
        message.add_attachment(("Lang tekst om budgettet. " * 100).encode(), maintype="text", subtype="plain", filename=f"bilag{n}.txt")
    path = tmp_path / "bilag.eml"
    path.write_bytes(bytes(message))
    assert "too much text" in _one_line_error(path)


def test_what_ingest_leaves_out_of_a_folder_or_a_mail_is_said(office_index):
    """An e-mail's attachment that could not be read, and files of kinds ragcli does not read,
    had vanished without a word ("2 dokumenter" for a folder of nine files)."""
    _, report = office_index
    assert [(n.doc, n.note) for n in report.notes] == [
        ("ansøgning.eml", "bilag ansøgning.docx er ikke læst: encrypted or old binary DOCX (password-protected, or .doc saved as DOCX)")
    ]
    assert report.ignored == {".doc": 1, ".pptx": 1, ".xlsx": 2}
    shown = report.to_dict()
    assert shown["notes"] == [{"doc": "ansøgning.eml", "note": report.notes[0].note}] and shown["ignored"] == report.ignored


def test_a_merged_cell_repeated_down_many_rows_is_refused_in_the_child_not_sent_back(tmp_path):
    """python-docx gives a vertically merged cell's text in every row it spans: 38 KB had come
    back from the child as 61 million characters, 18 s of the main process's CPU."""
    document = docx.Document()
    document.add_paragraph("Bilag til budgettet.")
    table = document.add_table(rows=60, cols=2)
    merged = table.cell(0, 0).merge(table.cell(59, 0))
    merged.text = "Budgetramme " * 20_000  # 240,000 characters, given once per row: 14 million
    path = tmp_path / "flettet.docx"
    document.save(str(path))
    assert path.stat().st_size < 100_000
    assert "too much text" in _one_line_error(path)


def test_an_e_mail_past_its_time_keeps_what_it_read_and_names_what_it_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(office, "MAIL_SECONDS", 0)
    loaded = load_document(make_eml(tmp_path / "brev.eml", make_docx(tmp_path / "bilag.docx").read_bytes()), "brev.eml")
    assert loaded.pages[0].text.startswith("Emne: Afgørelse om byggetilladelse") and len(loaded.pages) == 1
    assert loaded.notes == [
        "bilag vilkår.docx er ikke læst: e-mailens tid (0 s) var brugt",
        "bilag noter.txt er ikke læst: e-mailens tid (0 s) var brugt",
    ]  # program.exe is no kind ragcli reads: left out without a note, as in a folder


def test_a_long_attachment_name_is_not_cut_inside_a_cpr_number_and_keeps_its_suffix():
    label = office.attachment_label("afgørelse_" + "x" * 100 + "_150585-4321.pdf")
    assert label.endswith("….pdf") and not any(c.isdigit() for c in label)


def test_a_docx_that_names_a_part_it_lacks_is_read_as_word_reads_it(tmp_path):
    """A converter that names docProps/core.xml in its relationships without writing it: Word
    opens the file, python-docx had refused it whole ("There is no item named …")."""
    made = make_docx(tmp_path / "made.docx")
    lacking = tmp_path / "uden-egenskaber.docx"
    with zipfile.ZipFile(made) as source, zipfile.ZipFile(lacking, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename != "docProps/core.xml":
                target.writestr(item, source.read(item.filename))
    loaded = load_document(lacking, lacking.name)
    assert LICENCE in "\n".join(p.text for p in loaded.pages)


def test_a_relationship_is_never_matched_across_another_one():
    """A crafted run of "<Relationship " with no end had made the repair quadratic (60 s of the
    child's CPU for a few hundred KB); a match stops at the next "<"."""
    text = '<Relationship Id="a" <Relationship Id="b" Target="media/x.png"/>'
    assert office._RELATIONSHIP.findall(text) == ['<Relationship Id="b" Target="media/x.png"/>']
    assert office._rels_source("word/_rels/document.xml.rels") == "word/document.xml"
