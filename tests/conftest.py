"""Shared fixtures: real PDFs from ../shared/corpus, real models, a real index on disk."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RAGCLI_SHARED", REPO.parent / "shared"))
SHARED_CORPUS = SHARED / "corpus"
TEST_EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

# A few small real documents, enough for end-to-end tests to stay quick.
SMALL_DOCS = (
    "aarhus_naar_dit_barn_gaar_i_skole.pdf",
    "digst_govcloud_paas_startarkitektur.pdf",
    "sds_ehdsi_driftshaandbog.pdf",
)


def interruptible() -> None:
    """Popen preexec_fn: let the child take Ctrl-C. A test run started in the background of a
    script (`make test &`) ignores SIGINT, children inherit that, and an interrupt test would
    then see a command that cannot be interrupted; a user's terminal delivers it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def shared_pdf(name: str) -> Path:
    path = SHARED_CORPUS / name
    if not path.exists():
        pytest.skip(f"shared corpus not found at {SHARED_CORPUS} (set RAGCLI_SHARED)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def http_server(command: list[str], port: int, ready_path: str, seconds: float, **popen) -> Iterator[str]:
    """A real server process, its URL yielded once GET `ready_path` answers 200; stopped afterwards.

    A process that exits while starting fails the test with its stderr (when piped)."""
    process = subprocess.Popen(command, text=True, **popen)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + seconds
    try:
        while True:
            if process.poll() is not None:
                stderr = process.stderr.read() if process.stderr else ""
                pytest.fail(f"{command[2] if len(command) > 2 else command[0]} exited {process.returncode} at start-up: {stderr}")
            try:
                with urllib.request.urlopen(url + ready_path, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{' '.join(command[:3])} did not come up in {seconds:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def minilm():
    from ragcli.embedding import load_embedder

    return load_embedder(TEST_EMBED_MODEL)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """A folder with a few real PDFs (copied to a temporary folder, never into the repo).

    Copies, not symlinks: ingest follows links only inside the folder it reads.
    """
    import shutil

    folder = tmp_path_factory.mktemp("small_corpus")
    for name in SMALL_DOCS:
        shutil.copyfile(shared_pdf(name), folder / name)
    return folder


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, small_corpus, minilm):
    """A real index of the small corpus, built once per test session."""
    from ragcli.ingest import default_chunking, ingest_folder

    home = tmp_path_factory.mktemp("indexes")
    report = ingest_folder(small_corpus, home / "small", minilm, default_chunking(minilm))
    assert not report.skipped
    return home, "small"


@pytest.fixture(scope="session")
def llm_path() -> Path:
    from ragcli.registry import default_llm_path

    return default_llm_path()


# Tests that need these fixtures load a real model or build a real index: the slow tier.
# Tests that spawn the CLI carry @pytest.mark.slow themselves. `pytest -m "not slow"` is the fast tier.
SLOW_FIXTURES = frozenset({"minilm", "llm_path", "e5", "native", "cli_home", "batch_home"})


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
