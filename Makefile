# The two commands of the README: `make demo` and `make test`. Each creates .venv if missing and
# installs what it needs itself (torch 2.13.0 CPU first: an unpinned torch pulls a multi-GB CUDA build).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt 2>/dev/null | sha1sum | cut -c1-12)
export WC_HOME ?= $(CURDIR)/.warriorcoder
export OMP_NUM_THREADS ?= 2
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install demo test ui docs bench lint clean

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## Run the demo arena end to end: build the tiny experts, then every stage from mining to evaluation.
demo: install
	$(BIN)/warriorcoder build-demo-experts
	$(BIN)/warriorcoder run --config configs/demo.yaml

## Run the test suite (CPU only).
test: install
	$(BIN)/python -m pytest -q

## Open the Dagster UI on the same local instance the CLI runs use.
ui: install
	mkdir -p $(WC_HOME)/dagster && touch $(WC_HOME)/dagster/dagster.yaml
	DAGSTER_HOME=$(WC_HOME)/dagster $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## Generate and serve the dbt docs (every mart and column described).
docs: install
	cp $(WC_HOME)/warehouse.duckdb $(WC_HOME)/reports/docs_warehouse.duckdb  # never lock the live file
	cd dbt_project && WC_WAREHOUSE_PATH=$(WC_HOME)/reports/docs_warehouse.duckdb ../$(BIN)/dbt docs generate --profiles-dir . && \
	  ../$(BIN)/dbt docs serve --profiles-dir . --host 127.0.0.1 --port 8080

## Run the benchmark suite and rewrite docs/BENCHMARKS.md.
bench: install
	$(BIN)/python -m bench.run_all --write docs/BENCHMARKS.md

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
