# Two commands do everything on a fresh machine:
#   make run   - set up, train any missing reference model, open the dashboard
#   make test  - set up and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run train test test-fast app clean

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

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not integration"

clean:
	rm -rf $(VENV) .pytest_cache
