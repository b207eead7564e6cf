"""Ingestion that keeps an index up to date: incremental, resumable, crash-safe, calm about bad files."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pypdf
import pytest
from conftest import TEST_EMBED_MODEL, interruptible, shared_pdf

from ragcli.ingest import default_chunking, ingest_folder
from ragcli.ocr import tesseract_languages
from ragcli.store import Index


def _copy(name: str, folder: Path, as_name: str | None = None) -> Path:
    target = folder / (as_name or name)
    shutil.copyfile(shared_pdf(name), target)
    return target


def test_incremental_reingest(tmp_path, minilm):
    docs = tmp_path / "docs"
    docs.mkdir()
    _copy("aarhus_naar_dit_barn_gaar_i_skole.pdf", docs)
    _copy("digst_govcloud_paas_startarkitektur.pdf", docs)
    params = default_chunking(minilm)
    first = ingest_folder(docs, tmp_path / "idx", minilm, params)
    assert sorted(first.added) == sorted(p.name for p in docs.iterdir()) and first.embedded_chunks == first.chunks

    again = ingest_folder(docs, tmp_path / "idx", minilm, params)
    assert again.embedded_chunks == 0 and len(again.unchanged) == 2 and again.chunks == first.chunks

    # A changed file is re-embedded alone; a new one is added; a deleted one is pruned.
    (docs / "notes.txt").write_text("Skolebussen kører fra Rådhuspladsen kl. 7.15 hver morgen.", encoding="utf-8")
    changed = ingest_folder(docs, tmp_path / "idx", minilm, params)
    assert changed.added == ["notes.txt"] and changed.embedded_chunks == 1
    (docs / "notes.txt").write_text("Skolebussen kører fra Banegården kl. 7.30 hver morgen.", encoding="utf-8")
    (docs / "digst_govcloud_paas_startarkitektur.pdf").unlink()
    updated = ingest_folder(docs, tmp_path / "idx", minilm, params)
    assert updated.updated == ["notes.txt"] and updated.embedded_chunks == 1
    assert updated.removed == ["digst_govcloud_paas_startarkitektur.pdf"]
    with Index(tmp_path / "idx") as index:
        assert sorted(d.name for d in index.documents()) == ["aarhus_naar_dit_barn_gaar_i_skole.pdf", "notes.txt"]
        assert index.lexical.search("Banegården", 1) and not index.lexical.search("Rådhuspladsen", 1)


def test_two_folders_with_the_same_file_name_share_an_index(tmp_path, minilm):
    # Two municipalities' folders both hold a referat.txt; the index once crashed on
    # writing (UNIQUE constraint) after all the embedding was done.
    params = default_chunking(minilm)
    for town, hour in (("aarhus", "9.00"), ("randers", "14.00")):
        (tmp_path / town).mkdir()
        (tmp_path / town / "referat.txt").write_text(f"Byrådet i {town} mødtes kl. {hour}.", encoding="utf-8")
    ingest_folder(tmp_path / "aarhus", tmp_path / "idx", minilm, params)
    second = ingest_folder(tmp_path / "randers", tmp_path / "idx", minilm, params)
    assert second.documents == 2
    # The one already there keeps its name; the newcomer gets its folder in front, in its
    # record and in its chunks (which is what answers cite).
    with Index(tmp_path / "idx") as index:
        assert sorted(d.name for d in index.documents()) == ["randers/referat.txt", "referat.txt"]
        [(hit_id, _)] = index.lexical.search("14.00", 1)
        assert index.chunks([hit_id])[hit_id].doc == "randers/referat.txt"
    # Re-ingesting either folder, changed or not, keeps both names stable.
    (tmp_path / "randers" / "referat.txt").write_text("Byrådet i randers mødtes kl. 15.00.", encoding="utf-8")
    ingest_folder(tmp_path / "randers", tmp_path / "idx", minilm, params)
    ingest_folder(tmp_path / "aarhus", tmp_path / "idx", minilm, params)
    with Index(tmp_path / "idx") as index:
        assert sorted(d.name for d in index.documents()) == ["randers/referat.txt", "referat.txt"]
        [(hit_id, _)] = index.lexical.search("15.00", 1)
        assert index.chunks([hit_id])[hit_id].doc == "randers/referat.txt"


def test_a_copy_is_not_indexed_twice_and_a_renamed_file_is_not_re_embedded(tmp_path, minilm):
    params = default_chunking(minilm)
    (tmp_path / "aarhus").mkdir()
    (tmp_path / "arkiv").mkdir()
    text = "Byrådet i Aarhus vedtog budgettet for skoleåret den 9. oktober."
    (tmp_path / "aarhus" / "referat.txt").write_text(text, encoding="utf-8")
    ingest_folder(tmp_path / "aarhus", tmp_path / "idx", minilm, params)

    # The same file in another folder ingested into the same index: reported, not added.
    (tmp_path / "arkiv" / "kopi.txt").write_text(text, encoding="utf-8")
    copy = ingest_folder(tmp_path / "arkiv", tmp_path / "idx", minilm, params)
    assert [(s.doc, s.reason) for s in copy.skipped] == [("kopi.txt", "duplicate of referat.txt (already in the index)")]
    assert copy.documents == 1 and copy.embedded_chunks == 0

    # Renamed in place: its chunks and vectors move with it, nothing is embedded again.
    (tmp_path / "aarhus" / "referat.txt").rename(tmp_path / "aarhus" / "byraad_referat.txt")
    renamed = ingest_folder(tmp_path / "aarhus", tmp_path / "idx", minilm, params)
    assert renamed.added == ["byraad_referat.txt"] and renamed.removed == ["referat.txt"]
    assert renamed.embedded_chunks == 0 and renamed.documents == 1
    with Index(tmp_path / "idx") as index:
        [doc] = index.documents()
        assert doc.name == "byraad_referat.txt" and doc.path == str((tmp_path / "aarhus" / "byraad_referat.txt").resolve())
        [(hit_id, _)] = index.lexical.search("budgettet", 1)
        assert index.chunks([hit_id])[hit_id].doc == "byraad_referat.txt"
        vector = index.vectors.reconstruct(hit_id)
    assert abs(float(vector @ minilm.embed_passages([text])[0]) - 1.0) < 1e-4

    # Two indexed files that swap contents are not mistaken for copies of each other.
    other = "Skolebussen kører fra Banegården kl. 7.30 hver morgen."
    (tmp_path / "aarhus" / "bus.txt").write_text(other, encoding="utf-8")
    ingest_folder(tmp_path / "aarhus", tmp_path / "idx", minilm, params)
    (tmp_path / "aarhus" / "bus.txt").write_text(text, encoding="utf-8")
    (tmp_path / "aarhus" / "byraad_referat.txt").write_text(other, encoding="utf-8")
    swapped = ingest_folder(tmp_path / "aarhus", tmp_path / "idx", minilm, params)
    assert not swapped.skipped and swapped.embedded_chunks == 0 and swapped.documents == 2
    assert sorted(swapped.updated) == ["bus.txt", "byraad_referat.txt"]
    with Index(tmp_path / "idx") as index:
        [(hit_id, _)] = index.lexical.search("Banegården", 1)
        assert index.chunks([hit_id])[hit_id].doc == "byraad_referat.txt"


def _zoo(folder: Path) -> dict[str, str]:
    """Good files beside every kind of bad one; returns bad file → expected reason."""
    good = _copy("aarhus_naar_dit_barn_gaar_i_skole.pdf", folder)
    (folder / "dublet.pdf").write_bytes(good.read_bytes())
    (folder / "tom.pdf").write_bytes(b"")
    (folder / "falsk.pdf").write_text("<html>ikke en pdf</html>")
    (folder / "afkortet.pdf").write_bytes(good.read_bytes()[:4000])
    writer = pypdf.PdfWriter()
    buffer = io.BytesIO()
    writer.write(buffer)
    (folder / "nul_sider.pdf").write_bytes(buffer.getvalue())
    reader = pypdf.PdfReader(io.BytesIO(good.read_bytes()))
    locked = pypdf.PdfWriter()
    for page in reader.pages:
        locked.add_page(page)
    locked.encrypt(user_password="hemmelig", owner_password="ejer", algorithm="RC4-128")
    with (folder / "krypteret.pdf").open("wb") as handle:
        locked.write(handle)
    (folder / "noter.md").write_text("# Noter\n\nForældremøde i 0. klasse holdes den 3. september.", encoding="utf-8")
    return {
        "dublet.pdf": "duplicate of aarhus_naar_dit_barn_gaar_i_skole.pdf",
        "tom.pdf": "empty file",
        "falsk.pdf": "not a PDF",
        "afkortet.pdf": "corrupt PDF",
        "nul_sider.pdf": "zero pages",
        "krypteret.pdf": "encrypted",
    }


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "RAGCLI_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "ragcli.cli", *args], capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.slow
def test_bad_pdf_zoo_is_reported_and_the_rest_indexed(tmp_path):
    folder = tmp_path / "zoo"
    folder.mkdir()
    expected = _zoo(folder)
    result = _cli("ingest", str(folder), "--index", "zoo", "--embed-model", TEST_EMBED_MODEL, "--json", home=tmp_path)
    assert result.returncode == 3, result.stderr  # completed with warnings
    report = json.loads(result.stdout)
    assert sorted(report["added"]) == ["aarhus_naar_dit_barn_gaar_i_skole.pdf", "noter.md"]
    reasons = {s["doc"]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == set(expected)
    for name, reason in expected.items():
        assert reason in reasons[name] and "\n" not in reasons[name]


@pytest.mark.slow
def test_killed_ingest_leaves_the_last_index_intact_and_the_next_run_resumes(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    _copy("digst_govcloud_paas_startarkitektur.pdf", docs)
    first = _cli("ingest", str(docs), "--index", "k", "--embed-model", TEST_EMBED_MODEL, "--json", home=tmp_path)
    assert first.returncode == 0, first.stderr
    before = json.loads(first.stdout)

    for name in ("digst_referencearkitektur_brugerstyring_2019.pdf", "sds_ehdsi_driftshaandbog.pdf", "statens_it_produktblad_driftsplatform.pdf"):
        _copy(name, docs)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGCLI_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "ragcli.cli", "ingest", str(docs), "--index", "k", "--embed-model", TEST_EMBED_MODEL, "-q"]
    pending = tmp_path / "k" / ".pending"
    # Stop it at several points: killed while starting up, Ctrl-C once a document is
    # embedded, killed later still.
    for wait_for_pending_files, how in ((0, signal.SIGKILL), (1, signal.SIGINT), (2, signal.SIGKILL)):
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if len(list(pending.glob("*.npy"))) >= wait_for_pending_files and (wait_for_pending_files or time.monotonic() > deadline - 299):
                break
            time.sleep(0.05)
        running = process.poll() is None
        process.send_signal(how)
        _, stderr = process.communicate()
        if how == signal.SIGINT and running:
            assert process.returncode == 130
            assert stderr.strip() == "Fejl: afbrudt (Ctrl-C); indekset er uændret"
        with Index.open(tmp_path, "k") as index:  # the committed index still opens, unchanged
            names = [d.name for d in index.documents()]
            if len(names) == 1:
                assert names == ["digst_govcloud_paas_startarkitektur.pdf"]
                assert index.manifest["counts"]["chunks"] == before["chunks"]
                assert index.lexical.search("GovCloud", 1)

    final = _cli("ingest", str(docs), "--index", "k", "--embed-model", TEST_EMBED_MODEL, "--json", home=tmp_path)
    assert final.returncode == 0, final.stderr
    report = json.loads(final.stdout)
    assert report["documents"] == 4
    assert report["resumed_chunks"] + report["embedded_chunks"] == report["chunks"] - before["chunks"]
    assert not pending.exists()  # cleared after the commit
    assert not list((tmp_path / "k").glob(".staging-*")) and len(list((tmp_path / "k").glob("gen-*"))) == 1


def test_scanned_pdf_is_read_with_danish_ocr(tmp_path, minilm):
    if "dan" not in tesseract_languages():
        pytest.skip("Tesseract with Danish is not installed (apt-get install tesseract-ocr tesseract-ocr-dan)")
    docs = tmp_path / "docs"
    docs.mkdir()
    _copy("SCANNED_randers_jordtip_procesdiagram.pdf", docs)
    report = ingest_folder(docs, tmp_path / "idx", minilm, default_chunking(minilm))
    assert report.skipped == [] and report.added == ["SCANNED_randers_jordtip_procesdiagram.pdf"]
    with Index(tmp_path / "idx") as index:
        hits = index.lexical.search("jordflytning", 3)
        assert hits, "a Danish word printed on the scan is found"


@pytest.mark.slow
def test_sigterm_during_a_long_ocr_stops_the_ingest_at_once(tmp_path):
    """Files are read on two threads; a stopped ingest must not wait for a 40-page scan's OCR."""
    import hostile

    if "dan" not in tesseract_languages():
        pytest.skip("Tesseract with Danish is not installed")
    docs = tmp_path / "docs"
    hostile.write(docs, "skannet.pdf", hostile.image_pdf(40))
    hostile.write(docs, "notat.txt", "Borgeren har søgt om tilskud til briller hos kommunen.")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGCLI_EMBED_MODEL": TEST_EMBED_MODEL}
    process = subprocess.Popen(
        [sys.executable, "-m", "ragcli.cli", "ingest", str(docs), "--index", "i", "--home", str(tmp_path / "idx")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while subprocess.run(["pgrep", "-s", str(process.pid), "tesseract"], capture_output=True).returncode != 0:
        assert process.poll() is None and time.monotonic() < deadline, "OCR never started"
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)  # to ragcli alone, as a service manager does
    sent = time.monotonic()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and "SIGTERM" in err
    assert time.monotonic() - sent < 10  # the remaining ~40 pages of OCR were abandoned, not waited for
    assert subprocess.run(["pgrep", "-s", str(process.pid)], capture_output=True).returncode != 0  # no child left
    assert not (tmp_path / "idx" / "i" / "manifest.json").exists()


def test_a_folder_that_cannot_be_listed_keeps_what_the_index_holds_from_it(tmp_path, minilm, monkeypatch):
    """A subfolder made unreadable (chmod 000 by a colleague) had been left out by os.walk
    without a word, and ingest then pruned its documents as deleted: exit 0, "1 fjernet"."""
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("Skolebussen kører fra Rådhuspladsen kl. 7.15 hver morgen.", encoding="utf-8")
    (docs / "sub" / "b.txt").write_text("Biblioteket har åbent alle hverdage fra kl. 8 til kl. 20.", encoding="utf-8")
    params = default_chunking(minilm)
    assert sorted(ingest_folder(docs, tmp_path / "idx", minilm, params).added) == ["a.txt", "sub/b.txt"]

    listing = os.scandir

    def scandir(path="."):  # what the kernel answers for a folder of mode 000 (root is not refused)
        if Path(path).name == "sub":
            raise PermissionError(13, "Permission denied", str(path))
        return listing(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = ingest_folder(docs, tmp_path / "idx", minilm, params)
    assert report.removed == [] and report.documents == 2
    [(doc, reason)] = [(s.doc, s.reason) for s in report.skipped]
    assert doc == "sub" and reason.startswith("cannot read folder (Permission denied)")

    # A folder it may list but not enter (chmod 644: the review found its files pruned): each
    # file's lstat is refused
    monkeypatch.setattr(os, "scandir", listing)
    status = os.stat

    def stat(path, *args, **kwargs):
        if not isinstance(path, int) and Path(path).parent.name == "sub":
            raise PermissionError(13, "Permission denied", str(path))
        return status(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    report = ingest_folder(docs, tmp_path / "idx", minilm, params)
    assert report.removed == [] and report.documents == 2
    assert [s.doc for s in report.skipped] == ["sub/b.txt"] and "what the index holds from it is kept" in report.skipped[0].reason


def test_a_path_past_the_systems_limit_is_skipped_and_the_rest_indexed(tmp_path, minilm):
    """One file 25 folders of 200 characters down (over 4,096 bytes) had ended the whole ingest
    with a 4,252-character "File name too long" line, and nothing was indexed."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "top.txt").write_text("Skolebussen kører fra Rådhuspladsen kl. 7.15 hver morgen.", encoding="utf-8")
    folder = os.open(docs, os.O_RDONLY)
    try:
        for _ in range(25):  # made relative to an open folder: no path of that length is ever spelled out
            os.mkdir("d" * 200, dir_fd=folder)
            inner = os.open("d" * 200, os.O_RDONLY, dir_fd=folder)
            os.close(folder)
            folder = inner
        deep = os.open("dyb.txt", os.O_WRONLY | os.O_CREAT, dir_fd=folder)
        os.write(deep, "Biblioteket har åbent alle hverdage fra kl. 8 til kl. 20.".encode())
        os.close(deep)
    finally:
        os.close(folder)
    report = ingest_folder(docs, tmp_path / "idx", minilm, default_chunking(minilm))
    assert report.added == ["top.txt"]
    assert len(report.skipped) == 1 and "cannot read" in report.skipped[0].reason


def test_ingest_says_when_the_new_index_is_the_live_one(tmp_path, minilm):
    """The CLI words an interruption by this: before it the index is unchanged, after it is saved."""
    from ragcli.ingest import IngestProgress

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Skolebussen kører fra Rådhuspladsen kl. 7.15 hver morgen.", encoding="utf-8")
    seen: list[int] = []
    progress = IngestProgress(on_committed=lambda: seen.append(len(Index.open(tmp_path / "idx", "idx").documents())))
    ingest_folder(docs, tmp_path / "idx" / "idx", minilm, default_chunking(minilm), progress=progress)
    assert seen == [1]  # called once, with the new index already readable


def test_ingesting_a_folder_that_holds_an_index_leaves_the_index_out(tmp_path, minilm):
    """`ragcli ingest .` with the default ./indexes had walked its own index: "Ikke læst: 1 .faiss,
    3 .json, 4 .npy, 1 .sqlite" (and the review found the same where the home is the folder)."""
    (tmp_path / "bus.txt").write_text("Skolebussen kører fra Rådhuspladsen kl. 7.15 hver morgen.", encoding="utf-8")
    params = default_chunking(minilm)
    for index in (tmp_path / "indexes" / "x", tmp_path / "y"):  # under a home inside the folder; the home is the folder
        ingest_folder(tmp_path, index, minilm, params)
        again = ingest_folder(tmp_path, index, minilm, params)
        assert again.unchanged == ["bus.txt"] and again.added == [] and again.ignored == {}, index
