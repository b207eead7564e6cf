#!/usr/bin/env bash
# Build the llama-cpp-python wheel once per machine, for every x86-64 CPU.
#
# usage: scripts/build_llama.sh VERSION OUTDIR
#
# One wheel, several CPU backends: llama.cpp's dynamic backend loading (GGML_BACKEND_DL)
# builds libggml-cpu-<variant>.so for a list of CPU generations and, at run time, loads
# the best one the CPU supports (ragcli.generation loads them before the first model).
# A build tuned to the build machine (-march=native, or -DGGML_AVX_VNNI=ON on a CPU
# without AVX-VNNI) dies with SIGILL elsewhere: AMD Zen 4 has AVX-512 VNNI but not the
# VEX-encoded AVX-VNNI, and that is how `make demo` crashed there.
#
# llama.cpp's own GGML_CPU_ALL_VARIANTS list has 14 x86 variants (20 min of CPU time); we
# keep the six that cover every x86-64 CPU and each one's fast kernels, which halves it:
#   x64        any x86-64 (SSE2) — the floor, so nothing ever lacks a backend
#   haswell    AVX2 + FMA + F16C (2013+ Intel, Zen 1–3)
#   skylakex   AVX-512 (Skylake-SP/X, Cascade Lake without VNNI use)
#   icelake    AVX-512 + VBMI + VNNI (Ice Lake, Tiger Lake, Rocket Lake)
#   zen4       AVX-512 + VBMI + VNNI + BF16 (Zen 4/5, Sapphire Rapids and later without AMX)
#   alderlake  AVX2 + AVX-VNNI (Alder/Raptor/Meteor Lake, Arrow Lake)
# sapphirerapids (AMX) is left out on purpose: AMX needs a kernel grant that sandboxes and
# some kernels refuse, and then it is SIGILL; those CPUs get the zen4 variant instead.
set -euo pipefail
VERSION="$1"
OUTDIR="$2"
PY="${PYTHON:-python3}"
VARIANTS=(x64 haswell skylakex icelake zen4 alderlake)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUTDIR"
"$PY" -m pip download -q --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$VERSION"
tar -xzf "$work"/llama_cpp_python-"$VERSION".tar.gz -C "$work"
src="$work/llama_cpp_python-$VERSION"
cmake_list="$src/vendor/llama.cpp/ggml/src/CMakeLists.txt"

# Comment out the x86 variants we do not build; fail loudly if the list's shape changed.
"$PY" - "$cmake_list" "${VARIANTS[@]}" <<'EOF'
import re, sys
path, keep = sys.argv[1], set(sys.argv[2:])
text = open(path).read()
pattern = re.compile(r"^(\s*)ggml_add_cpu_backend_variant\((\w+)(\s[^)]*)?\)$", re.M)
x86 = {"x64", "sse42", "sandybridge", "ivybridge", "piledriver", "haswell", "skylakex", "cannonlake",
       "cascadelake", "icelake", "cooperlake", "zen4", "alderlake", "sapphirerapids"}
seen = set()
def edit(m):
    name = m.group(2)
    if name not in x86:
        return m.group(0)
    seen.add(name)
    return m.group(0) if name in keep else m.group(1) + "# ragcli: not built # " + m.group(0).strip()
text = pattern.sub(edit, text)
missing = keep - seen
if missing:
    sys.exit(f"build_llama: variants not found in {path}: {sorted(missing)}")
open(path, "w").write(text)
EOF

CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DLLAVA_BUILD=OFF" \
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$PY" -m pip wheel -q --no-cache-dir --no-deps -w "$OUTDIR" "$src"
ls "$OUTDIR"/llama_cpp_python-"$VERSION"-*.whl
