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
    """Embeds one text per batch, reporting each, after `delay` seconds; remembers when it started."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.starts: list[tuple[float, str]] = []

    def embed_passages(self, texts, progress=None):
        self.starts.append((time.monotonic(), texts[0]))
        rows = []
        for text in texts:
            time.sleep(self.delay)
            rows.append(self._vector(text))
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
    last_read_done: list[float] = []

    def slow_last(path, *args):
        result = read(path, *args)
        if path.name == "d3.txt":
            time.sleep(1.0)
            last_read_done.append(time.monotonic())
        return result

    monkeypatch.setattr(ingest_module, "_read_and_chunk", slow_last)
    events: list[tuple[str, int]] = []
    progress = IngestProgress(
        on_embed_start=lambda total: events.append(("start", total)),
        on_embedded=lambda n: events.append(("embedded", n)),
    )
    embedder = TimedEmbedder()
    report = ingest_folder(folder, tmp_path / "idx", embedder, PARAMS, progress=progress)

    assert report.documents == 4 and report.embedded_chunks == report.chunks
    first_embedded = min(t for t, text in embedder.starts if "Dokument 0" in text)
    assert first_embedded < last_read_done[0] - 0.5  # embedded during the slow read, not after it
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
    folder = _folder(tmp_path, 3, sentences=40)
    parsed: list[str] = []

    def interrupt_after_two(name: str) -> None:
        parsed.append(name)
        if len(parsed) == 2:
            raise KeyboardInterrupt

    embedder = TimedEmbedder(delay=0.05)  # ~6 s of embedding for the first document alone
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        ingest_folder(folder, tmp_path / "idx", embedder, PARAMS, progress=IngestProgress(on_parsed=interrupt_after_two))
    assert time.monotonic() - started < 2.0
    assert not [t for t in threading.enumerate() if t.name.startswith("ragcli-embed")]
    assert not (tmp_path / "idx" / "manifest.json").exists()  # nothing committed
