# govsms: `make run` serves the product on the embedded default, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench install messages clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "govsms needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/govsms demo

# The independent SMSC the SMPP tests talk to (npm package `smpp`, pinned in its lock file).
SMSC_MODULES := tests/smsc/node_modules/.package-lock.json

$(SMSC_MODULES): tests/smsc/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/smsc --no-audit --no-fund --silent; \
	else echo "npm not found: the SMPP tests will be skipped"; fi

# axe-core, the accessibility engine the every-page browser test injects (pinned in its lock file).
A11Y_MODULES := tests/a11y/node_modules/.package-lock.json

$(A11Y_MODULES): tests/a11y/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/a11y --no-audit --no-fund --silent; \
	else echo "npm not found: the accessibility test will be skipped"; fi

# The tests run on one process per CPU (pytest-xdist); TEST_WORKERS=0 runs them all in one.
TEST_WORKERS ?= logical

test: $(STAMP) $(SMSC_MODULES) $(A11Y_MODULES)
	$(BIN)/lint-imports
	$(BIN)/ruff check govsms tests bench migrations
	$(BIN)/mypy
	$(BIN)/python -m pytest -v -n $(TEST_WORKERS) --dist loadgroup

bench: $(STAMP)
	@set -e; for script in bench/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script; done

# Schemathesis over every API operation of a throwaway demo on the embedded SQLite: any 5xx fails.
.PHONY: fuzz
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz_api

# Extract UI strings and merge them into the Swedish catalog (then translate the new ones).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ --no-location --omit-header -o /tmp/govsms-messages.pot .
	$(BIN)/pybabel update -i /tmp/govsms-messages.pot -d govsms/locale -l sv --no-fuzzy-matching -w 100

clean:
	rm -rf $(VENV) .pytest_cache
