"""Highlighted source pages on real PDFs: the mark sits on the cited page, over the cited sentence.

The answers are scripted (their sentences copied from real pages), so no language model
runs; pypdf reads back the annotations and pypdfium2 says which characters they cover.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pypdf
import pypdfium2 as pdfium
import pytest
from conftest import shared_pdf
from test_record import AGENDA, P_HOUSES, facts, scripted_answer

from ragcli.annotate import annotate, find_in_page, line_rects, open_files
from ragcli.record import build_record
from ragcli.registry import sha256_file

# A sentence that wraps over two lines, on the second page of a passage that spans pages 11-12.
TWO_LINES = (
    "Radikale Venstre har med beslutningsforslaget lagt op til en række initiativer, der skal modvirke "
    "diskrimination på baggrund af etnicitet i Aarhus."
)


@pytest.fixture()
def agenda(tmp_path) -> Path:
    copy = tmp_path / "kilder" / AGENDA
    copy.parent.mkdir()
    shutil.copyfile(shared_pdf(AGENDA), copy)
    return copy


def _letters(text: str) -> str:
    return re.sub(r"\W", "", text).casefold()


def _quads(annotation) -> list[tuple[float, float, float, float]]:
    points = [float(v) for v in annotation["/QuadPoints"]]
    rects = []
    for i in range(0, len(points), 8):
        xs, ys = points[i : i + 8 : 2], points[i + 1 : i + 8 : 2]
        rects.append((min(xs), min(ys), max(xs), max(ys)))
    return rects


def _sentence_boxes(path: Path, page: int, sentence: str) -> list[tuple[float, float, float, float]]:
    """pypdfium2's boxes of the sentence's letters and digits on the original page."""
    pdf = pdfium.PdfDocument(str(path))
    textpage = pdf[page - 1].get_textpage()
    text = textpage.get_text_range()
    flat = re.sub(r"\s+", " ", text)
    assert sentence in flat, "the test sentence must be on the page"
    # Map the flattened position back to pdfium's character indices.
    index = [i for i, c in enumerate(text) if not (c.isspace() and i > 0 and text[i - 1].isspace())]
    start = flat.index(sentence)
    boxes = [textpage.get_charbox(index[i]) for i in range(start, start + len(sentence)) if flat[i].isalnum()]
    pdf.close()
    return boxes


def _check_highlight(out_file: Path, original: Path, page: int, sentence: str, note: str) -> list:
    reader = pypdf.PdfReader(str(out_file))
    assert len(reader.pages) == 1 and reader.page_labels == [str(page)]
    annotations = [a.get_object() for a in reader.pages[0]["/Annots"]]
    highlights = [a for a in annotations if a["/Subtype"] == "/Highlight" and a.get("/T") == "ragcli"]  # the page may have its own
    assert len(highlights) == 1 and note in highlights[0]["/Contents"]
    rects = _quads(highlights[0])
    # Every letter of the sentence, where pdfium puts it on the original page, lies inside a quad.
    for left, bottom, right, top in _sentence_boxes(original, page, sentence):
        cx, cy = (left + right) / 2, (bottom + top) / 2
        assert any(r[0] - 0.5 <= cx <= r[2] + 0.5 and r[1] - 0.5 <= cy <= r[3] + 0.5 for r in rects)
    # And the text under the quads is the sentence, nothing more.
    pdf = pdfium.PdfDocument(str(original))
    textpage = pdf[page - 1].get_textpage()
    under = " ".join(textpage.get_text_bounded(*r) for r in rects)
    pdf.close()
    assert _letters(under) == _letters(sentence)
    return rects


def test_highlight_sits_on_the_cited_page_over_the_sentence_and_the_original_is_untouched(agenda, tmp_path):
    before = sha256_file(agenda)
    answer, doc = scripted_answer(agenda, AGENDA, P_HOUSES, "Der er altid mindst 500 ledige pladser i p-husene.")
    report = annotate(build_record(answer, facts(doc)), tmp_path / "markeret", png=True)
    assert report.not_highlighted == []
    [out_file] = report.files
    assert out_file == tmp_path / "markeret" / "aarhus_byraad_dagsorden_2025-08-27-s6.pdf"
    rects = _check_highlight(out_file, agenda, 6, P_HOUSES, "Der er altid mindst 500 ledige pladser i p-husene.")
    assert len(rects) == 1
    assert sha256_file(agenda) == before
    # The PNG shows the page with the mark: yellow pixels inside the quad, none far outside.
    from PIL import Image

    [png] = report.pngs
    image = Image.open(png).convert("RGB")
    scale = image.width / 595
    left, bottom, right, top = rects[0]
    inside = image.getpixel((int((left + right) / 2 * scale), int((842 - (bottom + top) / 2) * scale)))
    assert inside[0] > 200 and inside[1] > 200 and inside[2] < 150  # yellow


def test_nothing_already_in_the_folder_is_overwritten_or_written_through(agenda, tmp_path):
    # The annotation folder may be the documents' own: an original named like a copy had been
    # overwritten without a word, and the PNG written through a link to a file elsewhere.
    answer, doc = scripted_answer(agenda, AGENDA, P_HOUSES, "Der er altid mindst 500 ledige pladser i p-husene.")
    out = tmp_path / "markeret"
    stem = "aarhus_byraad_dagsorden_2025-08-27-s6"
    (out / f"{stem}.pdf").mkdir(parents=True)  # a folder where the file goes
    (out / f"{stem}-2.pdf").write_bytes(b"%PDF-1.4 en original")
    victim = tmp_path / "andet.txt"
    victim.write_text("urørt")
    (out / f"{stem}-3.png").symlink_to(victim)
    report = annotate(build_record(answer, facts(doc)), out, png=True)
    assert [p.name for p in report.files] == [f"{stem}-4.pdf"] and [p.name for p in report.pngs] == [f"{stem}-4.png"]
    assert (out / f"{stem}-2.pdf").read_bytes() == b"%PDF-1.4 en original" and victim.read_text() == "urørt"
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())  # no temporary file left
    # asking again replaces its own copy rather than piling up -5, -6 …
    again = annotate(build_record(answer, facts(doc)), out, png=True)
    assert [p.name for p in again.files] == [f"{stem}-4.pdf"]


def test_a_wrapped_sentence_on_the_second_page_of_a_passage(agenda, tmp_path):
    answer, doc = scripted_answer(agenda, AGENDA, TWO_LINES, TWO_LINES)
    chunk = answer.hits[0].chunk
    assert chunk.page_start < chunk.page_end == 12
    record = build_record(answer, facts(doc))
    assert record["spans"][0]["page"] == 12 and record["spans"][0]["quote"].replace("\n", " ") == TWO_LINES
    report = annotate(record, tmp_path / "markeret")
    [out_file] = report.files
    assert out_file.name.endswith("-s12.pdf") and report.pngs == []
    rects = _check_highlight(out_file, agenda, 12, TWO_LINES, TWO_LINES)
    assert len(rects) == 2  # one quad per line


def test_sources_that_cannot_be_highlighted_get_one_line_each(tmp_path, monkeypatch):
    monkeypatch.setattr("ragcli.ocr.tesseract_languages", lambda: ())  # a machine without Tesseract
    scanned = shared_pdf("SCANNED_randers_jordtip_procesdiagram.pdf")
    notes = tmp_path / "notat.txt"
    notes.write_text("Notat\n\nDer er altid mindst 500 ledige pladser i p-husene.\n", encoding="utf-8")
    span = {"source": 1, "answer_sentence": "x", "page": 1, "passage_pages": [1, 1], "quote": "Jordtip anmeldes til kommunen."}
    record = {
        "sources": [
            {"doc": "scan.pdf", "path": str(scanned)},
            {"doc": "notat.txt", "path": str(notes)},
            {"doc": "væk.pdf", "path": str(tmp_path / "væk.pdf")},
        ],
        "spans": [{**span, "doc": "scan.pdf"}, {**span, "doc": "notat.txt"}, {**span, "doc": "væk.pdf"}],
    }
    report = annotate(record, tmp_path / "markeret")
    assert report.files == [] and not (tmp_path / "markeret").exists()
    assert len(report.not_highlighted) == 3
    assert "skannet" in report.not_highlighted[0] and "ikke en PDF" in report.not_highlighted[1]
    assert "findes ikke" in report.not_highlighted[2]


@pytest.mark.slow  # Tesseract reads the page (15 s on 2 busy cores)
def test_a_scanned_page_is_highlighted_from_tesseracts_word_boxes(tmp_path):
    from ragcli.ocr import tesseract_languages

    if "dan" not in tesseract_languages():
        pytest.skip("Tesseract with Danish is not installed")
    scanned = shared_pdf("SCANNED_randers_jordtip_procesdiagram.pdf")
    before = sha256_file(scanned)
    # The words as ingest's OCR reads them: one flowchart box, a word a line.
    span = {
        "doc": "scan.pdf", "source": 1, "answer_sentence": "Miljøafdelingen modtager anmeldelsen.", "page": 1,
        "passage_pages": [1, 1], "quote": "Randers\nKommune\nmiljøafdeling\nmodtager\nanmeldelse",
    }
    report = annotate({"sources": [{"doc": "scan.pdf", "path": str(scanned)}], "spans": [span]}, tmp_path, png=True)
    assert report.not_highlighted == []
    [out_file] = report.files
    annotation = pypdf.PdfReader(str(out_file)).pages[0]["/Annots"][0].get_object()
    assert annotation["/Subtype"] == "/Highlight"
    rects = _quads(annotation)
    assert len(rects) == 5  # one per word line in the box
    width, height = 841.75, 556.62
    assert all(0 < r[0] < r[2] < width and 0 < r[1] < r[3] < height for r in rects)
    # The five lines are stacked in one column, top to bottom.
    assert all(a[1] > b[1] for a, b in zip(rects, rects[1:]))
    from PIL import Image

    image = Image.open(report.pngs[0]).convert("RGB")
    scale = image.width / width
    left, bottom, right, top = rects[2]
    box = image.crop((int(left * scale), int((height - top) * scale), int(right * scale), int((height - bottom) * scale)))
    pixels = [box.getpixel((x, y)) for x in range(box.width) for y in range(box.height)]
    yellow = sum(r > 200 and g > 180 and b < 150 for r, g, b in pixels)
    assert yellow > 0.3 * len(pixels)  # the word's box is marked (its letters stay dark)
    assert sha256_file(scanned) == before


def test_matching_ignores_line_breaks_hyphens_ligatures_and_tolerates_small_differences():
    page = list("Byrådet har be-\r\nsluttet at ﬁnansiere puljen. Næste punkt.")
    first, last = find_in_page(page, "Byrådet har besluttet at finansiere puljen.")
    assert "".join(page[first : last + 1]).endswith("puljen")
    near = find_in_page(page, "Byrådet har besluttet at finansiere hele puljen.")  # a word pypdf saw, pdfium did not
    assert near is not None and near[0] == 0
    assert find_in_page(page, "Et helt andet citat om skoler.") is None
    # Boxes on one line merge; a new line (or a column to the left) starts a new rectangle.
    assert line_rects([(0, 0, 5, 10), (5, 0, 9, 10), (0, 20, 0, 30), (0, -12, 4, -2)]) == [(0, 0, 9, 10), (0, -12, 4, -2)]


def test_open_without_a_display_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    message = open_files([tmp_path / "a-s1.pdf"])
    assert message is not None and "DISPLAY" in message and "a-s1.pdf" in message
    assert open_files([]) is None


def _session_of(doc):
    """What a record needs of a session: an index with its name, models and one document."""

    class Index:
        name, embedding_model = "test", "intfloat/multilingual-e5-small"

        def documents(self):
            return [doc]

        def chunks(self, ids):
            return {}

    class Session:
        index, _generator, llm_url, llm_chat, n_ctx, seed = Index(), None, None, True, 4096, 0

    return Session


def test_chat_annotate_and_record_commands(agenda, tmp_path):
    from io import StringIO

    from rich.console import Console

    from ragcli.annotate import chat_export
    from ragcli.chat import run_chat
    from ragcli.session import ask_params

    answer, doc = scripted_answer(agenda, AGENDA, P_HOUSES, "Der er altid mindst 500 ledige pladser i p-husene.")

    Session = _session_of(doc)

    lines = iter([
        "/annotate ud", "Hvor mange pladser?", "/annotate", f"/annotate {tmp_path / 'typo'} --pgn",
        f"/annotate {tmp_path / 'ud'} --png", f"/record {tmp_path / 'svar.md'}",
        f'/annotate "{tmp_path / "med mellemrum"}"', f"/record {tmp_path / 'svar.txt'}", "/quit",
    ])
    shown = StringIO()
    run_chat(
        Console(file=shown, width=200), lambda question, params, on_token: answer, ask_params(), lambda a: None,
        lambda a: None, lambda a: None, read_line=lambda prompt: next(lines),
        export=lambda command, argument, last: [shown.write(line + "\n") for line in chat_export(Session(), last, None, command, argument)],
    )
    output = shown.getvalue()
    assert "Intet svar endnu." in output and "Brug: /annotate MAPPE [--png]" in output
    assert "ukendt valg '--pgn'" in output and not (tmp_path / "typo").exists()  # a typo is not a folder name
    assert (tmp_path / "ud" / "aarhus_byraad_dagsorden_2025-08-27-s6.pdf").is_file()
    assert (tmp_path / "ud" / "aarhus_byraad_dagsorden_2025-08-27-s6.png").is_file()
    assert "sha256" in (tmp_path / "svar.md").read_text(encoding="utf-8")
    assert "Fejl: /record skal slutte på .json eller .md" in output  # the command typed, not the flag
    # quoted as in a shell: the folder named, not one called '"' under the current folder
    assert (tmp_path / "med mellemrum" / "aarhus_byraad_dagsorden_2025-08-27-s6.pdf").is_file()


@pytest.mark.slow  # every dev question's gold page (14 real PDFs; about 2 s)
def test_every_gold_evidence_of_the_dev_set_is_highlighted_on_its_gold_page(tmp_path):
    import json

    from conftest import SHARED

    dev = SHARED / "eval" / "dev.jsonl"
    if not dev.exists():
        pytest.skip(f"{dev} not found (set RAGCLI_SHARED)")
    rows = [row for row in map(json.loads, dev.read_text(encoding="utf-8").splitlines()) if row.get("doc")]
    assert len(rows) >= 18
    for row in rows:
        span = {
            "doc": row["doc"], "source": 1, "answer_sentence": row["answer"], "page": row["page"],
            "passage_pages": [row["page"], row["page"]], "quote": row["evidence"],
        }
        source = shared_pdf(row["doc"])
        report = annotate({"sources": [{"doc": row["doc"], "path": str(source)}], "spans": [span]}, tmp_path / row["id"])
        assert [h["page"] for h in report.highlights] == [row["page"]], row["id"]
        [out_file] = report.files
        [mark] = [a.get_object() for a in pypdf.PdfReader(str(out_file)).pages[0]["/Annots"] if a.get_object().get("/T") == "ragcli"]
        pdf = pdfium.PdfDocument(str(source))
        textpage = pdf[row["page"] - 1].get_textpage()
        under = " ".join(textpage.get_text_bounded(*r) for r in _quads(mark))
        pdf.close()
        assert _letters(under) == _letters(row["evidence"]), row["id"]


def test_a_quote_with_many_masked_numbers_is_found_on_a_page_in_linear_time():
    # A table of CPR numbers: the lazy gap per mask had backtracked for seconds (5 masks) to
    # minutes (6 and more) over a page of repeated letters.
    import time

    page = list("a" * 3000 + "Borgeren med CPR 0101901234 og ægtefællen med CPR 0202902345 har fået tilskud.")
    started = time.perf_counter()
    for masks in (4, 6, 10):
        find_in_page(page, "[skjult]".join(["a"] * (masks + 1)) + "z")
    assert time.perf_counter() - started < 5
    found = find_in_page(page, "Borgeren med CPR [skjult] og ægtefællen med CPR [skjult] har fået tilskud.")
    assert found is not None and "".join(page[found[0] : found[1] + 1]).startswith("Borgeren med CPR 0101901234")
    assert "".join(page[found[0] : found[1] + 1]).endswith("tilskud")


def test_two_pages_that_share_a_name_in_one_run_are_both_kept(tmp_path):
    # "a/b.pdf" and "a_b.pdf" (or two citizens' "sag_[skjult].pdf") cited on the same page:
    # the second had replaced the first, as an earlier copy of ours.
    import pypdf

    from ragcli.annotate import COPY_CREATOR, _free_name

    first = tmp_path / "a_b-s1.pdf"
    writer = pypdf.PdfWriter()
    writer.add_blank_page(100, 100)
    writer.add_metadata({"/Creator": COPY_CREATOR})
    writer.write(first)
    assert _free_name(tmp_path, "a_b-s1", False, []) == first  # an earlier run's copy: replaced
    assert _free_name(tmp_path, "a_b-s1", False, [first]) == tmp_path / "a_b-s1-2.pdf"  # this run's: kept


def test_a_file_written_whole_is_never_written_through_a_link_at_its_temporary_name(tmp_path):
    from ragcli.results_file import replace_whole

    victim = tmp_path / "andet.txt"
    victim.write_text("urørt")
    (tmp_path / ".x-s1.png.tmp").symlink_to(victim)  # a link left at the predictable name
    replace_whole(tmp_path / "x-s1.png", lambda handle: handle.write(b"PNG"))
    assert victim.read_text() == "urørt" and (tmp_path / "x-s1.png").read_bytes() == b"PNG"
    umask = os.umask(0)
    os.umask(umask)
    assert ((tmp_path / "x-s1.png").stat().st_mode & 0o777) == 0o666 & ~umask  # the mode open() gives, not 0600


def test_a_picture_is_dropped_only_beside_a_copy_of_ours_that_is_replaced(agenda, tmp_path):
    answer, doc = scripted_answer(agenda, AGENDA, P_HOUSES, "Der er altid mindst 500 ledige pladser i p-husene.")
    stem = "aarhus_byraad_dagsorden_2025-08-27-s6"
    ours = tmp_path / "ours"
    annotate(build_record(answer, facts(doc)), ours, png=True)
    assert sorted(p.name for p in ours.iterdir()) == [f"{stem}.pdf", f"{stem}.png"]
    annotate(build_record(answer, facts(doc)), ours)  # replaced without a picture: the old picture goes
    assert sorted(p.name for p in ours.iterdir()) == [f"{stem}.pdf"]
    # a picture of the user's own under that name is neither dropped nor overwritten
    users = tmp_path / "users"
    users.mkdir()
    (users / f"{stem}.png").write_bytes(b"brugerens eget billede")
    annotate(build_record(answer, facts(doc)), users)
    annotate(build_record(answer, facts(doc)), users, png=True)
    annotate(build_record(answer, facts(doc)), users)
    assert (users / f"{stem}.png").read_bytes() == b"brugerens eget billede"


def test_pages_that_cannot_be_written_leave_the_answer_and_its_record_standing(agenda, tmp_path):
    """--annotate into a folder ragcli may not write in had ended ask with "Fejl: Permission
    denied" before the answer was shown (the record was written, the answer lost)."""
    from ragcli.annotate import export_evidence

    answer, doc = scripted_answer(agenda, AGENDA, P_HOUSES, "Der er altid mindst 500 ledige pladser i p-husene.")

    Session = _session_of(doc)

    (tmp_path / "fil").write_text("ikke en mappe")
    lines = export_evidence(Session(), answer, None, tmp_path / "svar.json", tmp_path / "fil" / "ud")
    assert lines[0].startswith("Optegnelse:") and (tmp_path / "svar.json").is_file()
    assert lines[0].endswith("(1 citeret sted, 1 kilde)")  # had been "1 citerede steder, 1 kilder"
    assert len(lines) == 2 and lines[1].startswith("Ikke markeret: siderne kunne ikke skrives eller læses (")
