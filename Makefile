# ragcli — everything a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
DEMO_QUESTION ?= Hvornår starter skoledagen?

# llama-cpp-python compiles llama.cpp on install. A native build (-march=native) uses
# every instruction the CPU reports, AMX included, and AMX kills the process with
# SIGILL on machines whose kernel or sandbox does not grant it. So build the wheel once
# with explicit flags, keep it outside the venv, and install from it. Where the CPU has
# AVX-512 with VNNI and BF16, that build halves the time to the first token (Gemma-3-270M,
# 1,187-token prompt, 2 cores: 5.7 s → 2.9 s); elsewhere AVX2. AMX stays off either way.
LLAMA_VERSION := 0.3.36
LLAMA_CPU := $(shell f=/proc/cpuinfo; grep -qw avx512bw $$f 2>/dev/null && grep -qw avx512vl $$f && \
	grep -qw avx512_vnni $$f && grep -qw avx512_bf16 $$f && echo avx512 || echo avx2)
LLAMA_WHEELS ?= $(HOME)/.cache/ragcli/wheels-$(LLAMA_CPU)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
ifeq ($(LLAMA_CPU),avx512)
LLAMA_CMAKE_ARGS += -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON
else
LLAMA_CMAKE_ARGS += -DGGML_AVX512=OFF
endif

.PHONY: install demo test lint eval eval-paraphrase bench corpus clean

install: $(STAMP)

# torch first, pinned to the CPU build on disk: otherwise pip pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "Building llama-cpp-python $(LLAMA_VERSION) for $(LLAMA_CPU) (several minutes, once per machine)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel -q --no-cache-dir --no-deps \
			-w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION); \
	fi
	$(BIN)/pip install -q $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/ragcli ingest corpus --index demo
	$(BIN)/ragcli ask "$(DEMO_QUESTION)" --index demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check ragcli tests scripts

eval: install
	@test -f indexes/shared/manifest.json || $(BIN)/ragcli ingest ../shared/corpus --index shared
	$(BIN)/ragcli eval ../shared/eval/dev.jsonl --index shared

eval-paraphrase: install
	$(BIN)/python scripts/eval_paraphrase.py

bench: install
	$(BIN)/python scripts/bench.py

corpus: install
	$(BIN)/python scripts/make_corpus.py corpus

clean:
	rm -rf $(VENV) indexes/*/ .pytest_cache
