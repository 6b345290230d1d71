# Civicstack: `make run` starts the platform; `make test` checks everything.
SHELL := /bin/bash
PYTHON_VERSION := $(shell cat .python-version)
VENV := .venv
PY := $(VENV)/bin/python
CS := $(VENV)/bin/civicstack
LOCK := requirements/dev.txt
# pytest-xdist workers for the suite: one per core.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
RUN_LOCK := requirements/base.txt

.PHONY: run test lint typecheck imports pytest bench install install-run assets messages browsers scanner letters lock demo clean

# --- Python environment -------------------------------------------------------------------
$(PY):
	@py=$$(command -v python$(PYTHON_VERSION) || true); \
	if [ -z "$$py" ] && command -v pyenv >/dev/null; then py=$$(pyenv which python$(PYTHON_VERSION) 2>/dev/null || true); fi; \
	if [ -z "$$py" ]; then echo "Python $(PYTHON_VERSION) is needed (pyenv install $(PYTHON_VERSION))"; exit 1; fi; \
	$$py -c 'import sys; assert sys.version_info[:2] == (3, 12), "Python 3.12 is required"' && \
	$$py -m venv $(VENV)

$(VENV)/.run-deps: $(PY) $(RUN_LOCK) pyproject.toml
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(RUN_LOCK)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.dev-deps: $(PY) $(LOCK) pyproject.toml
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@ $(VENV)/.run-deps

install-run: $(VENV)/.run-deps assets messages scanner letters
install: $(VENV)/.dev-deps assets messages letters

# Welsh (and any other) interface translations: .po files are source, .mo files are built.
messages: $(VENV)/.run-deps
	@command -v msgfmt >/dev/null || { \
		echo "Installing Debian's gettext for translations"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; }
	@if ls src/civicstack/locale/*/LC_MESSAGES/django.po >/dev/null 2>&1; then \
		cd src/civicstack && ../../$(CS) compilemessages --verbosity 0; fi

# Re-lock after changing dependencies in pyproject.toml (needs the dev environment).
lock: $(VENV)/.dev-deps
	$(VENV)/bin/uv pip compile pyproject.toml requirements/build.in --python-version 3.12 \
		--generate-hashes --quiet -o $(RUN_LOCK)
	$(VENV)/bin/uv pip compile pyproject.toml requirements/build.in --extra dev --python-version 3.12 \
		--generate-hashes --quiet -o $(LOCK)

# --- Front-end assets ---------------------------------------------------------------------
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

src/civicstack/static/build/civicstack.css: node_modules/.package-lock.json scripts/build-assets.mjs src/civicstack/static/scss/civicstack.scss
	npm run --silent build

assets: src/civicstack/static/build/civicstack.css

# --- Run ------------------------------------------------------------------------------------
run: install-run
	$(CS) migrate --no-input
	$(CS) createcachetable
	$(CS) demo load
	$(CS) notify_vapid_keys --if-missing
	$(CS) oidc_keys --if-missing
	$(CS) collectstatic --no-input --verbosity 0
	@echo
	@echo "Civicstack: http://127.0.0.1:8000/"
	@$(CS) demo sign-ins
	@echo "Press Ctrl-C to stop the web server, the worker and the scheduler."
	@echo
	$(CS) serve --host 127.0.0.1 --port 8000

# --- Tests ----------------------------------------------------------------------------------
browsers:
	@command -v chromium >/dev/null || { \
		echo "Installing Debian's chromium for browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# ClamAV's clamd scans uploads; `civicstack serve` and the tests start their own.
scanner:
	@command -v clamd >/dev/null || [ -x /usr/sbin/clamd ] || { \
		echo "Installing Debian's clamav-daemon for upload scanning"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav-daemon >/dev/null; }

# WeasyPrint renders decision letters with Pango; DejaVu gives Welsh its diacritics.
letters:
	@ldconfig -p | grep -q libpangoft2-1.0 && ldconfig -p | grep -q libharfbuzz-subset && fc-list 2>/dev/null | grep -qi dejavu || { \
		echo "Installing Debian's Pango and DejaVu fonts for decision letters"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fontconfig >/dev/null; }

lint: $(VENV)/.dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.dev-deps
	$(VENV)/bin/mypy

imports: $(VENV)/.dev-deps
	$(VENV)/bin/lint-imports

pytest: install browsers scanner
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile

test: install browsers scanner lint typecheck imports pytest

bench: install
	@command -v wrk >/dev/null || { \
		echo "Installing Debian's wrk for load tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(PY) bench/run.py

# The applications API: submissions/s against an insert floor, 1 MB uploads, SIGKILL durability.
.PHONY: bench-submissions
bench-submissions: install scanner
	@command -v wrk >/dev/null || { \
		echo "Installing Debian's wrk for load tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(PY) bench/submissions.py

# Cases: queues, case view and decisions with 10k, 100k and 1M cases on PostgreSQL and 100k
# on SQLite (about 25 minutes; bench/cases.py --sizes 10000 for a quick run).
.PHONY: bench-cases
bench-cases: install
	@command -v wrk >/dev/null || { \
		echo "Installing Debian's wrk for load tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(PY) bench/cases.py

# Notifications: emails/s from the API to a local mail server, a 10,000-message burst and a
# 5-minute mail server outage, on SQLite, PostgreSQL and Redis/RQ (about 45 minutes;
# bench/notify.py without options for a short run of everything).
.PHONY: bench-notify
bench-notify: install
	$(PY) bench/notify.py --full

clean:
	rm -rf $(VENV) node_modules src/civicstack/static/build

# Sign-in and tokens: token endpoint grants/s (client_credentials, refresh), the authorize +
# token round trip, password sign-ins/s, beside a bare-Django floor; ID token signing RS256
# vs ES256 in process (about 3 minutes, SQLite, 127.0.0.1 only).
.PHONY: bench-identity
bench-identity: install
	$(PY) bench/identity.py
