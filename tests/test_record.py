"""Answer records: built from an answer over a real PDF, written, read back, verified, tampered with.

The answer is scripted (its sentence copied from a real page), so no language model is
needed: what is under test is the record and its verification, not the model.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import shared_pdf

from ragcli.chunking import ChunkingParams, chunk_document
from ragcli.errors import DataError, UsageError
from ragcli.loading import load_document
from ragcli.record import (
    RECORD_FORMAT,
    RecordFacts,
    build_record,
    read_record,
    record_markdown,
    verify_record,
    write_record,
)
from ragcli.registry import sha256_file
from ragcli.schema import Answer, Citation, Hit, Sentence
from ragcli.store import DocumentRecord

AGENDA = "aarhus_byraad_dagsorden_2025-08-27.pdf"
P_HOUSES = "Der er derfor altid mindst 500 ledige pladser i p-husene."


def _words(texts):
    return [2 * len(t.split()) for t in texts]


_LOADED: dict = {}


def _load(path: Path, doc: str):
    # The 40-page agenda is read once per module (copies of it have the same bytes).
    key = (sha256_file(path), doc)
    if key not in _LOADED:
        _LOADED[key] = load_document(path, doc)
    return _LOADED[key]


def scripted_answer(path: Path, doc: str, needle: str, claim: str, chunk_tokens: int = 384) -> tuple[Answer, DocumentRecord]:
    """An answer whose one sentence cites the real chunk of `path` that holds `needle`."""
    loaded = _load(path, doc)
    chunks = chunk_document(loaded.pages, _words, ChunkingParams(chunk_tokens, 16))
    chunk = next(c for c in chunks if needle in " ".join(c.text.split()))
    sentence = Sentence(text=f"{claim} [1]", cites=[1], supported=True, support=1.0)
    answer = Answer(
        question="Hvor mange ledige pladser er der?", text=sentence.text, refused=False,
        citations=[Citation(1, doc, chunk.pages, chunk.page_start, chunk.page_end, 0.8, chunk.text[:50], cited=True)],
        sentences=[sentence], hits=[Hit(chunk, 0.8, 0.7, 3.2, 1, 1)], model="scripted",
        prompt="Kilde [1]: …\nSpørgsmål: …", prompt_tokens=12,
    )
    record = DocumentRecord(doc, str(path.resolve()), loaded.title, sha256_file(path), path.stat().st_size, len(loaded.pages), len(chunks))
    return answer, record


def facts(*records: DocumentRecord) -> RecordFacts:
    return RecordFacts(
        index="test", embedding_model="intfloat/multilingual-e5-small", documents={r.name: r for r in records},
        settings={"k": 5, "mode": "hybrid"}, model_file="/models/x.gguf", model_sha256="ab" * 32,
    )


@pytest.fixture()
def agenda(tmp_path) -> Path:
    copy = tmp_path / AGENDA
    shutil.copyfile(shared_pdf(AGENDA), copy)
    return copy


def test_record_holds_the_cited_span_with_hash_page_offsets_and_quote(agenda):
    answer, doc = scripted_answer(agenda, AGENDA, P_HOUSES, "Der er altid mindst 500 ledige pladser i p-husene.")
    record = build_record(answer, facts(doc))
    assert record["format"] == RECORD_FORMAT
    [span] = record["spans"]
    assert span["doc"] == AGENDA and span["page"] == 6 and span["location"] == "s. 6"
    assert span["sha256"] == sha256_file(agenda) == record["sources"][0]["sha256"]
    assert span["quote"] == P_HOUSES
    # The character span points at the quote in the document's cleaned text, as chunked.
    from ragcli.chunking import join_pages

    text = join_pages(_load(agenda, AGENDA).pages)[0]
    assert text[span["char_start"] : span["char_end"]] == P_HOUSES
    assert span["score"] == 1.0 and span["supported"] is True
    assert record["retrieval"][0]["cited"] is True and record["retrieval"][0]["doc"] == AGENDA
    assert record["prompt"] == answer.prompt and record["model"]["sha256"] == "ab" * 32
    assert record["embedding_model"] and record["ragcli_version"] and record["created"]


def test_json_round_trip_verifies_then_detects_a_changed_source(agenda, tmp_path):
    answer, doc = scripted_answer(agenda, AGENDA, P_HOUSES, "Der er altid mindst 500 ledige pladser i p-husene.")
    path = write_record(build_record(answer, facts(doc)), tmp_path / "svar.json")
    record = read_record(path)
    assert record == json.loads(path.read_text(encoding="utf-8"))
    result = verify_record(record)
    assert result.ok and result.sources == 1 and result.quotes == 1

    # Bytes appended after %%EOF: still the same text, no longer the same file.
    original = sha256_file(agenda)
    with agenda.open("ab") as handle:
        handle.write(b"\n% added after filing\n")
    result = verify_record(read_record(path))
    assert not result.ok
    assert len(result.changes) == 1 and result.changes[0].startswith("ændret:") and original[:12] in result.changes[0]


def test_verify_detects_a_removed_quote(tmp_path):
    source = tmp_path / "notat.txt"
    source.write_text(
        "Notat om parkering\n\nDer er derfor altid mindst 500 ledige pladser i p-husene. "
        "Byrådet følger udviklingen hvert kvartal.\n",
        encoding="utf-8",
    )
    answer, doc = scripted_answer(source, "notat.txt", "mindst 500", "Der er altid mindst 500 ledige pladser i p-husene.")
    path = write_record(build_record(answer, facts(doc)), tmp_path / "svar.json")
    assert verify_record(read_record(path)).ok
    source.write_text("Notat om parkering\n\nByrådet følger udviklingen hvert kvartal.\n", encoding="utf-8")
    changes = verify_record(read_record(path)).changes
    assert [c.split(":")[0] for c in changes] == ["ændret", "citat væk"]
    assert "mindst 500 ledige pladser" in changes[1]
    source.unlink()
    assert verify_record(read_record(path)).changes[0].startswith("mangler:")


def test_a_quote_edited_in_the_record_is_found_out_though_the_source_is_unchanged(tmp_path):
    # verify said "1 citater står der stadig" for an edited quote, since the sha256 still matched
    source = tmp_path / "notat.txt"
    source.write_text("Notat om parkering\n\nDer er derfor altid mindst 500 ledige pladser i p-husene.\n", encoding="utf-8")
    answer, doc = scripted_answer(source, "notat.txt", "mindst 500", "Der er altid mindst 500 ledige pladser i p-husene.")
    path = write_record(build_record(answer, facts(doc)), tmp_path / "svar.json")
    record = read_record(path)
    assert verify_record(record).ok
    record["spans"][0]["quote"] = "Der er altid mindst 900 ledige pladser i p-husene."
    changes = verify_record(record).changes
    assert len(changes) == 1 and changes[0].startswith("citat væk:") and "900" in changes[0]


def test_masked_cpr_in_a_quote_still_verifies(tmp_path):
    source = tmp_path / "sag.txt"
    source.write_text("Sagen\n\nBorgeren med CPR 010190-1234 har fået tilskud på 4.000 kr.\n", encoding="utf-8")
    answer, doc = scripted_answer(source, "sag.txt", "tilskud", "Borgeren har fået tilskud på 4.000 kr.")
    record = build_record(answer, facts(doc))
    assert "010190-1234" not in json.dumps(record) and "[skjult]" in record["spans"][0]["quote"]
    assert verify_record(record).ok
    # Changed elsewhere: the masked quote is still found in the re-read text.
    with source.open("a", encoding="utf-8") as handle:
        handle.write("Sagen er afsluttet.\n")
    assert [c.split(":")[0] for c in verify_record(record).changes] == ["ændret"]


def test_a_quote_of_many_masks_is_looked_for_in_linear_time(tmp_path):
    # A hand-edited record's quote ". [skjult]. [skjult]. … Z" over a contents page's leader
    # dots had kept verify busy for minutes (one lazy regex gap per mask, backtracking).
    import time

    from ragcli.record import quote_in

    dots = "Indhold " + "." * 20_000
    started = time.perf_counter()
    assert not quote_in("[skjult].".join(["."] * 12) + "Z", dots)
    assert time.perf_counter() - started < 5  # was 8.6 s for four masks, past a minute for six
    # what a mask stands for: 1 to 40 characters, side by side masks a wider gap, none at the ends
    text = "Borgeren med CPR 010190-1234 har fået tilskud."
    assert quote_in("CPR [skjult] har fået", text)
    assert quote_in("Borgeren med CPR [skjult][skjult] har", text)
    assert not quote_in("CPR [skjult] tilskud", "CPR " + "x" * 41 + " tilskud")
    assert quote_in("CPR [skjult] tilskud", "CPR " + "x" * 38 + " tilskud")
    assert quote_in("[skjult] har fået tilskud.", text) and not quote_in("[skjult] Borgeren", text)
    assert not quote_in("tilskud. [skjult]", text) and quote_in("fået [skjult]", text)


def test_markdown_record_and_path_checks(agenda, tmp_path):
    answer, doc = scripted_answer(agenda, AGENDA, P_HOUSES, "Der er altid mindst 500 ledige pladser i p-husene.")
    record = build_record(answer, facts(doc))
    record["prompt"] = "``` en dokumenttekst der prøver at lukke blokken"
    markdown = write_record(record, tmp_path / "svar.md").read_text(encoding="utf-8")
    assert sha256_file(agenda) in markdown and "s. 6" in markdown and "mindst 500 ledige pladser" in markdown
    assert "\n````\n``` en dokumenttekst" in markdown  # the prompt cannot close its own fence
    assert markdown == record_markdown(record)
    with pytest.raises(UsageError):
        write_record(record, tmp_path / "svar.txt")
    with pytest.raises(UsageError):
        write_record(record, tmp_path / "ingen" / "svar.json")
    with pytest.raises(UsageError):
        read_record(tmp_path / "svar.md")
    (tmp_path / "andet.json").write_text('{"answer": 1}', encoding="utf-8")
    with pytest.raises(DataError):
        read_record(tmp_path / "andet.json")


def test_a_refused_answer_has_no_spans(agenda):
    answer, doc = scripted_answer(agenda, AGENDA, P_HOUSES, "Der er altid mindst 500 ledige pladser i p-husene.")
    answer.decision, answer.refused = "refused", True
    record = build_record(answer, facts(doc))
    assert record["spans"] == [] and record["sources"] == [] and len(record["retrieval"]) == 1
    assert verify_record(record).ok


def test_verify_command_exit_codes_and_lines(tmp_path):
    from typer.testing import CliRunner

    from ragcli.cli import app

    source = tmp_path / "notat.txt"
    source.write_text("Notat\n\nDer er derfor altid mindst 500 ledige pladser i p-husene.\n", encoding="utf-8")
    answer, doc = scripted_answer(source, "notat.txt", "mindst 500", "Der er altid mindst 500 ledige pladser i p-husene.")
    path = write_record(build_record(answer, facts(doc)), tmp_path / "svar.json")
    runner = CliRunner()
    result = runner.invoke(app, ["verify", str(path)])
    assert result.exit_code == 0 and result.output.startswith("OK: 1 kilder")
    source.write_text("Notat\n\nIntet om parkering.\n", encoding="utf-8")
    result = runner.invoke(app, ["verify", str(path), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["ok"] is False and [c.split(":")[0] for c in data["changes"]] == ["ændret", "citat væk"]
    # The documents moved with the case file: found by name under --root.
    moved = tmp_path / "sag"
    moved.mkdir()
    (moved / "notat.txt").write_text("Notat\n\nDer er derfor altid mindst 500 ledige pladser i p-husene.\n", encoding="utf-8")
    assert runner.invoke(app, ["verify", str(path), "--root", str(moved)]).exit_code == 0  # the same bytes, moved
    no_root = runner.invoke(app, ["verify", str(path), "--root", str(tmp_path / "findes-ikke")])
    assert no_root.exit_code == 2 and no_root.output.count("\n") == 1 and "--root" in no_root.output
    (tmp_path / "dinglende").symlink_to(tmp_path / "væk")
    assert "does not exist" in runner.invoke(app, ["ask", "hvad?", "--annotate", str(tmp_path / "dinglende")]).output
    # --json masks as the terminal view does (a record written with --show-cpr holds the numbers)
    shown = json.loads(path.read_text(encoding="utf-8"))
    shown["spans"][0]["quote"] = "Borgeren 150585-4321 har fået 500 pladser."
    (tmp_path / "vist.json").write_text(json.dumps(shown), encoding="utf-8")
    both = [runner.invoke(app, ["verify", str(tmp_path / "vist.json"), *flag]) for flag in ((), ("--json",))]
    assert all(r.exit_code == 1 and "citat væk" in r.output and "150585" not in r.output for r in both)
    result = runner.invoke(app, ["verify", str(tmp_path / "findes-ikke.json")])
    assert result.exit_code == 1 and "findes ikke" in result.output
    # Options that cannot work are refused before an index or a model is opened.
    assert runner.invoke(app, ["ask", "hvad?", "--png"]).exit_code == 2
    assert runner.invoke(app, ["ask", "hvad?", "--record", str(tmp_path / "svar.txt")]).exit_code == 2


def test_a_hand_edited_record_is_one_line_and_names_never_leave_root(tmp_path):
    source = tmp_path / "sag" / "notat.txt"
    source.parent.mkdir()
    source.write_text("Notat\n\nDer er derfor altid mindst 500 ledige pladser i p-husene.\n", encoding="utf-8")
    answer, doc = scripted_answer(source, "notat.txt", "mindst 500", "Der er altid mindst 500 ledige pladser i p-husene.")
    record = build_record(answer, facts(doc))
    for broken in ({**record, "spans": ["ikke et citat"]}, {**record, "spans": [{**record["spans"][0], "char_start": "7"}]},
                   {**record, "spans": [{**record["spans"][0], "sha256": []}]}):  # had been a TypeError traceback
        (tmp_path / "r.json").write_text(json.dumps(broken), encoding="utf-8")
        with pytest.raises(DataError, match="beskadiget"):
            read_record(tmp_path / "r.json")
    # A document name that climbs out of --root is looked for inside it, and so not found.
    outside = {**record, "sources": [{**record["sources"][0], "doc": "../sag/notat.txt"}]}
    outside["spans"] = [{**record["spans"][0], "doc": "../sag/notat.txt"}]
    (tmp_path / "andet").mkdir()
    assert verify_record(outside, root=tmp_path / "andet").changes[0].startswith("mangler:")
    assert verify_record(record, root=tmp_path / "sag").ok
    # a "record" that is a device or a pipe is refused at once (/dev/zero had filled memory)
    (tmp_path / "nul.json").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "roer.json")
    for odd in ("nul.json", "roer.json"):
        with pytest.raises(DataError, match="ikke en almindelig fil"):
            read_record(tmp_path / odd)


def test_a_quote_of_many_masked_numbers_is_looked_for_within_a_bounded_number_of_places(monkeypatch):
    # 200 masked numbers between single letters, over 2 MB of that letter, had run for minutes
    # (pieces times places); the search now stops after MAX_PLACES places: not found.
    from ragcli import record
    from ragcli.record import quote_in, span_of_parts

    assert not quote_in("e[skjult]" * 200 + "ZZZ", "e " * 1_000_000)
    text = "Borgeren 150585-4321 har søgt om 010190-1234 i alt."
    assert quote_in("Borgeren [skjult] har søgt om [skjult] i alt.", text)
    # a registry's rows find "," everywhere: a quote is looked for first where the record says
    # it stands, so a budget the whole text would spend does not call it gone
    from ragcli.record import quote_found

    rows = "Hansen,010190-1234,020290-5678,030390-9012,Aarhus\n" * 2_000
    registry = rows + "Jensen,040490-1234,050590-5678,060690-9012,Odense\n"
    quote = "Jensen,[skjult],[skjult],[skjult],Odense"
    assert quote_in(quote, registry)
    monkeypatch.setattr(record, "MAX_PLACES", 1_000)  # fewer than the registry's commas
    monkeypatch.setattr(record, "PLACES_PER_CHAR", 0)
    assert not quote_in(quote, registry)  # the whole text spends the budget …
    assert quote_found(quote, registry, len(rows), len(registry) - 1)  # … its recorded place does not
    assert not quote_found(quote, registry, 0, 10)  # (and a wrong place falls back to the whole text)
    assert span_of_parts(["a", "b"], [(0, 5)], "ab" * 10) == (0, 2)
    monkeypatch.setattr(record, "MAX_PLACES", 15)  # 10 places of "a" and 10 of "b": past the budget
    assert span_of_parts(["a", "b"], [(0, 5)], "ab" * 10) is None


def test_model_sha256_trusts_only_a_matching_verification_stamp(tmp_path):
    import hashlib
    import os

    from ragcli.record import model_sha256

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF model bytes")
    real = hashlib.sha256(b"GGUF model bytes").hexdigest()
    assert model_sha256(model) == real
    st = model.stat()
    (tmp_path / "m.verified").write_text(f"{'ab' * 32} {st.st_size} {st.st_mtime_ns}")
    assert model_sha256(model) == "ab" * 32  # the stamp ragcli.registry writes after hashing
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched since: hash again
    assert model_sha256(model) == real


def test_a_quote_of_two_units_apart_has_a_span_for_each(tmp_path):
    # "A. … B. [1]" is one answer sentence; its record had held B's span only (and --annotate
    # highlighted B only), though A is usually the one that answers.
    source = tmp_path / "skole.txt"
    first = "En almindelig skoledag starter kl. 8.00 for alle elever."
    second = "Første skoledag møder børnehaveklassen kl. 9.00 sammen med forældrene."
    source.write_text(f"Skolestart\n\n{first} Frikvarteret er kl. 10.\n\n{second}\n", encoding="utf-8")
    answer, doc = scripted_answer(source, "skole.txt", "Frikvarteret", f"{first} … {second}")
    spans = build_record(answer, facts(doc))["spans"]
    assert [s["quote"] for s in spans] == [first, second]
    assert verify_record(build_record(answer, facts(doc))).ok


def test_the_parts_of_a_quote_find_only_their_own_places():
    # every part had been looked for in every cited source (a fallback span with no share for
    # each), and a plain "…" inside a sentence had cut it into fragments
    from ragcli.record import cited_spans
    from ragcli.schema import Chunk

    first, second = "Skoledagen starter kl. 8.00 for alle elever.", "SFO koster 1.850 kr. om måneden."
    school = Chunk("skole.txt", "Skole", 1, 1, 0, 60, f"Skolestart. {first}", 20)
    sfo = Chunk("sfo.txt", "SFO", 1, 1, 0, 60, f"Takster. {second}", 20)
    sentence = Sentence(text=f"{first} … {second} [1]", cites=[1], attached=[2], supported=True, support=1.0)
    answer = Answer(
        question="Hvornår og hvad?", text=sentence.text, refused=False, citations=[], sentences=[sentence],
        hits=[Hit(school, 0.8), Hit(sfo, 0.7)], model="scripted", prompt="", prompt_tokens=1, decision="extracted",
    )
    assert [(s.source, s.quote) for s in cited_spans(answer)] == [(1, first), (2, second)]
    ellipsis = Sentence(text="Skoledagen starter kl. 8.00…for alle elever. [1]", cites=[1], supported=True, support=1.0)
    answer = replace(answer, sentences=[ellipsis], text=ellipsis.text)
    assert len(cited_spans(answer)) == 1


def test_a_source_of_another_size_is_changed_without_being_hashed(tmp_path, monkeypatch):
    # a 3 GB file had been hashed in full (10 s) to learn what its size already said
    import ragcli.registry

    source = tmp_path / "notat.txt"
    source.write_text("Notat\n\nDer er derfor altid mindst 500 ledige pladser i p-husene.\n", encoding="utf-8")
    answer, doc = scripted_answer(source, "notat.txt", "mindst 500", "Der er altid mindst 500 ledige pladser i p-husene.")
    record = build_record(answer, facts(doc))
    source.write_text("Notat\n\nDer er derfor altid mindst 500 ledige pladser i p-husene. Og mere.\n", encoding="utf-8")

    def no_hashing(path):
        raise AssertionError("hashed")

    monkeypatch.setattr(ragcli.registry, "sha256_file", no_hashing)
    found = verify_record(record)
    assert [c.split(":")[0] for c in found.changes] == ["ændret"] and "størrelsen" in found.changes[0]


def test_a_source_named_in_the_other_unicode_form_is_found_under_root(tmp_path):
    """A record made on a Mac ("Bo\\u0308rnehave.pdf", decomposed) checked against a copy whose
    name is composed: both print as "Börnehave.pdf", and verify had said it was missing."""
    from ragcli.annotate import _safe_stem
    from ragcli.record import source_path

    (tmp_path / "B\u00f6rnehave.pdf").write_bytes(b"%PDF-1.4 x")
    found = source_path({"doc": "Bo\u0308rnehave.pdf", "path": "/else/Bo\u0308rnehave.pdf"}, tmp_path)
    assert found == tmp_path / "B\u00f6rnehave.pdf"
    assert _safe_stem("Bo\u0308rnehave.pdf") == "B\u00f6rnehave"  # had been "Bo_rnehave"


def test_a_record_never_replaces_a_file_that_is_not_one(tmp_path):
    """`--record notes.md` (and chat's /record) had replaced the user's notes without a word."""
    from ragcli.errors import UsageError
    from ragcli.record import MARKDOWN_HEADING, RECORD_FORMAT, check_record_path

    (tmp_path / "noter.md").write_text("mine noter om sagen\n", encoding="utf-8")
    (tmp_path / "data.json").write_text('{"mine": "data"}\n', encoding="utf-8")
    for name in ("noter.md", "data.json"):
        with pytest.raises(UsageError, match="findes og er ikke en ragcli-optegnelse"):
            check_record_path(tmp_path / name)
    # an earlier record of ragcli's is replaced, as a re-run expects
    (tmp_path / "svar.md").write_text(MARKDOWN_HEADING + "\n\n- Spørgsmål: …\n", encoding="utf-8")
    (tmp_path / "svar.json").write_text(json.dumps({"format": RECORD_FORMAT, "question": "…"}, indent=2), encoding="utf-8")
    assert check_record_path(tmp_path / "svar.md") and check_record_path(tmp_path / "svar.json")
