"""Issue 15: hostile input. Every file here is generated (tests/hostile.py); each test fails on the old code."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import hostile
import pytest
from conftest import TEST_EMBED_MODEL
from rich.table import Table

from ragcli.chunking import ChunkingParams, chunk_document
from ragcli.cleaning import clean_text
from ragcli.ingest import default_chunking, ingest_folder
from ragcli.lexical import LexicalIndex
from ragcli.loading import DocumentError, load_document, scan_folder
from ragcli.privacy import mask_answer, mask_chunk, mask_cpr, mask_hits, mask_snippet
from ragcli.schema import Answer, Chunk, Citation, Hit, Page, Sentence
from ragcli.store import Index, IndexProblem
from ragcli.terminal import SafeConsole, file_name, printable

RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def ragcli(*args, home: Path, stdin: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "RAGCLI_HOME": str(home), "XDG_CONFIG_HOME": str(home / "cfg")}
    env.pop("RAGCLI_INDEX", None)
    return subprocess.run(
        [sys.executable, "-m", "ragcli.cli", *args], capture_output=True, env=env, input=stdin, timeout=timeout,
        text=not any(isinstance(a, bytes) for a in args),
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


# ---------------------------------------------------------------- 2. one hostile file never sinks an ingest


@pytest.mark.slow
def test_decompression_bomb_is_skipped_with_one_line_and_the_good_pdfs_are_indexed(tmp_path):
    folder = tmp_path / "docs"
    hostile.write(folder, "affald.pdf", hostile.text_pdf(["Affald sorteres i ti fraktioner i Fjordby Kommune."]))
    hostile.write(folder, "skole.pdf", hostile.text_pdf(["Skoledagen starter kl. 8.00 for alle elever i Fjordby."]))
    hostile.write(folder, "bombe.pdf", hostile.bomb_pdf())
    result = ragcli("ingest", str(folder), "--index", "h", "--embed-model", TEST_EMBED_MODEL, "--json", home=tmp_path)
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["added"]) == ["affald.pdf", "skole.pdf"] and report["documents"] == 2
    assert [s["doc"] for s in report["skipped"]] == ["bombe.pdf"]
    assert "safety limits" in report["skipped"][0]["reason"] and "\n" not in report["skipped"][0]["reason"]
    assert "Traceback" not in result.stderr


def _on_reading(monkeypatch, name: str, before=None, after=None) -> None:
    """ingest reads file `name` with before(path) run first and after(path) once it is read."""
    import ragcli.ingest as ingest_module

    real = ingest_module.load_document

    def load(path, doc, stop=None):
        if doc == name and before:
            before(path)
        loaded = real(path, doc, stop)
        if doc == name and after:
            after(path)
        return loaded

    monkeypatch.setattr(ingest_module, "load_document", load)


def test_any_exception_while_loading_a_file_is_a_skip_not_an_abort(tmp_path, minilm, monkeypatch):
    folder = tmp_path / "docs"
    hostile.write(folder, "god.txt", "Affald sorteres i ti fraktioner i Fjordby Kommune.")
    hostile.write(folder, "ond.txt", "Denne fil får læseren til at fejle på en uventet måde.")

    def fail(path):
        raise AssertionError("pypdf internal assertion")

    _on_reading(monkeypatch, "ond.txt", before=fail)
    report = ingest_folder(folder, tmp_path / "idx", minilm, default_chunking(minilm))
    assert report.added == ["god.txt"] and report.documents == 1
    assert [(s.doc, "AssertionError" in s.reason) for s in report.skipped] == [("ond.txt", True)]


def test_a_small_file_that_unpacks_to_too_much_text_is_skipped_and_the_rest_indexed(tmp_path, minilm, monkeypatch):
    # a 1 MB .docx held 29.5 million characters under every archive limit: half an hour of embedding
    import ragcli.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "MAX_DOCUMENT_CHARS", 5_000)  # the real cap is 10 million
    folder = tmp_path / "docs"
    hostile.write(folder, "god.txt", "Affald sorteres i ti fraktioner i Fjordby Kommune.")
    hostile.write(folder, "stor.txt", "Kommunen behandler ansøgninger om tilskud. " * 200)
    report = ingest_folder(folder, tmp_path / "idx", minilm, default_chunking(minilm))
    assert report.added == ["god.txt"]
    assert [(s.doc, s.reason) for s in report.skipped] == [("stor.txt", "too much text (8,599 characters; at most 5,000)")]


def test_a_file_name_that_is_not_utf8_is_skipped_with_one_line_and_the_rest_indexed(tmp_path, minilm):
    # "Børnehave.txt" unpacked from a Windows zip: the name's bytes are cp1252. It had crashed
    # the whole ingest after all the embedding, on writing the name, and every later one too.
    folder = tmp_path / "docs"
    hostile.write(folder, "god.txt", "Affald sorteres i ti fraktioner i Fjordby Kommune.")
    (folder / os.fsdecode(b"B\xe6rnehave.txt")).write_text("Takster for en plads i børnehave.", encoding="utf-8")
    report = ingest_folder(folder, tmp_path / "idx", minilm, default_chunking(minilm))
    assert report.added == ["god.txt"] and report.documents == 1
    assert [s.reason for s in report.skipped] == ["the file name is not UTF-8 text; rename it (convmv -f cp1252 -t utf-8 FILE)"]
    # … and the next ingest of the same folder is no different
    again = ingest_folder(folder, tmp_path / "idx", minilm, default_chunking(minilm))
    assert again.unchanged == ["god.txt"] and len(again.skipped) == 1


def test_a_file_that_vanishes_while_the_others_are_read_is_indexed_as_read_and_the_run_goes_on(tmp_path, minilm, monkeypatch):
    # A sync client or a user tidying up deletes a file after it was read and before it was
    # filed: the run had stopped with "No such file or directory" and indexed nothing.
    folder = tmp_path / "docs"
    hostile.write(folder, "god.txt", "Affald sorteres i ti fraktioner i Fjordby Kommune.")
    hostile.write(folder, "vaek.txt", "Denne fil slettes, mens de andre læses.")
    _on_reading(monkeypatch, "vaek.txt", after=Path.unlink)
    report = ingest_folder(folder, tmp_path / "idx", minilm, default_chunking(minilm))
    # read whole before it went: its text is indexed, with the size it had when it was hashed
    assert report.added == ["god.txt", "vaek.txt"] and report.documents == 2 and not report.skipped


def test_link_loops_and_pipes_are_reported_not_fatal(tmp_path):
    folder = tmp_path / "sag"
    hostile.write(folder, "ok.txt", "Tekst om fjernvarme.")
    (folder / "self.txt").symlink_to("self.txt")  # a link to itself
    (folder / "a.txt").symlink_to("b.txt")  # two links that lead to each other
    (folder / "b.txt").symlink_to("a.txt")
    os.mkfifo(folder / "fifo.txt")  # would block a reader for ever
    found, refused = scan_folder(folder)
    assert [p.name for p in found] == ["ok.txt"]
    reasons = {p.name: reason for p, reason in refused}
    assert set(reasons) == {"self.txt", "a.txt", "b.txt", "fifo.txt"}
    assert all("loops" in reasons[n] for n in ("self.txt", "a.txt", "b.txt"))
    assert "not a regular file" in reasons["fifo.txt"]


def _count_chars(texts):
    _count_chars.total += sum(len(t) for t in texts)
    return [len(t.split()) + len(t) // 4 for t in texts]


def test_megabyte_lines_are_chunked_in_linear_time():
    params = ChunkingParams(max_tokens=128, overlap_tokens=16)
    # A run of abbreviations merges into one unit: the old code rescanned the run for each one.
    abbreviations = "kl. 8 nr. 3 " * 25_000  # 300 KB on one line
    started = time.perf_counter()
    chunks = chunk_document([Page("a.txt", "/a.txt", 1, abbreviations.strip())], _count_chars, params)
    assert time.perf_counter() - started < 5 and chunks
    # One 1 MB "word": cut into as many pieces as it needs at once, not halved level by level.
    word = "x" * 1_000_000
    _count_chars.total = 0
    chunks = chunk_document([Page("b.txt", "/b.txt", 1, word)], _count_chars, params)
    assert "".join(c.text for c in chunks) == word
    assert _count_chars.total < 4 * len(word)  # halving tokenised the word ~log2(pieces) times over


_count_chars.total = 0


# ---------------------------------------------------------------- 1. CPR numbers never leak


@pytest.mark.parametrize("written, digits", sorted(hostile.CPR_VARIANTS.items()))
def test_every_written_form_of_a_cpr_number_is_masked(written, digits):
    masked = mask_cpr(f"Sagsbehandleren noterede CPR {written}.")
    assert masked == "Sagsbehandleren noterede CPR [skjult]."


def test_the_digit_scripts_masked_are_every_run_of_ten_decimal_digits_unicode_has():
    import sys

    from ragcli import privacy

    zeros = tuple(c for c in range(sys.maxunicode + 1) if unicodedata.decimal(chr(c), None) == 0 and unicodedata.category(chr(c)) == "Nd")
    assert set(zeros) <= set(privacy._ZEROS)
    # and a number in one of them is read as the number it is (a question finds that person's case)
    assert privacy.canonical_cpr("CPR \u0661\u0665\u0660\u0665\u0668\u0665 \u0664\u0663\u0662\u0661") == "CPR 150585-4321"


@pytest.mark.parametrize("title", ["Referat - Økonomiudvalget 05.02.2024", "Dagsorden 12-03-2024", "Version 2.1 - 12.03.24",
                                   "Kontrakten er dateret 010124.", "Journal nr. 240101."])
def test_a_title_that_ends_in_a_date_is_no_number_cut_short(title):
    assert mask_snippet(title) == title


def test_a_title_or_passage_cut_inside_a_cpr_number_is_masked_too():
    # a title is a document's first line and a passage ends where chunking cut it: either can
    # stop after the date part ("… personnummer 150585-"), which alone names a birthday
    chunk = Chunk("sag.pdf", "Ansøgeren med personnummer 150585-", 1, 1, 0, 30, "… bevilget til 150585 -", 12, 1)
    masked = mask_chunk(chunk)
    assert "150585" not in masked.title and "150585" not in masked.text
    assert masked.title == "Ansøgeren med personnummer [skjult]"


@pytest.mark.parametrize("text", hostile.NOT_CPR)
def test_dates_and_phone_numbers_are_not_masked(text):
    assert mask_cpr(text) == text


CPR = "311299-9999"


def _answer_full_of_cpr() -> Answer:
    text = f"Sagsbehandleren noterede CPR {CPR}."
    chunk = Chunk("sag.txt", f"Sag {CPR}", 1, 1, 0, len(text), text, 12, 1)
    hit = Hit(chunk, 0.5, 0.8, 3.0, 1, 1)
    return Answer(
        question="Hvad noterede sagsbehandleren om ægtefællens CPR?",
        text="CPR [skjult] [1]",
        refused=False,
        citations=[Citation(1, "sag.txt", "1", 1, 1, 0.5, text, True)],
        sentences=[Sentence(f"Sagsbehandleren noterede CPR {CPR}. [1]", [1], [1], True, 0.9)],
        hits=[hit],
        model="m",
        prompt=f"[1] sag.txt: {text}",
        prompt_tokens=10,
        evidence=[{"source": 1, "doc": "sag.txt", "pages": "1", "quote": text, "overlap": 0.9}],
        decision="extracted",
        raw_answer=f"CPR {CPR}",
        grounding={"terms": ["cpr"], "missing": [CPR]},
        flags=[{
            "rule": "cpr-number", "where": "output", "action": "mask",
            "message": "svaret indeholdt et CPR-nummer; det er skjult", "match": CPR, "source": None,
        }],
    )


def test_mask_answer_masks_every_field_and_says_that_it_masked_not_what():
    from ragcli.batch import BatchQuestion, answer_record
    from ragcli.rendering import answer_json, render_answer_check, render_decision, render_explain, render_sources

    answer = mask_answer(_answer_full_of_cpr())
    assert mask_answer(answer) == answer  # idempotent
    shown = io.StringIO()
    console = SafeConsole(file=shown, width=200)
    for render in (render_decision, render_answer_check, render_sources, render_explain):
        render(console, answer)
    written = json.dumps(answer_json(answer, "i", "hybrid"), ensure_ascii=False)
    record = json.dumps(answer_record(BatchQuestion("1", "q"), answer), ensure_ascii=False)
    for output in (shown.getvalue(), written, record):
        assert "9999" not in output and "311299" not in output
    assert "[skjult]" in written and "[skjult]" in record and "[skjult]" in shown.getvalue()
    assert all(flag["match"] == "[skjult]" for flag in answer.flags if flag["rule"] == "cpr-number")
    assert any(flag["where"] == "passage" for flag in answer.flags)
    # Entitled users see the numbers.
    assert CPR in mask_answer(_answer_full_of_cpr(), show_cpr=True).raw_answer


def test_search_hits_are_masked_in_text_and_title():
    hit = _answer_full_of_cpr().hits[0]
    (masked,) = mask_hits([hit])
    assert CPR not in masked.chunk.text and CPR not in masked.chunk.title and "[skjult]" in masked.chunk.text
    assert mask_hits([hit], show_cpr=True)[0].chunk.text == hit.chunk.text


# ---------------------------------------------------------------- 3. nothing escapes to the terminal


def test_printable_shows_controls_bidi_and_zero_width_as_visible_escapes():
    shown = printable("a\x1b]0;X\x07b\x9b31m\u202ec\u200bd\udcff\ttab\nny")
    assert shown == "a\\x1b]0;X\\x07b\\x9b31m\\u202ec\\u200bd\\xff\ttab\nny"
    assert printable("Skoledagen starter kl. 8.00 — æøå") == "Skoledagen starter kl. 8.00 — æøå"


def test_a_file_name_with_a_line_break_shows_it_escaped_and_fakes_no_table_row():
    from dataclasses import replace

    from ragcli.rendering import render_sources

    buffer = io.StringIO()
    console = SafeConsole(file=buffer, width=120, color_system=None)
    cited = Citation(1, "rapport\nFAKE.pdf", "1", 1, 1, 0.5, "tekst", True)
    render_sources(console, replace(_answer_full_of_cpr(), citations=[cited]))
    output = buffer.getvalue()
    assert "rapport\\nFAKE.pdf" in output and "\nFAKE.pdf" not in output
    assert file_name("a\tb\x1b") == "a\\tb\\x1b"


def test_safe_console_lets_no_escape_sequence_through_tables_or_text():
    for terminal in (False, True):
        buffer = io.StringIO()
        console = SafeConsole(file=buffer, width=120, force_terminal=terminal, color_system="standard" if terminal else None)
        table = Table("Fil")
        table.add_row(hostile.ESCAPES)
        console.print(table)
        console.print(hostile.ESCAPES, markup=False)
        output = buffer.getvalue()
        assert "\x1b]" not in output and "\x07" not in output and "\x1b[2J" not in output and "\x1b[41m" not in output
        assert "\x9b" not in output and "\u202e" not in output and "\u200b" not in output
        assert "PWNED" in output  # shown, harmless


def test_ingest_cleaning_drops_invisible_characters_so_bm25_finds_split_words():
    text = clean_text("Skat\u200bteopkrævning og \u202eomvendt\u202c tekst med \x9b31m og sk\u2060at")
    assert RAW_CONTROLS.search(text) is None
    assert "Skatteopkrævning" in text and "skat" in text
    lexical = LexicalIndex.build([text, "noget helt andet om affald"], [1, 2])
    assert [cid for cid, _ in lexical.search("skatteopkrævning", 2)] == [1]


def test_cleaning_knows_every_invisible_format_character():
    from ragcli.cleaning import _FORMAT

    missing = [hex(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf" and c != 0xAD and not _FORMAT.match(chr(c))]
    assert missing == []


# ---------------------------------------------------------------- 4, 5. bad input and damaged indexes: one line


@pytest.mark.slow
def test_invalid_utf8_question_is_a_usage_error_not_a_traceback(tmp_path):
    result = ragcli(b"search", b"skat \xff", b"--mode", b"dense", home=tmp_path)
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr and b"UTF-8" in result.stderr


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory, minilm):
    home = tmp_path_factory.mktemp("tiny")
    folder = home / "docs"
    hostile.write(folder, "affald.txt", "Affald sorteres i ti fraktioner i Fjordby Kommune.")
    ingest_folder(folder, home / "tiny", minilm, default_chunking(minilm))
    return home


def _copy_index(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src / "tiny", dst / "tiny")
    return dst / "tiny"


@pytest.mark.parametrize("damage", ["empty", "garbage"])
def test_a_damaged_faiss_file_is_one_line_and_info_says_so(tmp_path, tiny_index, damage):
    folder = _copy_index(tiny_index, tmp_path)
    generation = json.loads((folder / "manifest.json").read_text())["generation"]
    (folder / generation / "vectors.faiss").write_bytes(b"" if damage == "empty" else b"IxMp" + os.urandom(64))
    with pytest.raises(IndexProblem, match="beskadiget.*--rebuild"):
        Index(folder).dense_search([0.0] * 384, 3)
    result = ragcli("info", "--index", "tiny", home=tmp_path)
    assert result.returncode == 1 and "--rebuild" in _one_line(result.stderr)


@pytest.mark.parametrize("part", ["meta.sqlite", "vectors.faiss", "bm25"])
def test_a_file_copied_in_from_another_index_is_found_out_by_search_too(tmp_path, tiny_index, minilm, part):
    # Only `info` had noticed: search answered from the other corpus, or found nothing, exit 0.
    import shutil

    other = tmp_path / "other"
    hostile.write(other / "docs", "vand.txt", "Vandet afbrydes i Fjordby på mandag.")
    hostile.write(other / "docs", "vej.txt", "Vejen lukkes i to uger.\n\nOmkørsel er skiltet.")
    ingest_folder(other / "docs", other / "idx", minilm, default_chunking(minilm))
    source = other / "idx" / json.loads((other / "idx" / "manifest.json").read_text())["generation"] / part
    folder = _copy_index(tiny_index, tmp_path)
    target = folder / json.loads((folder / "manifest.json").read_text())["generation"] / part
    if source.is_dir():
        shutil.rmtree(target)
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)
    mode = {"meta.sqlite": "hybrid", "vectors.faiss": "dense", "bm25": "lexical"}[part]
    result = ragcli("search", "affald", "--index", "tiny", "--mode", mode, home=tmp_path)
    assert result.returncode == 1 and "--rebuild" in _one_line(result.stderr)


def test_a_reader_that_refreshes_into_a_damaged_generation_stays_refused(tmp_path, tiny_index, minilm):
    # A long-lived reader (serve, chat) had taken up the new generation before checking it:
    # the first search was refused, the second answered from the other corpus.
    import shutil

    from ragcli.retrieval import RetrievalParams, retrieve

    other = tmp_path / "other"
    hostile.write(other / "docs", "vand.txt", "Vandet afbrydes i Fjordby på mandag.")
    hostile.write(other / "docs", "vej.txt", "Vejen lukkes i to uger.\n\nOmkørsel er skiltet.")
    ingest_folder(other / "docs", other / "idx", minilm, default_chunking(minilm))
    other_generation = other / "idx" / json.loads((other / "idx" / "manifest.json").read_text())["generation"]
    folder = _copy_index(tiny_index, tmp_path)
    reader = Index(folder)
    lexical = RetrievalParams(mode="lexical", k=3)
    assert [h.chunk.doc for h in retrieve(reader, "affald", lexical)] == ["affald.txt"]
    manifest = json.loads((folder / "manifest.json").read_text())
    shutil.copytree(folder / manifest["generation"], folder / "gen-000099")
    shutil.copyfile(other_generation / "meta.sqlite", folder / "gen-000099" / "meta.sqlite")
    (folder / "manifest.json").write_text(json.dumps({**manifest, "generation": "gen-000099"}))
    for _ in range(2):
        with pytest.raises(IndexProblem, match="beskadiget"):
            retrieve(reader, "affald", lexical)
    reader.close()


@pytest.mark.parametrize("generation", ["../victim/gen-000001", "/tmp", "gen-1", None])
def test_a_manifest_pointing_outside_its_index_is_refused(tmp_path, tiny_index, generation):
    folder = _copy_index(tiny_index, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    victim = tmp_path / "victim"
    (victim).mkdir()
    import shutil

    shutil.copytree(folder / manifest["generation"], victim / "gen-000001")
    manifest["generation"] = generation
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexProblem, match="beskadiget"):
        Index(folder)
    result = ragcli("search", "affald", "--index", "tiny", "--mode", "lexical", home=tmp_path)
    assert result.returncode == 1 and "--rebuild" in _one_line(result.stderr)


# ---------------------------------------------------------------- 7. smaller items


def test_scanned_is_decided_from_images_not_from_characters_per_page(tmp_path, monkeypatch):
    from ragcli import ocr

    monkeypatch.setattr(ocr, "tesseract_languages", lambda: ())
    sparse = hostile.write(tmp_path, "skema.pdf", hostile.text_pdf([f"Side {i:03d} ok" for i in range(60)]))
    doc = load_document(sparse, "skema.pdf")  # ten characters a page, no images: text, not a scan
    assert len(doc.pages) == 60 and doc.pages[41].text == "Side 041 ok"
    scan = hostile.write(tmp_path, "scan.pdf", hostile.image_pdf(3))
    with pytest.raises(DocumentError, match="scanned PDF"):
        load_document(scan, "scan.pdf")


def test_symlinks_are_followed_only_inside_the_folder(tmp_path):
    outside = hostile.write(tmp_path / "anden_sag", "hemmelig.txt", "En anden sags fortrolige oplysninger.")
    folder = tmp_path / "sag"
    inside = hostile.write(folder, "noter.txt", "Borgeren har søgt om tilskud til briller.")
    (folder / "link_ud.txt").symlink_to(outside)
    (folder / "link_ind.txt").symlink_to(inside)
    (folder / "mappe_ud").symlink_to(outside.parent, target_is_directory=True)
    found, refused = scan_folder(folder)
    assert [p.name for p in found] == ["link_ind.txt", "noter.txt"]
    assert sorted(p.name for p, _ in refused) == ["link_ud.txt", "mappe_ud"]
    assert all("outside" in reason for _, reason in refused)


@pytest.mark.slow
def test_invalid_index_name_and_bad_config_values_are_usage_errors(tmp_path):
    result = ragcli("info", "--index", "../x", home=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    config = tmp_path / "cfg" / "ragcli" / "config.toml"
    for line, key in (("temperature = -1.0", "temperature"), ("home = 5", "home"), ('k = "mange"', "k")):
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(line + "\n")
        result = ragcli("config", home=tmp_path)
        assert result.returncode == 2, (line, result.stdout)
        message = _one_line(result.stderr)
        assert key in message and "--" not in message  # the config file's key, not a flag
    # a settings file saved as UTF-16 (Windows Notepad) is one line too, not a traceback
    config.write_bytes("k = 3\n".encode("utf-16"))
    result = ragcli("config", home=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not UTF-8" in _one_line(result.stderr)


def test_disk_full_is_one_clear_line(capsys):
    import typer

    from ragcli.cli import user_errors

    with pytest.raises(typer.Exit) as info, user_errors(interrupted="afbrudt (Ctrl-C); indekset er uændret"):
        raise OSError("41472 requested and 15328 written")
    assert info.value.exit_code == 1
    message = _one_line(capsys.readouterr().err)
    assert "disken er fuld" in message and "requested" not in message and "uændret" in message


@pytest.mark.slow
def test_sigterm_is_one_line_and_exit_143(tmp_path):
    env = {**os.environ, "NO_COLOR": "1", "RAGCLI_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ragcli.cli", "batch", "-", "--index", "x"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    time.sleep(3)  # started and waiting for questions on stdin
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143
    assert "SIGTERM" in _one_line(stderr)


# ---------------------------------------------------------------- end to end: the whole output, grepped


def _cpr_digits(digits: str) -> re.Pattern[str]:
    """The number's ten digits with up to three non-digits between any two (any written form)."""
    return re.compile(r"\D{0,3}".join(digits))


@pytest.mark.slow
def test_no_cpr_number_and_no_control_character_reaches_any_output(tmp_path):
    folder = tmp_path / "sag"
    lines = [f"Sagsbehandleren noterede CPR {written} for ægtefællen i sagen." for written in hostile.CPR_VARIANTS]
    hostile.write(folder, "sag\x1b]0;FN\x07\x1b[41m.txt", "Notat om ægtefællen\n\n" + "\n".join(lines))
    hostile.write(folder, "titel.pdf", hostile.text_pdf([lines[0]], title="Sag 311299-9999 \x1b]0;TITEL\x07"))
    hostile.write(folder, "bombe.pdf", hostile.bomb_pdf())
    # file names hold CPR numbers too ("sag_010190-1234.pdf"), and a right-to-left override
    hostile.write(folder, "0303901234_ansøgning\u202etxt.pdf", hostile.text_pdf(["Ansøgning om tilskud."]))
    hostile.write(folder, "sag_311299-9999.pdf", b"ikke en pdf")
    ingest = ragcli("ingest", str(folder), "--index", "cpr", "--embed-model", TEST_EMBED_MODEL, home=tmp_path)
    assert ingest.returncode == 3, ingest.stderr
    only_bad = tmp_path / "kun_daarlige"
    hostile.write(only_bad, "sag_311299-9999.pdf", b"ikke en pdf")
    question = "\x1b]0;PWNED\x07\x1b[2J Hvad noterede sagsbehandleren om ægtefællens CPR?"
    questions = tmp_path / "q.txt"
    questions.write_text("Hvad noterede sagsbehandleren om ægtefællens CPR?\nHvilket CPR-nummer står i sagen?\n", encoding="utf-8")
    runs = {
        "ingest": ingest,
        "ingest --json": ragcli("ingest", str(folder), "--index", "cpr", "--json", home=tmp_path),
        "ingest of nothing readable": ragcli("ingest", str(only_bad), "--index", "tom", "--embed-model", TEST_EMBED_MODEL, home=tmp_path),
        "--index named by a CPR number": ragcli("info", "--index", "311299-9999", home=tmp_path),
        "ask --json": ragcli("ask", question, "--index", "cpr", "--json", "--explain", home=tmp_path),
        "ask --explain": ragcli("ask", question, "--index", "cpr", "--explain", home=tmp_path),
        "batch": ragcli("batch", str(questions), "--index", "cpr", home=tmp_path),
        "batch --retrieve-only": ragcli("batch", str(questions), "--index", "cpr", "--retrieve-only", home=tmp_path),
        "search": ragcli("search", "CPR ægtefællen", "--index", "cpr", "--mode", "lexical", home=tmp_path),
        "search --json": ragcli("search", "CPR ægtefællen", "--index", "cpr", "--mode", "lexical", "--json", home=tmp_path),
        "info": ragcli("info", "--index", "cpr", home=tmp_path),
    }
    for name, result in runs.items():
        assert result.returncode in ((1, 2) if name.startswith(("ingest of", "--index")) else (0, 3)), (name, result.stderr)
        for stream in (result.stdout, result.stderr):
            for digits in hostile.CPR_VARIANTS.values():
                assert not _cpr_digits(digits).search(stream), (name, digits, stream)
            if name not in ("batch", "batch --retrieve-only"):  # batch writes its records to files
                assert RAW_CONTROLS.search(stream) is None, (name, stream)
    reported = json.loads(runs["ingest --json"].stdout)
    assert {s["doc"] for s in reported["skipped"]} >= {"sag_[skjult].pdf"}, reported
    assert "[skjult]_ansøgning\\u202etxt.pdf" in runs["ingest"].stdout + runs["info"].stdout
    assert "[skjult]" in runs["ask --json"].stdout and "[skjult]" in runs["batch"].stdout
    assert "[skjult]" in runs["search"].stdout and "\\x1b]0;FN" in runs["search"].stdout
    # --show-cpr is the way for users entitled to see the numbers.
    shown = ragcli("search", "CPR ægtefællen", "--index", "cpr", "--mode", "lexical", "--show-cpr", home=tmp_path)
    assert "311299-9999" in shown.stdout


def _mile_wide_scan(tmp_path) -> Path:
    """One scanned page 200 inches square: 3.7 billion pixels at OCR's 300 dpi."""
    from fpdf import FPDF
    from PIL import Image

    pdf = FPDF(unit="pt", format=(14400, 14400))
    pdf.add_page()
    pdf.image(Image.new("L", (200, 100), color=200), x=10, y=10, w=1000)
    return hostile.write(tmp_path, "kaempe_scan.pdf", bytes(pdf.output()))


def test_a_huge_scanned_page_is_drawn_for_ocr_in_the_child_within_the_pixel_cap(tmp_path):
    import resource

    from PIL import Image

    from ragcli.loading import _PDFIUM, OCR_MAX_PIXELS
    from ragcli.ocr import RENDER_SCALE

    path = _mile_wide_scan(tmp_path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    files = _PDFIUM.render(path, [1], RENDER_SCALE, tmp_path)
    with Image.open(files[1]) as drawn:
        width, height = drawn.size
    assert 5000 < width and width * height <= OCR_MAX_PIXELS  # drawn smaller, not refused
    # The 60-megapixel image was drawn by the pdfium child, not in this process.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_a_scan_pdfium_cannot_draw_within_its_memory_limit_is_skipped_and_ingest_goes_on(tmp_path, monkeypatch, minilm):
    from ragcli import loading
    from ragcli.ocr import tesseract_languages

    if "dan" not in tesseract_languages():
        pytest.skip("Tesseract with Danish is not installed")
    monkeypatch.setattr(loading, "OCR_MAX_PIXELS", 10**10)  # no cap: 3.7 GB of pixels against the child's 1 GiB
    folder = tmp_path / "docs"
    _mile_wide_scan(folder)
    hostile.write(folder, "notat.txt", "Borgeren har søgt om tilskud til briller hos kommunen.")
    report = ingest_folder(folder, tmp_path / "idx", minilm, default_chunking(minilm))
    assert report.added == ["notat.txt"]
    [skipped] = report.skipped
    assert skipped.doc == "kaempe_scan.pdf" and "OCR failed" in skipped.reason and "memory" in skipped.reason


def test_a_question_no_engine_can_read_is_one_usage_error():
    """What a JSON client can send: null, a lone surrogate, only zero-width characters, a page."""
    from ragcli.errors import UsageError
    from ragcli.retrieval import check_question

    for bad, said in (
        (None, "must be text, not NoneType"), (7, "must be text, not int"),
        ("skole \ud800", "lone surrogate"), ("\u200b\u200e\u2066", "is empty"), (" \t\n", "is empty"),
        ("Hvad? " * 700, "4,200 characters; at most 4,000"),
    ):
        with pytest.raises(UsageError, match=said):
            check_question(bad)
    assert check_question("Hvornår starter skoledagen?") == "Hvornår starter skoledagen?"
    assert len(check_question("x" * 4000)) == 4000


def test_a_copy_of_a_file_that_could_not_be_read_says_the_original_was_skipped_too(tmp_path, minilm):
    folder = tmp_path / "docs"
    hostile.write(folder, "god.txt", "Affald sorteres i ti fraktioner i Fjordby Kommune.")
    (folder / "a.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    (folder / "b.pdf").write_bytes((folder / "a.pdf").read_bytes())
    report = ingest_folder(folder, tmp_path / "idx", minilm, default_chunking(minilm))
    assert report.added == ["god.txt"]
    reasons = {s.doc: s.reason for s in report.skipped}
    assert reasons["b.pdf"].startswith("duplicate of a.pdf, which was skipped too: ") and reasons["a.pdf"] in reasons["b.pdf"]


class _Refusing:
    """A generator that always says the documents do not say it: the decision rests on extraction."""

    name, n_ctx, chat = "refusing", 4096, False

    def count_tokens(self, text: str) -> int:
        return len(text) // 3 + 1

    def stream(self, prompt, params):
        yield "Det fremgår ikke af dokumenterne."


def test_a_cpr_number_in_the_question_finds_that_persons_case_and_is_never_shown(tmp_path, minilm):
    # Masked before anything else, the number had matched every masked number in the passages:
    # "Hvad har borgeren 150585-4321 søgt om?" was answered from 010190-1234's case.
    from ragcli import wire
    from ragcli.answering import AskParams, answer_question
    from ragcli.retrieval import RetrievalParams

    folder = tmp_path / "docs"
    hostile.write(folder, "sag1.txt", "Sagsnotat\n\nBorgeren med CPR 150585-4321 har søgt om hjælp til tandbehandling.")
    hostile.write(folder, "sag2.txt", "Sagsnotat\n\nBorgeren med CPR 010190-1234 har søgt om hjælp til briller.")
    for n in range(5):
        hostile.write(folder, f"andet{n}.txt", f"Referat nummer {n} fra et møde i Fjordby Kommune om veje og parker.")
    ingest_folder(folder, tmp_path / "idx", minilm, default_chunking(minilm))
    params = AskParams(retrieval=RetrievalParams(mode="lexical", k=5))
    with Index(tmp_path / "idx") as index:
        for cpr, case in (("150585-4321", "tandbehandling"), ("010190-1234", "briller")):
            answer = answer_question(f"Hvad har borgeren {cpr} søgt om hjælp til?", index, None, _Refusing(), params)
            assert answer.decision == "extracted" and case in answer.text and "[skjult]" in answer.text
            shown = json.dumps(dict(wire.answer(answer, "idx", "lexical")), ensure_ascii=False)
            assert answer.question == "Hvad har borgeren [skjult] søgt om hjælp til?"
            for piece in cpr.split("-"):
                assert piece not in shown and piece not in answer.prompt
        # the same number in another written form finds the same case
        for written in ("1505854321", "15.05.85-4321", "\uff11\uff15\uff10\uff15\uff18\uff15-\uff14\uff13\uff12\uff11"):
            other = answer_question(f"Hvad har borgeren {written} søgt om hjælp til?", index, None, _Refusing(), params)
            assert other.decision == "extracted" and "tandbehandling" in other.text, written
        # only the number's own pieces are masked in what the grounding shows: "§ 43" stays
        law = answer_question("Hvad har borgeren 150585-4321 fået efter servicelovens § 43?", index, None, _Refusing(), params)
        assert law.grounding["missing_numbers"] == ["43"]
        # … and a term the analyser made of a file name around it ("sag_150585") is masked whole
        from ragcli.privacy import mask_cpr_parts

        assert mask_cpr_parts(["sag_150585", "4321", "1505850", "43"], "Hvad står der i sag_150585_4321.pdf om § 43?") == [
            "[skjult]", "[skjult]", "1505850", "43"]
        unknown = answer_question("Hvad har borgeren 020202-2222 søgt om hjælp til?", index, None, _Refusing(), params)
        assert unknown.decision == "refused" and unknown.grounding["missing_numbers"] == ["[skjult]", "[skjult]"]
        # eval (which has no --show-cpr) had written and shown the question and the passages as they were
        from ragcli.answer_eval import run_answer_eval
        from ragcli.evaluation import EvalQuestion, run_eval

        row = EvalQuestion(id="q1", question="Hvad har borgeren 150585-4321 søgt om hjælp til?", doc="sag1.txt", page=1,
                           kind="fact", answer="Tandbehandling; CPR 150585-4321.")
        retrieval = json.dumps(run_eval(index, None, [row], RetrievalParams(mode="lexical", k=3)), ensure_ascii=False)
        answers = json.dumps(run_answer_eval([row], lambda q: answer_question(q, index, None, _Refusing(), params)), ensure_ascii=False)
        for shown in (retrieval, answers):
            assert "150585" not in shown and "[skjult]" in shown


def test_a_record_of_a_file_named_by_a_cpr_number_is_masked_and_still_verifies_and_highlights(tmp_path, minilm):
    # The record had been built from the masked answer: "sag_[skjult].pdf" was no document of
    # the index (no sha256, "ikke en PDF", verify "mangler"), while a folder named by the number
    # was written into the record's paths in full.
    from ragcli.annotate import annotate
    from ragcli.answering import AskParams, answer_question
    from ragcli.record import RecordFacts, build_record, raw_chunks_from, record_markdown, verify_record
    from ragcli.retrieval import RetrievalParams

    folder = tmp_path / "borger_150585-4321"
    hostile.write(folder, "sag_150585-4321.pdf", hostile.text_pdf(["Sagsnotat. Borgeren har søgt om tilskud til en handicapbil."]))
    hostile.write(folder, "sag_010190-1234.pdf", hostile.text_pdf(["Sagsnotat. Borgeren har søgt om hjælp til briller."]))
    ingest_folder(folder, tmp_path / "idx", minilm, default_chunking(minilm))
    with Index(tmp_path / "idx") as index:
        answer = mask_answer(answer_question(
            "Hvad har borgeren søgt om tilskud til?", index, None, _Refusing(), AskParams(retrieval=RetrievalParams(mode="lexical", k=2))
        ))
        assert answer.decision == "extracted" and "handicapbil" in answer.text
        facts = RecordFacts(index="idx", embedding_model=minilm.model_id, documents={d.name: d for d in index.documents()})
        record = build_record(answer, facts, raw_chunks_from(index))
    written = json.dumps(record, ensure_ascii=False) + record_markdown(record)
    assert "150585" not in written and "4321" not in written and "010190" not in written
    [source] = record["sources"]
    real = folder / "sag_150585-4321.pdf"
    assert source["doc"] == "sag_[skjult].pdf" and source["path"] == str(tmp_path / "borger_[skjult]" / "sag_[skjult].pdf")
    assert source["sha256"] == index_sha(real) and source["size"] == real.stat().st_size
    # the masked path finds the one file it stands for (of two that mask alike, by sha256)
    assert verify_record(record).ok and verify_record(record, root=folder).ok
    report = annotate(record, tmp_path / "marked")
    assert len(report.files) == 1 and not report.not_highlighted and "150585" not in str(report.files[0])
    real.write_bytes(real.read_bytes() + b"\n%")  # changed since: not found any more, and the other case is not read instead
    changed = verify_record(record)
    assert not changed.ok and changed.changes[0].startswith("mangler") and len(changed.changes) == 1


def test_a_masked_path_finds_only_its_own_file_and_never_leads_outside(tmp_path):
    from ragcli.record import source_path

    root = tmp_path / "sager"
    first = hostile.write(root, "sag_150585-4321.txt", "Borgeren har søgt om en handicapbil.")
    second = hostile.write(root, "sag_010190-1234.txt", "Borgeren har søgt om briller.")
    masked = {"doc": "sag_[skjult].txt", "path": str(root / "sag_[skjult].txt")}
    assert source_path({**masked, "sha256": index_sha(second)}) == second
    assert source_path({**masked, "sha256": index_sha(first)}, root) == first
    # a hash that neither has: none of them (it had been the first, another citizen's file)
    assert source_path({**masked, "sha256": "0" * 64}) == root / "sag_[skjult].txt"
    # a record citing both: each quote is looked for in its own file (both had been read from one)
    from ragcli.record import verify_record

    sources = [{**masked, "sha256": index_sha(path), "size": path.stat().st_size, "title": ""} for path in (first, second)]
    spans = [{**source, "quote": quote, "location": "s. 1"} for source, quote in zip(sources, ("en handicapbil", "briller"))]
    assert verify_record({"sources": sources, "spans": spans}).changes == []
    # a folder named by a number that links out of --root is not followed
    outside = hostile.write(tmp_path / "andet", "notat.txt", "Fortroligt.")
    (root / "150585-4321").symlink_to(outside.parent, target_is_directory=True)
    assert not source_path({"doc": "[skjult]/notat.txt", "sha256": index_sha(outside)}, root).is_file()
    # a record crafted to walk the file system is looked up no further
    assert source_path({"path": "/[skjult]/[skjult]/[skjult]/[skjult]/[skjult]/x"}) == Path("/[skjult]/[skjult]/[skjult]/[skjult]/[skjult]/x")


def index_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_values_the_user_typed_are_echoed_with_cpr_numbers_masked(tmp_path):
    # An index, a record path or a config value can name a citizen; `config` had shown the
    # value in full, and --record's missing folder in a usage box.
    (tmp_path / "cfg" / "ragcli").mkdir(parents=True)
    (tmp_path / "cfg" / "ragcli" / "config.toml").write_text('index = "sag-150585-4321"\n', encoding="utf-8")
    shown = ragcli("config", home=tmp_path)
    as_json = ragcli("config", "--json", home=tmp_path)
    record = ragcli("ask", "Hvad?", "--record", str(tmp_path / "150585-4321" / "x.json"), home=tmp_path)
    assert shown.returncode == as_json.returncode == 0 and record.returncode == 2
    for result in (shown, as_json, record):
        assert "150585" not in result.stdout + result.stderr and "[skjult]" in result.stdout + result.stderr


def test_an_interruption_after_the_commit_does_not_say_the_index_is_unchanged(capsys):
    """Ctrl-C right after ingest committed had said "indekset er uændret"; `info` then showed the new index."""
    import typer

    from ragcli.cli import user_errors

    saved: list[bool] = []
    said = lambda: "afbrudt (Ctrl-C) efter at indekset blev gemt" if saved else "afbrudt (Ctrl-C); indekset er uændret"  # noqa: E731
    for commit, expected in ((False, "indekset er uændret"), (True, "efter at indekset blev gemt")):
        if commit:
            saved.append(True)
        with pytest.raises(typer.Exit) as info, user_errors(interrupted=said):
            raise KeyboardInterrupt
        assert info.value.exit_code == 130 and expected in _one_line(capsys.readouterr().err)
