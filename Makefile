# `make demo`: set up, run the quickstart end to end, then its pipeline of notebooks.  `make test`: set up and run the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,torch,team]"
	touch $@

demo: setup
	@dir="$${DEMO_DIR:-$$(mktemp -d /tmp/mlops-demo-XXXXXX)}"; \
	$(abspath $(VENV))/bin/mlops-lab demo --dir "$$dir" && \
	cd "$$dir" && $(abspath $(VENV))/bin/mlops-lab pipeline $(CURDIR)/notebooks/pipeline.toml

test: setup
	scripts/install-browser.sh
	scripts/install-servers.sh
	@# the JupyterLab extension (rebuilt when its sources are newer than the build) and galata
	@if [ ! -f mlops_lab/labextension/package.json ] || [ -n "$$(find extension/src extension/style extension/package.json -newer mlops_lab/labextension/package.json)" ]; then \
		cd extension && npm ci --no-audit --no-fund --loglevel=error && PATH="$(abspath $(VENV))/bin:$$PATH" npm run build; fi
	@[ tests/ui/node_modules/.package-lock.json -nt tests/ui/package-lock.json ] || npm ci --prefix tests/ui --no-audit --no-fund --loglevel=error
	$(VENV)/bin/ruff check mlops_lab tests benchmarks
	$(VENV)/bin/ruff format --check mlops_lab tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

bench: setup
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done
