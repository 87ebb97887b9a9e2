# The README's commands. `make demo` and `make test` install what is missing first (tools/setup_env.sh).
PYTHON ?= python3
VENV ?= .venv
MMCV ?= lite
BIN := $(VENV)/bin
STAMP := $(VENV)/.farcluss-setup-$(MMCV)

.PHONY: setup demo test lint
setup: $(STAMP)

$(STAMP): setup.py requirements/runtime.txt requirements/tests.txt tools/setup_env.sh
	PYTHON=$(PYTHON) VENV=$(VENV) MMCV=$(MMCV) bash tools/setup_env.sh
	touch $@

demo: setup
	$(BIN)/python tools/run_demo.py

test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=25 tests

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
