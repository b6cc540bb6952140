# Every target works from a fresh clone with only Python >= 3.11: the first one
# creates .venv and installs the project with all its extras into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint typecheck pytest docs bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all]'
	touch $(STAMP)

## Run the demo: the FastAPI example on the embedded default store, at
## http://127.0.0.1:$PORT (default 8000); it prints the URL.
demo: $(STAMP)
	$(BIN)/python examples/fastapi_app.py

## The whole test command: lint, types, tests. .ci/run calls exactly this.
test: lint typecheck pytest docs

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

## The documentation site, built strictly: a broken link or page fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.enumeration
	$(BIN)/python -m benchmarks.fastapi_me

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
