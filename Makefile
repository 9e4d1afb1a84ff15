# Two commands do everything on a fresh machine:
#   make run   - set up, train any missing reference model, open the dashboard
#   make test  - set up and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run train lint test test-fast app serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

train: install
	$(BIN)/explain train --missing

app: install
	$(BIN)/explain app

run: train app

# The HTTP service.  Authentication is on: set EXPLAIN_SERVICE_TOKENS or SERVE_ARGS="--token-file FILE";
# `make serve SERVE_ARGS=--no-auth` runs without it on 127.0.0.1 only.
SERVE_ARGS ?=
serve: install
	$(BIN)/explain serve $(SERVE_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install lint
	$(BIN)/python -m pytest

test-fast: install lint
	@start=$$(date +%s); $(BIN)/python -m pytest -m "not integration"; status=$$?; \
	echo "test-fast took $$(( $$(date +%s) - start )) s"; exit $$status

clean:
	rm -rf $(VENV) .pytest_cache
