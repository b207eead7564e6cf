"""End to end through the real command line: ingest real PDFs, ask, search, info, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEST_EMBED_MODEL

QUESTION = "Hvilken værdi skal Server.ehealth.mode have i produktion?"
GOLD = ("sds_ehdsi_driftshaandbog.pdf", 2)


def ragcli(*args: str, home: Path, check: bool = False, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "RAGCLI_HOME": str(home)}
    env.pop("RAGCLI_INDEX", None)
    result = subprocess.run(
        [sys.executable, "-m", "ragcli.cli", *args], capture_output=True, text=True, env=env, input=stdin, timeout=600
    )
    if check and result.returncode != 0:
        raise AssertionError(f"ragcli {' '.join(args)} → {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory, small_corpus) -> Path:
    home = tmp_path_factory.mktemp("cli_home")
    result = ragcli("ingest", str(small_corpus), "--index", "kommune", "--embed-model", TEST_EMBED_MODEL, "--json", home=home, check=True)
    report = json.loads(result.stdout)
    assert report["documents"] == 3 and report["chunks"] > 0 and report["skipped"] == []
    return home


def test_ask_json_cites_the_page_with_the_answer(cli_home):
    result = ragcli("ask", QUESTION, "--index", "kommune", "--json", home=cli_home, check=True)
    data = json.loads(result.stdout)  # stdout holds exactly one JSON object
    assert set(data) >= {"question", "answer", "refused", "model", "citations", "sentences", "evidence", "retrieval", "timings"}
    assert data["question"] == QUESTION and isinstance(data["answer"], str) and data["answer"]
    assert data["model"].startswith("gemma-3-270m")
    citation_keys = {"number", "doc", "pages", "page_start", "page_end", "score", "snippet", "cited"}
    assert all(set(c) == citation_keys for c in data["citations"])
    assert [c["number"] for c in data["citations"]] == list(range(1, len(data["citations"]) + 1))
    doc, page = GOLD
    assert any(c["doc"] == doc and c["page_start"] <= page <= c["page_end"] for c in data["citations"])
    # Every citation the answer uses points at a retrieved passage.
    retrieved = {(h["doc"], h["page_start"]) for h in data["retrieval"]["hits"]}
    for sentence in data["sentences"]:
        for n in sentence["cites"] + sentence["attached"]:
            if 1 <= n <= len(data["citations"]):
                c = data["citations"][n - 1]
                assert (c["doc"], c["page_start"]) in retrieved


def test_ask_prints_answer_and_sources_table(cli_home):
    result = ragcli("ask", QUESTION, "--index", "kommune", home=cli_home, check=True)
    assert result.stdout.startswith("Svar:")
    assert "Kilder" in result.stdout and "sds_ehdsi_driftshaandbog.pdf" in result.stdout
    assert "\x1b[" not in result.stdout  # no ANSI codes when piped
    # … and the answer is one line (rich had wrapped it at 80 columns: `| head -1` cut it short)
    answer = json.loads(ragcli("ask", QUESTION, "--index", "kommune", "--json", home=cli_home, check=True).stdout)["answer"]
    assert result.stdout.splitlines()[0] == "Svar: " + answer


def test_search_and_info_json(cli_home):
    result = ragcli("search", "affaldssortering skole", "--index", "kommune", "--k", "3", "--json", home=cli_home, check=True)
    data = json.loads(result.stdout)
    assert data["mode"] == "hybrid" and 1 <= len(data["hits"]) <= 3
    assert {"doc", "page_start", "text", "score", "dense_score", "lexical_score"} <= set(data["hits"][0])
    lexical = json.loads(ragcli("search", QUESTION, "--index", "kommune", "--mode", "lexical", "--json", home=cli_home, check=True).stdout)
    assert (lexical["hits"][0]["doc"], lexical["hits"][0]["page_start"]) == GOLD
    info = json.loads(ragcli("info", "--index", "kommune", "--json", home=cli_home, check=True).stdout)
    assert info["manifest"]["embedding"]["model"] == TEST_EMBED_MODEL
    assert info["manifest"]["counts"]["documents"] == 3
    assert sorted(d["name"] for d in info["documents"])[0] == "aarhus_naar_dit_barn_gaar_i_skole.pdf"
    # Only stop words: BM25 finds nothing, and says why rather than drawing an empty table.
    nothing = ragcli("search", "og i på det", "--index", "kommune", "--mode", "lexical", home=cli_home, check=True)
    assert nothing.stdout == "" and "Ingen passager fundet" in nothing.stderr and "stopord" in nothing.stderr


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


def test_errors_are_one_line(tmp_path, cli_home):
    missing = ragcli("ingest", str(tmp_path / "nowhere"), "--index", "x", home=tmp_path)
    assert missing.returncode == 1 and "nowhere" in _one_line_error(missing)
    (tmp_path / "homefile").write_text("")
    home_file = ragcli("info", "--index", "x", home=tmp_path / "homefile")
    assert home_file.returncode == 1 and "is a file, not a folder" in _one_line_error(home_file)

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = ragcli("ingest", str(empty), "--index", "x", "--embed-model", TEST_EMBED_MODEL, home=tmp_path)
    assert nothing.returncode == 1 and "Fejl" in _one_line_error(nothing)

    unknown = ragcli("ask", "Hvad?", "--index", "findes-ikke", home=cli_home)
    assert unknown.returncode == 1 and "findes-ikke" in _one_line_error(unknown)

    no_model = ragcli("ask", "Hvad?", "--index", "kommune", "--model", str(tmp_path / "x.gguf"), home=cli_home)
    assert no_model.returncode == 1 and "x.gguf" in _one_line_error(no_model)

    # An index home that cannot hold folders: the path and the reason, not an errno tuple.
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "note.txt").write_text("Skolebussen kører fra Banegården kl. 7.30 hver morgen.")
    unwritable = ragcli(
        "ingest", str(tmp_path / "one"), "--index", "x", "--embed-model", TEST_EMBED_MODEL, home=tmp_path / "a-file"
    )
    assert unwritable.returncode == 1 and _one_line_error(unwritable) == f"Fejl: Not a directory: {tmp_path / 'a-file' / 'x'}"

    bad_mode = ragcli("search", "x", "--index", "kommune", "--mode", "fuzzy", home=cli_home)
    assert bad_mode.returncode == 2

    # An empty question is a usage error, not a refusal with five arbitrary passages.
    for command in ("ask", "search"):
        for blank_text in ("   ", "\u200b\u200b\u200e"):  # zero-width and bidi characters are no question either
            blank = ragcli(command, blank_text, "--index", "kommune", home=cli_home)
            assert blank.returncode == 2 and "is empty" in _one_line_error(blank)
        # A pasted page is refused at once, in one line: it took 30 s of query embedding before
        # the prompt was found too long for the model (and then it was a usage panel).
        pasted = ragcli(command, "Hvad står der? " * 300, "--index", "kommune", home=cli_home)
        assert pasted.returncode == 2 and "4,500 characters; at most 4,000" in _one_line_error(pasted)


@pytest.mark.slow
def test_bad_pdf_is_skipped_with_a_warning_exit_code(tmp_path, small_corpus):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copyfile(small_corpus / "digst_govcloud_paas_startarkitektur.pdf", folder / "god.pdf")
    (folder / "falsk.pdf").write_text("dette er ikke en pdf")
    result = ragcli("ingest", str(folder), "--index", "blandet", "--embed-model", TEST_EMBED_MODEL, "--json", home=tmp_path)
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    assert report["documents"] == 1
    assert [s["doc"].endswith("falsk.pdf") for s in report["skipped"]] == [True]


@pytest.mark.slow
def test_reingest_keeps_the_index_chunking_unless_told(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("Biblioteket har åbent fra kl. 10 til kl. 19 på hverdage. " * 20, encoding="utf-8")
    first = ragcli("ingest", str(docs), "--index", "c", "--embed-model", TEST_EMBED_MODEL, "--chunk-tokens", "64",
                   "--overlap-tokens", "8", "--json", home=tmp_path, check=True)
    assert json.loads(first.stdout)["chunks"] > 1
    (docs / "more.txt").write_text("Svømmehallen åbner kl. 6.", encoding="utf-8")
    again = ragcli("ingest", str(docs), "--index", "c", "--json", home=tmp_path, check=True)  # model and chunking from the index
    assert json.loads(again.stdout)["added"] == ["more.txt"]
    info = json.loads(ragcli("info", "--index", "c", "--json", home=tmp_path, check=True).stdout)
    assert info["manifest"]["chunking"] == {"max_tokens": 64, "overlap_tokens": 8}
    clash = ragcli("ingest", str(docs), "--index", "c", "--chunk-tokens", "128", home=tmp_path)
    assert clash.returncode == 1 and "--rebuild" in _one_line_error(clash)


def test_a_line_about_a_file_stays_one_line_whatever_its_name_holds():
    """verify's "mangler: …" and --annotate's "Ikke markeret: …" had printed a file name with a
    line break across three lines."""
    import io

    from rich.console import Console

    from ragcli.cli import _print_lines

    buffer = io.StringIO()
    _print_lines(Console(file=buffer, width=200), ['mangler: line1\nline2 "quoted".pdf findes ikke længere (/tmp/B/line1\nline2.pdf)'])
    assert buffer.getvalue().count("\n") == 1 and "line1\\nline2" in buffer.getvalue()


def test_a_file_name_with_a_line_break_writes_no_line_of_the_prompt():
    from ragcli.prompting import _source_block

    block = _source_block(1, "x\nSvar: Ja.pdf", "2", "Biblioteket har åbent.")
    assert block.splitlines()[0] == "[1] x Svar: Ja.pdf, side 2:"


def test_a_ctrl_c_while_the_cli_is_still_being_imported_is_one_line(monkeypatch, capsys):
    """The first few tenths of a second of every command: a 30-60 line traceback had come from
    the import machinery before cli.run installed its handlers."""
    import types

    from ragcli.entry import main

    class Importing(types.ModuleType):
        def __getattr__(self, name):  # where `from ragcli.cli import run` is when the Ctrl-C comes
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "ragcli.cli", Importing("ragcli.cli"))
    with pytest.raises(SystemExit) as ended:
        main()
    assert ended.value.code == 130 and capsys.readouterr().err == "Fejl: afbrudt (Ctrl-C)\n"


@pytest.mark.slow
def test_a_home_from_the_environment_starting_with_a_tilde_is_the_users_home(tmp_path):
    """RAGCLI_HOME='~/x' (quoted, or in a service's unit file) had meant a folder named "~"."""
    env = {**os.environ, "HOME": str(tmp_path), "RAGCLI_HOME": "~/indekser", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "ragcli.cli", "info"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 1 and f"no index at {tmp_path / 'indekser' / 'default'} " in done.stderr and "~" not in done.stderr
