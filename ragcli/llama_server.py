"""llama-cpp-python's OpenAI-compatible server, started with this install's CPU backends.

The portable llama.cpp wheel (scripts/build_llama.sh) links no CPU backend in; ragcli
loads the one that fits the CPU before the first model (generation.load_cpu_backend).
`python -m llama_cpp.server` does not know to, and fails with "no backends are loaded",
so serve a GGUF from this venv with `python -m ragcli.llama_server` (same arguments).
"""

from __future__ import annotations

import runpy
import sys

from ragcli.generation import load_cpu_backend


def main() -> None:
    load_cpu_backend()
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
