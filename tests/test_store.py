"""The index store: versioned manifest, atomic generations, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragcli import store
from ragcli.schema import Chunk
from ragcli.store import MANIFEST, SCHEMA_VERSION, DocumentRecord, Index, IndexProblem, write_generation

DIM = 8


def _fields() -> dict:
    return {
        "embedding": {"model": "test/model", "dim": DIM, "normalized": True},
        "chunking": {"max_tokens": 64, "overlap_tokens": 8},
        "sources": [],
    }


def _docs_and_chunks(texts: list[str], name: str = "a.pdf"):
    chunks = [
        Chunk(doc=name, title="A", page_start=i + 1, page_end=i + 1, char_start=0, char_end=len(t), text=t, n_tokens=len(t.split()))
        for i, t in enumerate(texts)
    ]
    docs = [DocumentRecord(name=name, path=f"/x/{name}", title="A", sha256="0" * 64, size=1, pages=len(texts), chunks=len(texts))]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(texts), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return docs, chunks, vectors


def test_generation_round_trip(tmp_path):
    docs, chunks, vectors = _docs_and_chunks(["Skoledagen starter kl. 8.", "Affald sorteres i ti fraktioner."])
    manifest = write_generation(tmp_path / "idx", docs, chunks, vectors, _fields())
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["counts"] == {"documents": 1, "pages": 2, "chunks": 2, "tokens": 9}
    on_disk = json.loads((tmp_path / "idx" / MANIFEST).read_text())
    assert on_disk["generation"] == manifest["generation"]
    with Index(tmp_path / "idx") as index:
        # The vector of chunk 2 finds chunk 2 first, with cosine 1.
        (best_id, best_score), *_ = index.dense_search(vectors[1], k=2)
        assert best_id == 2 and best_score == pytest.approx(1.0, abs=1e-5)
        assert index.chunks([2])[2].text == "Affald sorteres i ti fraktioner."
        assert index.lexical.search("affaldet", k=1)[0][0] == 2
        assert [d.name for d in index.documents()] == ["a.pdf"]


def test_a_failed_write_leaves_the_previous_index_intact(tmp_path, monkeypatch):
    folder = tmp_path / "idx"
    docs, chunks, vectors = _docs_and_chunks(["Første udgave af teksten."])
    first = write_generation(folder, docs, chunks, vectors, _fields())

    def crash(*args, **kwargs):
        raise OSError("disk full")

    # Fail late in the write, after vectors and SQLite of the new generation are on disk.
    monkeypatch.setattr(store.LexicalIndex, "build", crash)
    docs2, chunks2, vectors2 = _docs_and_chunks(["Anden udgave.", "Med to sider."])
    with pytest.raises(OSError, match="disk full"):
        write_generation(folder, docs2, chunks2, vectors2, _fields())

    with Index(folder) as index:
        assert index.manifest["generation"] == first["generation"]
        assert index.chunks([1])[1].text == "Første udgave af teksten."
        assert index.vectors.ntotal == 1
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".staging-")]
    assert leftovers == []


def test_old_generations_are_removed_after_a_switch(tmp_path):
    folder = tmp_path / "idx"
    for text in ("en", "to", "tre"):
        docs, chunks, vectors = _docs_and_chunks([f"Tekst nummer {text}."])
        manifest = write_generation(folder, docs, chunks, vectors, _fields())
    generations = sorted(p.name for p in folder.iterdir() if p.name.startswith("gen-"))
    assert generations == [manifest["generation"]] == ["gen-000003"]


def test_an_open_index_follows_a_newer_ingest(tmp_path):
    # A chat session keeps its index open while another terminal ingests; the ingest
    # deletes the generation the session opened, whose files were not loaded yet.
    from ragcli.retrieval import RetrievalParams, retrieve

    folder = tmp_path / "idx"
    write_generation(folder, *_docs_and_chunks(["Skoledagen starter kl. 8."]), _fields())
    with Index(folder) as session:
        write_generation(folder, *_docs_and_chunks(["Skoledagen starter kl. 9.", "Cykelstier ryddes for sne."]), _fields())
        assert not (folder / session.manifest["generation"]).exists()
        hits = retrieve(session, "cykelstier", RetrievalParams(mode="lexical", k=1))
        assert [h.chunk.text for h in hits] == ["Cykelstier ryddes for sne."]
        assert session.refresh() is False  # already on the newest

        # Caught between reading the manifest and opening a file: a clear error, not faiss's.
        write_generation(folder, *_docs_and_chunks(["Tredje udgave."]), _fields())
        with pytest.raises(IndexProblem, match="was updated while it was being read"):
            session.dense_search(np.zeros(DIM, dtype=np.float32), 1)


def test_missing_and_unsupported_indexes_are_clear_errors(tmp_path):
    with pytest.raises(IndexProblem, match="no index at"):
        Index.open(tmp_path, "nope")
    # the default home is relative: where it was looked for, and how to point elsewhere
    with pytest.raises(IndexProblem, match=r"no index at indexes/nope \(/.*/indexes/nope\).*--home"):
        Index.open(Path("indexes"), "nope")
    folder = tmp_path / "future"
    docs, chunks, vectors = _docs_and_chunks(["Tekst."])
    write_generation(folder, docs, chunks, vectors, _fields())
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["schema_version"] = SCHEMA_VERSION + 1
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexProblem, match="schema"):
        Index(folder)
    (folder / MANIFEST).write_text("{not json")
    with pytest.raises(IndexProblem):
        Index(folder)


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", ".hidden", "x" * 80])
def test_index_names_are_validated(bad):
    with pytest.raises(IndexProblem):
        store.validate_name(bad)


def _clustered(rng, n, dim, topics=40, spread=0.6):
    """Unit vectors around topic centres, the way text embeddings bunch (uniform random
    vectors have no neighbourhoods for any index to find)."""
    centres = rng.normal(size=(topics, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    v = centres[rng.integers(0, topics, size=n)] + rng.normal(size=(n, dim)) * spread / np.sqrt(dim)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_large_indexes_use_ivf_with_high_recall(tmp_path):
    rng = np.random.default_rng(7)
    n, dim = 6000, DIM * 4
    texts = [f"tekst {i}" for i in range(n)]
    chunks = [Chunk(doc="a.pdf", title="A", page_start=1, page_end=1, char_start=0, char_end=5, text=t, n_tokens=2) for t in texts]
    docs = [DocumentRecord(name="a.pdf", path="/x/a.pdf", title="A", sha256="0" * 64, size=1, pages=1, chunks=n)]
    vectors = _clustered(rng, n, dim)
    fields = {**_fields(), "embedding": {"model": "test/model", "dim": dim, "normalized": True}}
    manifest = write_generation(tmp_path / "ann", docs, chunks, vectors, fields, ann_threshold=1000)
    assert manifest["faiss_index"] == "IVF150,Flat"  # min(4·√6000, 6000/40) lists
    queries = _clustered(np.random.default_rng(8), 50, dim)
    with Index(tmp_path / "ann") as index:
        found = 0
        for q in queries:
            exact = set(np.argsort(-(vectors @ q))[:10] + 1)  # chunk ids start at 1
            found += len(exact & {cid for cid, _ in index.dense_search(q, 10)})
        # Re-ingest reads unchanged documents' vectors back by chunk id.
        back = index.vectors.reconstruct_batch(np.array([1, 2500, n], dtype=np.int64))
        assert np.allclose(back, vectors[[0, 2499, n - 1]])
    # At this size the scan floor (IVF_MIN_SCAN) probes every list; recall at 1M chunks,
    # where IVF is approximate, is measured by `make bench`.
    assert found / (50 * 10) >= 0.95  # recall@10 against exact search


def test_an_index_whose_manifest_is_gone_is_damaged_not_missing(tmp_path):
    """Its data there and manifest.json deleted: "no index … run ingest first" had read as if it
    never existed."""
    docs, chunks, vectors = _docs_and_chunks(["Skoledagen starter kl. 8."])
    write_generation(tmp_path / "idx", docs, chunks, vectors, _fields())
    (tmp_path / "idx" / MANIFEST).unlink()
    with pytest.raises(IndexProblem, match=r"beskadiget \(manifest.json mangler\).*--rebuild"):
        Index(tmp_path / "idx")
    (tmp_path / "tom").mkdir()
    with pytest.raises(store.IndexNotFound, match="no index at"):  # an empty folder is no index
        Index(tmp_path / "tom")
