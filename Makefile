# Two commands matter: `make demo` and `make test`. Everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export VIGIL_DATABASE_URL ?= sqlite:///./var/vigil.db

.PHONY: demo test install lint typecheck migrations-check pytest browser fonts serve worker clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

## Install, migrate ./var/vigil.db, load a simulated marketplace (once), serve on :8000.
demo: install fonts
	$(BIN)/vigil db upgrade
	$(BIN)/vigil demo-data
	$(BIN)/vigil serve

## Install and run everything CI runs: lint, types, migration drift, the whole test suite.
test: install browser fonts lint typecheck migrations-check pytest

lint:
	$(BIN)/ruff check src tests bench eval
	$(BIN)/ruff format --check src tests bench eval

typecheck:
	$(BIN)/mypy src

# Models and migrations must never drift (on SQLite always; on PostgreSQL when it answers,
# and always under CI=true).
migrations-check:
	$(BIN)/python -m vigil.migrate_check

pytest:
	$(BIN)/pytest -n 2 --dist loadgroup --durations=30

# Console tests drive Debian's Chromium (Playwright's own browser download does not work
# offline). Install it when missing and we are allowed to.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the console tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is not installed; console tests will skip (install the 'chromium' package)"; \
	  fi; }

# The simulator prints machine-readable zones in OCR-B, as real documents do (Debian's
# fonts-ocr-b). Without it documents are printed in DejaVu Sans Mono, which reads less well.
fonts:
	@[ -f /usr/share/fonts/opentype/ocr-b/OCRB.otf ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's fonts-ocr-b for the simulator's documents"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-ocr-b fonts-dejavu-core >/dev/null; \
	  else \
	    echo "fonts-ocr-b is not installed; simulated documents use a fallback font"; \
	  fi; }

serve: install
	$(BIN)/vigil serve

worker: install
	$(BIN)/vigil worker

bench: install
	$(BIN)/python bench/assign.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
