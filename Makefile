# Set-up: `make demo` and `make test` are the whole story on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch (on local disk here); override e.g. TORCH_SPEC="torch==2.14.1" for CUDA.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install test demo lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(PIP) install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q

demo: install
	$(VENV)/bin/ditree demo

lint: install
	$(VENV)/bin/ruff check ditree envs planners scripts tests

clean:
	rm -rf $(VENV) demo_out .pytest_cache
