"""Does this CPU reach the instruction set that ragcli's dependencies are compiled for?

numpy 2 (and every wheel built on it: torch, faiss, the llama.cpp bindings) is compiled for
x86-64-v2: SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT, CMPXCHG16B and LAHF/SAHF (Intel Nehalem,
2008, AMD Bulldozer, 2011, and every x86-64 CPU since). On an older CPU (Core 2, Phenom II,
an early Atom) `import numpy` dies with SIGILL before it can say why, and so did every
ragcli command. This module asks the CPU itself (cpuid: under an emulator /proc/cpuinfo is
the host's) without numpy, so that `import ragcli` can say so in one line instead.

cpuid is one machine instruction that Python cannot issue: a page of 32 bytes of code is
mapped executable for the call. Where that is not allowed (a hardened kernel, another
architecture) the check is skipped and nothing changes.
"""

from __future__ import annotations

import platform

# push rbx; mov r8, rdx; mov eax, edi; mov ecx, esi; cpuid;
# mov [r8], eax; mov [r8+4], ebx; mov [r8+8], ecx; mov [r8+12], edx; pop rbx; ret
_CPUID_CODE = bytes.fromhex("53 4989d0 89f8 89f1 0fa2 418900 41895804 41894808 4189500c 5b c3".replace(" ", ""))

# (cpuid leaf, register, bit) of each x86-64-v2 feature
_V2 = {
    "SSE3": (1, "ecx", 0),
    "SSSE3": (1, "ecx", 9),
    "CMPXCHG16B": (1, "ecx", 13),
    "SSE4.1": (1, "ecx", 19),
    "SSE4.2": (1, "ecx", 20),
    "POPCNT": (1, "ecx", 23),
    "LAHF/SAHF": (0x80000001, "ecx", 0),
}


def _cpuid():
    """A function leaf → (eax, ebx, ecx, edx), or None where it cannot be called."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        import ctypes
        import mmap

        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (ImportError, OSError, ValueError, AttributeError):  # no executable mapping here (W^X, Windows)
        return None
    page.write(_CPUID_CODE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    call = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p)(address)

    def cpuid(leaf: int) -> tuple[int, int, int, int]:
        out = (ctypes.c_uint32 * 4)()
        call(leaf, 0, ctypes.addressof(out))
        return tuple(out)

    cpuid.page = page  # the mapping lives as long as the function
    return cpuid


def missing_features() -> list[str]:
    """The x86-64-v2 features this CPU lacks (empty when it has them all, or cannot be asked)."""
    cpuid = _cpuid()
    if cpuid is None:
        return []
    registers = {}
    for leaf in sorted({leaf for leaf, _, _ in _V2.values()}):
        if leaf >= 0x80000000 and cpuid(0x80000000)[0] < leaf:
            registers[leaf] = (0, 0, 0, 0)
        else:
            registers[leaf] = cpuid(leaf)
    index = {"eax": 0, "ebx": 1, "ecx": 2, "edx": 3}
    return [name for name, (leaf, register, bit) in _V2.items() if not registers[leaf][index[register]] >> bit & 1]


EXIT_ILLEGAL_INSTRUCTION = 132  # what the shell would have reported for the SIGILL


def check() -> None:
    """Exit with one line on a CPU below x86-64-v2, before anything imports numpy."""
    lacking = missing_features()
    if lacking:
        import sys

        print(
            f"Fejl: denne CPU mangler {', '.join(lacking)}; numpy, torch og llama.cpp kræver en x86-64-v2-CPU"
            " (SSE4.2 og POPCNT: Intel fra 2008, AMD fra 2011 og alle senere x86-64)",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_ILLEGAL_INSTRUCTION)
