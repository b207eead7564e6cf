"""Embedding overlaps reading: each document is embedded as soon as it has been read.

The embedder here is a fake (word hashes, with timing hooks): what is tested is ingest's
own logic — order, progress, interruption — not a model.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

import ragcli.ingest as ingest_module
from ragcli.chunking import ChunkingParams
from ragcli.ingest import IngestProgress, ingest_folder
from ragcli.store import Index
from tests.test_analysis_settings import HashEmbedder

PARAMS = ChunkingParams(max_tokens=32, overlap_tokens=4)


class TimedEmbedder(HashEmbedder):
    """Embeds one text per batch, reporting each, after `delay` seconds; remembers what it did."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.started = threading.Event()  # set when the first document's embedding begins
        self.embedded = 0

    def embed_passages(self, texts, progress=None):
        self.started.set()
        rows = []
        for text in texts:
            time.sleep(self.delay)
            rows.append(self._vector(text))
            self.embedded += 1
            if progress:
                progress(1)
        return np.vstack(rows).reshape(-1, self.dim)


def _folder(tmp_path: Path, n: int, sentences: int = 3) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(n):
        body = " ".join(f"Dokument {i} sætning {j} handler om emne {i * 10 + j}." for j in range(sentences))
        (folder / f"d{i}.txt").write_text(body, encoding="utf-8")
    return folder


def test_the_first_document_is_embedded_while_the_last_is_still_being_read(tmp_path, monkeypatch):
    folder = _folder(tmp_path, 4)
    read = ingest_module._read_and_chunk
    embedder = TimedEmbedder()
    embedding_began_during_the_read: list[bool] = []

    def last_waits_for_embedding(path, *args):
        if path.name == "d3.txt":
            # Reading d3 does not end until the embedder has begun: without the overlap it never would.
            embedding_began_during_the_read.append(embedder.started.wait(timeout=10))
        return read(path, *args)

    monkeypatch.setattr(ingest_module, "_read_and_chunk", last_waits_for_embedding)
    events: list[tuple[str, int]] = []
    progress = IngestProgress(
        on_embed_start=lambda total: events.append(("start", total)),
        on_embedded=lambda n: events.append(("embedded", n)),
    )
    report = ingest_folder(folder, tmp_path / "idx", embedder, PARAMS, progress=progress)

    assert embedding_began_during_the_read == [True]
    assert report.documents == 4 and report.embedded_chunks == report.chunks
    # The bar's total comes first, then exactly that many chunks, however early they were embedded.
    assert events[0] == ("start", report.chunks)
    assert sum(n for kind, n in events if kind == "embedded") == report.chunks
    # Every chunk's vector in the index is its own text's, whichever thread embedded it.
    index = Index.open(tmp_path, "idx")
    ids = [i for ids in index.chunk_ids_by_path().values() for i in ids]
    assert len(ids) == report.chunks
    chunks = index.chunks(ids)
    vectors = index.chunk_vectors(ids)
    for row, i in enumerate(ids):
        np.testing.assert_allclose(vectors[row], embedder._vector(chunks[i].text), atol=1e-6)


def test_an_interrupted_ingest_stops_the_embedding_thread_at_once(tmp_path):
    folder = _folder(tmp_path, 3, sentences=400)  # ~130 chunks a document, 0.05 s each: ~7 s apiece
    embedder = TimedEmbedder(delay=0.05)
    interrupted_at: list[float] = []

    def interrupt_once_embedding_runs(name: str) -> None:
        if name == "d1.txt":
            while embedder.embedded < 5:  # well inside the first document
                time.sleep(0.01)
            interrupted_at.append(time.monotonic())
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_folder(folder, tmp_path / "idx", embedder, PARAMS, progress=IngestProgress(on_parsed=interrupt_once_embedding_runs))
    assert time.monotonic() - interrupted_at[0] < 1.5
    assert embedder.embedded < 40  # stopped in the first document, not after it
    assert not [t for t in threading.enumerate() if t.name.startswith("ragcli-embed")]
    assert not (tmp_path / "idx" / "manifest.json").exists()  # nothing committed



class FailsOnOneDocument(HashEmbedder):
    def embed_passages(self, texts, progress=None):
        if any("Dokument 1 " in t for t in texts):
            raise RuntimeError("tensor explosion\nsecond line that must not be shown")
        return super().embed_passages(texts, progress)


def test_a_document_that_cannot_be_embedded_is_skipped_in_one_line_and_the_rest_indexed(tmp_path):
    folder = _folder(tmp_path, 3)
    report = ingest_folder(folder, tmp_path / "idx", FailsOnOneDocument(), PARAMS)
    assert [(s.doc, s.reason) for s in report.skipped] == [("d1.txt", "cannot embed (RuntimeError): tensor explosion")]
    assert report.added == ["d0.txt", "d2.txt"] and report.documents == 2
    assert sorted(d.name for d in Index.open(tmp_path, "idx").documents()) == ["d0.txt", "d2.txt"]

@pytest.mark.slow
def test_token_counts_stay_exact_while_another_thread_embeds(minilm):
    """Ingest counts tokens on its reader threads while the embedding thread encodes: the
    sentence-transformers tokenizer must not hand one thread's padding to the other's counts."""
    texts = [f"Sætning nummer {i} om affaldssortering i kommunen. " * (1 + i % 7) for i in range(64)]
    expected = minilm.count_tokens(texts)
    failures: list[BaseException] = []
    done = threading.Event()

    def embed_repeatedly() -> None:
        try:
            while not done.is_set():
                minilm.embed_passages(texts[:8])
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    worker = threading.Thread(target=embed_repeatedly)
    worker.start()
    try:
        for _ in range(400):  # 40 rounds never met the race; 400 met it on the first run without the fix
            assert minilm.count_tokens(texts) == expected
    finally:
        done.set()
        worker.join()
    assert not failures
