# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Local servers the tests start; each is fetched into ~/.cache/pagedlist by its launcher.
EMULATORS ?= redis redis-cluster dynamodb cosmos oci-nosql postgres
PORT   ?= 8000

.PHONY: demo test install install-test system-deps lint clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "pagedlist needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e '.[cli,app]'

## make demo: print the demo feed, then serve the feed application on SQLite (Ctrl-C stops)
demo: install
	$(BIN)/pagedlist demo --store sqlite:///pagedlist-demo.db
	$(BIN)/pagedlist serve --store sqlite:///pagedlist-demo.db --seed --host 127.0.0.1 --port $(PORT)

install-test: $(BIN)/python system-deps
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pagedlist emulator install $(EMULATORS)
	bash scripts/install-axe.sh

system-deps:
	bash scripts/install-system-deps.sh

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy --strict src/pagedlist/core src/pagedlist/errors.py
	$(BIN)/mypy src/pagedlist

## make test: install everything the tests need, then run them all
test: install-test lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) pagedlist-demo.db* .pytest_cache .ruff_cache
