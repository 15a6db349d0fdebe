# The two commands of the README: `make run` (the whole local pipeline) and `make test`.
# Both install what they need on a fresh machine: a virtual environment with the Python
# packages, the npm packages of the local Cosmos-protocol server, checkov in its own venv,
# and Debian's redis-server when no Redis is installed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30
# The dashboard page's libraries, copied from node_modules so the Python package serves them
# (never a CDN at run time); the copies are not committed (.gitignore).
WEB_VENDOR := dashboard-api/dashboard_api/web/vendor
WEB_STAMP := $(WEB_VENDOR)/.copied

.PHONY: run test lint bench bench-all quality checkov install system-deps schemas web bench-page clean help reliability

help:
	@echo "make run     run simulator -> Redis -> worker -> store and the analyzer API (Ctrl-C stops)"
	@echo "make test    lint and run every test (real Redis, Cosmos-protocol server, checkov)"
	@echo "make bench   tier 1+2 throughput and latency against a naive reference and River"
	@echo "make reliability the fault suite: worker kills, Redis restart, store and model outages, poison, 1/2/4 workers"
	@echo "make quality detection quality on the NAB development set and the simulator (a few minutes)"
	@echo "make checkov the Terraform security checks (offline)"
	@echo "make schemas regenerate schemas/json from the pydantic models"
	@echo "make bench-page the dashboard page in headless Chromium: first paint, frame times with 100 sensors"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

# A Redis server for the tests and `make run` when the machine has none, and Chromium for the
# dashboard page's browser tests (Debian's packages; playwright drives that binary, it downloads none).
system-deps:
	@if ! command -v redis-server >/dev/null 2>&1 && ! (command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1); then \
		echo "installing redis-server (Debian)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) \
			|| echo "could not install redis-server: tests that need a real Redis will say so"; \
	fi
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "installing chromium (Debian)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
			|| echo "could not install chromium: the dashboard page's browser tests will skip and say so"; \
	fi

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# uPlot (charts) and MSAL (Entra ID sign-in) for the dashboard page, from the lock file's versions.
$(WEB_STAMP): $(NODE_STAMP)
	mkdir -p $(WEB_VENDOR)
	cp node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css $(WEB_VENDOR)/
	cp node_modules/@azure/msal-browser/lib/msal-browser.min.js $(WEB_VENDOR)/
	touch $@

web: $(WEB_STAMP)

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

# The fault suite against real processes and a redis-server of its own (persistence on); prints the
# summary table and fails when any scenario lost or duplicated an entry or gave other verdicts.
reliability: $(STAMP) $(NODE_STAMP) system-deps
	$(BIN)/python -m bench.reliability

run: $(STAMP) $(WEB_STAMP)
	$(BIN)/sensor-analyzer run

test: $(STAMP) $(NODE_STAMP) $(WEB_STAMP) $(CHECKOV_STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy analyzer schemas bench dashboard-api/dashboard_api
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy analyzer schemas bench dashboard-api/dashboard_api

bench: $(STAMP)
	$(BIN)/python -m bench.analyzer

# Every benchmark: tiers 1+2, tier 1 alone, the worker into SQLite, the store's write path.
bench-all: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m bench.analyzer
	$(BIN)/python -m bench.heuristic
	$(BIN)/python -m bench.worker
	$(BIN)/python -m bench.store_cost

# The dashboard page in headless Chromium on the local stack: first paint and frame times with
# 100 sensors updating.
bench-page: $(STAMP) $(WEB_STAMP) system-deps
	$(BIN)/python -m bench.dashboard_page

# Detection quality (a benchmark, not a test): NAB series from ../shared/dev-data/nab-dev and the
# simulator; one table, then one JSON line with the totals.
quality: $(STAMP)
	$(BIN)/python -m bench.quality

checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov -d infrastructure --framework terraform --skip-download --compact --quiet

schemas: $(STAMP)
	$(BIN)/python -m schemas.generate

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .state .pytest_cache .ruff_cache
