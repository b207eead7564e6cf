# ragcli — everything a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
DEMO_QUESTION ?= Hvornår starter skoledagen?

# llama-cpp-python compiles llama.cpp on install. The wheel is built once per machine by
# scripts/build_llama.sh with one CPU backend per x86-64 generation, loaded at run time by
# the best match (so it runs on any x86-64 CPU), and kept in ~/.cache/ragcli/ under a name
# that changes with the build flags; scripts/install_llama.sh reinstalls it whenever .venv
# holds another build.
LLAMA_VERSION := 0.3.36

.PHONY: install demo test lint eval eval-paraphrase bench corpus clean

# The llama check runs every time: the cached wheel may have been rebuilt since .venv was made.
install: $(STAMP)
	@scripts/install_llama.sh $(VENV) $(LLAMA_VERSION)

# torch first, pinned to the CPU build on disk: otherwise pip pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml scripts/build_llama.sh scripts/install_llama.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	scripts/install_llama.sh $(VENV) $(LLAMA_VERSION)
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
	$(BIN)/ragcli eval ../shared/eval/dev.jsonl --index shared --answers

eval-paraphrase: install
	$(BIN)/python scripts/eval_paraphrase.py

# BENCH_ARGS picks sections, e.g. make bench BENCH_ARGS="--only serve,pg-add" (see scripts/bench.py --help).
BENCH_ARGS ?=
bench: install
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

corpus: install
	$(BIN)/python scripts/make_corpus.py corpus

clean:
	rm -rf $(VENV) indexes/*/ .pytest_cache
