#!/usr/bin/env bash
# Make sure VENV holds the llama-cpp-python wheel built by scripts/build_llama.sh.
#
# usage: scripts/install_llama.sh VENV VERSION
#
# The wheel is cached outside the venv, in a folder named by the version and by a hash of
# the build script (which holds every build flag), so a changed build is a new wheel and
# never mistaken for the old one. The venv records the sha256 of the wheel it has; when
# that is not the wheel we would install, it is reinstalled (pip alone skips a wheel with
# the same version number, which once left a SIGILL-ing build in place).
set -euo pipefail
VENV="$1"
VERSION="$2"
here="$(cd "$(dirname "$0")" && pwd)"
build_id="$VERSION-$(sha256sum "$here/build_llama.sh" | cut -c1-12)"
cache="${LLAMA_WHEELS:-$HOME/.cache/ragcli/llama-$build_id}"
mark="$VENV/.llama-wheel"

wheel="$(ls "$cache"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$wheel" ]; then
    echo "Building llama-cpp-python $VERSION for every x86-64 CPU (about 10 minutes on 2 cores, once per machine)"
    start=$(date +%s)
    PYTHON="$VENV/bin/python" "$here/build_llama.sh" "$VERSION" "$cache" >/dev/null
    echo "Built in $(( $(date +%s) - start )) s: $(ls "$cache"/*.whl)"
    wheel="$(ls "$cache"/llama_cpp_python-"$VERSION"-*.whl | head -n 1)"
fi
sum="$(sha256sum "$wheel" | cut -c1-64)"
if [ "$(cat "$mark" 2>/dev/null || true)" != "$sum" ]; then
    "$VENV/bin/pip" install -q --force-reinstall --no-deps "$wheel"
    echo "$sum" > "$mark"
fi
