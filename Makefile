# ragcli — everything a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
DEMO_QUESTION ?= Hvornår starter skoledagen?

.PHONY: install demo test lint eval bench corpus clean

install: $(STAMP)

# torch first, pinned to the CPU build on disk: otherwise pip pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/ragcli ingest corpus --index demo
	$(BIN)/ragcli ask "$(DEMO_QUESTION)" --index demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check ragcli tests scripts

corpus: install
	$(BIN)/python scripts/make_corpus.py corpus

clean:
	rm -rf $(VENV) indexes/*/ .pytest_cache
