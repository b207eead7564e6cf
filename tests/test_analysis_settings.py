"""The lexical analysis settings an index was built with are recorded in it and checked on open."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from ragcli import store
from ragcli.chunking import ChunkingParams
from ragcli.ingest import ingest_folder
from ragcli.lexical import analyze, danish_stopwords
from ragcli.store import MANIFEST, Index, IndexProblem, analysis_settings, write_generation
from tests.test_store import _docs_and_chunks, _fields


class HashEmbedder:
    """A deterministic embedder (word hashes into 16 dimensions): ingest's logic without a model."""

    model_id = "test/hash"
    dim = 16
    max_tokens = 512

    def count_tokens(self, texts):
        return [len(t.split()) + 2 for t in texts]

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in text.lower().split():
            vector[hashlib.sha256(word.encode()).digest()[0] % self.dim] += 1
        return vector / max(float(np.linalg.norm(vector)), 1e-6)

    def embed_passages(self, texts, progress=None):
        if progress:
            progress(len(texts))
        return np.vstack([self._vector(t) for t in texts]).reshape(-1, self.dim)

    def embed_query(self, text):
        return self._vector(text)


def _index(tmp_path: Path) -> Path:
    docs, chunks, vectors = _docs_and_chunks(["Skoledagen starter kl. 8.", "Affald sorteres i ti fraktioner."])
    write_generation(tmp_path / "idx", docs, chunks, vectors, _fields())
    return tmp_path / "idx"


def _edit_manifest(folder: Path, change) -> None:
    path = folder / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_the_settings_identify_this_ragclis_analyzer():
    settings = analysis_settings()
    assert settings["version"] == store.ANALYZER_VERSION and settings["stemmer"] == "snowball:danish"
    stop = "\n".join(sorted(danish_stopwords()))
    assert settings["stopwords_sha256"] == hashlib.sha256(stop.encode()).hexdigest()
    assert settings["probe_sha256"] == hashlib.sha256("\n".join(analyze(store._ANALYSIS_PROBE)).encode()).hexdigest()
    assert settings["lowercase"] is True and settings["normalization"] == "NFC"
    settings["version"] = 99  # a copy: the cached settings stay as they are
    assert analysis_settings()["version"] == store.ANALYZER_VERSION


def test_a_new_index_records_its_analysis_and_opens(tmp_path):
    folder = _index(tmp_path)
    on_disk = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert on_disk["analysis"] == analysis_settings()
    with Index(folder) as index:
        assert index.lexical.search("affaldet", k=1)[0][0] == 2


def test_an_index_without_recorded_analysis_still_opens(tmp_path):
    """Indexes written before the settings were recorded were built with today's analyzer."""
    folder = _index(tmp_path)
    _edit_manifest(folder, lambda m: m.pop("analysis"))
    with Index(folder) as index:
        assert index.lexical.search("skoledagene", k=1)[0][0] == 1


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("stopwords_sha256", "0" * 64, "stopordslisten"),
        ("version", 0, "analysens version"),
        ("stemmer", "snowball:english", "ordstammer"),
        ("probe_sha256", "f" * 64, "analysens resultat"),
    ],
)
def test_an_index_built_with_other_analysis_is_refused_in_one_line(tmp_path, key, value, named):
    folder = _index(tmp_path)
    _edit_manifest(folder, lambda m: m["analysis"].__setitem__(key, value))
    with pytest.raises(IndexProblem) as caught:
        Index(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("indekset 'idx' er bygget med en anden tekstanalyse")
    assert named in message
    assert message.endswith("byg det igen med `ragcli ingest MAPPE --index idx --rebuild`")


def test_analysis_that_is_not_an_object_is_a_damaged_index(tmp_path):
    folder = _index(tmp_path)
    _edit_manifest(folder, lambda m: m.__setitem__("analysis", "danish"))
    with pytest.raises(IndexProblem, match="beskadiget.*--rebuild"):
        Index(folder)


def test_ingest_refuses_the_old_index_and_rebuild_records_the_current_analysis(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "skole.txt").write_text("Skoledagen starter klokken otte for alle elever.", encoding="utf-8")
    (docs / "affald.txt").write_text("Affald sorteres i ti fraktioner i Fjordby.", encoding="utf-8")
    embedder, params = HashEmbedder(), ChunkingParams(max_tokens=64, overlap_tokens=8)
    folder = tmp_path / "home" / "demo"
    ingest_folder(docs, folder, embedder, params)
    _edit_manifest(folder, lambda m: m["analysis"].__setitem__("stopwords_sha256", "0" * 64))

    # An incremental ingest would mix terms of two analyses in one BM25 index: refused.
    (docs / "bibliotek.txt").write_text("Biblioteket har åbent hver dag.", encoding="utf-8")
    with pytest.raises(IndexProblem, match="anden tekstanalyse.*--rebuild"):
        ingest_folder(docs, folder, embedder, params)

    report = ingest_folder(docs, folder, embedder, params, rebuild=True)
    assert report.documents == 3
    assert json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["analysis"] == analysis_settings()
    with Index(folder) as index:
        [(chunk_id, _)] = index.lexical.search("fraktionerne", k=1)
        assert index.chunks([chunk_id])[chunk_id].doc == "affald.txt"
