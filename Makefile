# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Local servers the tests start; each is fetched into ~/.cache/pagedlist by its launcher.
EMULATORS ?= redis redis-cluster

.PHONY: demo test install install-test system-deps lint clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "pagedlist needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e '.[cli]'

## make demo: build the demo feed on SQLite and print it (runs twice without duplicating)
demo: install
	$(BIN)/pagedlist demo --store sqlite:///pagedlist-demo.db

install-test: $(BIN)/python system-deps
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pagedlist emulator install $(EMULATORS)

system-deps:
	bash scripts/install-system-deps.sh

lint: install-test
	$(BIN)/ruff check .

## make test: install everything the tests need, then run them all
test: install-test lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) pagedlist-demo.db* .pytest_cache .ruff_cache
