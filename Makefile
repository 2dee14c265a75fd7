# triggerpoint: two commands take a fresh machine to a running app (`make run`) or a full
# test run (`make test`). Everything the project needs is installed from here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

## Debian packages the app and the tests need (installed only when missing; needs root).
system-deps:
	@bash tools/system-deps.sh

## The web app and, beside it, the job queue's worker (questionnaire emails, reminders,
## expiry): the worker runs in the background and is stopped when `serve` stops (Ctrl+C),
## gracefully (SIGINT: the jobs it is running finish first).
run: $(STAMP) system-deps
	$(BIN)/triggerpoint setup
	$(BIN)/triggerpoint demo seed --if-empty --patients 40
	@$(BIN)/triggerpoint worker & worker=$$!; \
	trap 'kill -INT $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	trap 'exit 130' INT TERM; \
	$(BIN)/triggerpoint serve --host $(HOST) --port $(PORT)

test: $(STAMP) system-deps
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/lint-imports --no-logo  # import contracts: pyproject.toml [tool.importlinter]
	$(BIN)/mypy  # types: pyproject.toml [tool.mypy]
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check --fix src tests bench tools
	$(BIN)/ruff format src tests bench tools

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache

## Mutation testing of the safety-critical code (not part of `make test`): per module, that
## module's own tests on SQLite, 2 workers; prints the score per module and every survivor.
## MODULES="safety audit" runs some; configured in pyproject.toml [tool.mutmut]; see tests/MUTATION.md.
.PHONY: mutation
mutation: $(STAMP)
	$(BIN)/python tools/mutation.py --jobs 2 $(MODULES)
