# `make demo`: set up, run the quickstart end to end, then its pipeline of notebooks.  `make test`: set up and run the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,torch]"
	touch $@

demo: setup
	@dir="$${DEMO_DIR:-$$(mktemp -d /tmp/mlops-demo-XXXXXX)}"; \
	$(abspath $(VENV))/bin/mlops-lab demo --dir "$$dir" && \
	cd "$$dir" && $(abspath $(VENV))/bin/mlops-lab pipeline $(CURDIR)/notebooks/pipeline.toml

test: setup
	$(VENV)/bin/ruff check mlops_lab tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

bench: setup
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done
