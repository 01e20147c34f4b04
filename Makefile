# Atelier: `make run` starts the platform on embedded defaults; `make test` runs every test.
# Both install what they need first, into .venv (Python) and node_modules (chain tools).

PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := requirements/constraints.txt
TORCH := torch==2.13.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Tests run on SQLite (the embedded default) and again, for the platform, on PostgreSQL.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/atelier

export PYTHONPATH := $(CURDIR)/platform
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install install-dev lint typecheck pytest lock clean

run: install
	$(BIN)/python scripts/run_platform.py --port $(PORT)

test: install-dev lint typecheck pytest

install: $(VENV)/.installed node_modules/.installed

install-dev: install $(VENV)/.installed-dev /usr/bin/chromium

# torch goes in first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c $(CONSTRAINTS) $(TORCH)
	$(PIP) install -q -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
/usr/bin/chromium:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	DJANGO_ENV=test $(BIN)/mypy gan market provenance platform scripts manage.py

pytest:
	DJANGO_ENV=test $(BIN)/pytest
	DJANGO_ENV=test DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest tests/platform -m "not browser"

# Refresh the lock after changing pyproject.toml: resolves afresh in a scratch environment.
lock:
	rm -rf /tmp/atelier-lock && $(PYTHON) -m venv /tmp/atelier-lock
	/tmp/atelier-lock/bin/pip install -q $(TORCH) && /tmp/atelier-lock/bin/pip install -q -e ".[dev]"
	(echo "# Exact versions for every install (make regenerates it with \`make lock\`). torch is installed first."; \
	 /tmp/atelier-lock/bin/pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/') > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) node_modules var .mypy_cache .ruff_cache .pytest_cache
