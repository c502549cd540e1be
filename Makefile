# fppdl: the two commands are `make demo` (4-party consortium end to end) and `make test`.
# Both depend on `setup`, which is idempotent: each step re-runs only when its inputs changed.
SHELL := /bin/bash
PY := .venv/bin/python
STAMPS := .setup-stamps

.PHONY: setup demo test lint typecheck bench clean

setup: $(STAMPS)/venv $(STAMPS)/npm $(STAMPS)/contracts $(STAMPS)/links $(STAMPS)/chromium

# tests/audit never skip: the report's browser test needs Debian's chromium, the auditor
# guide's recipes jq.
$(STAMPS)/chromium:
	@mkdir -p $(STAMPS)
	@command -v chromium >/dev/null && command -v jq >/dev/null || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium jq; }
	@command -v chromium >/dev/null && command -v jq >/dev/null || { \
	  echo "chromium or jq is still missing after apt-get" >&2; exit 1; }
	@touch $@

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned exactly in pyproject.toml: that pin takes the local CPU wheel.
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(STAMPS)/npm: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(STAMPS)/contracts: $(STAMPS)/venv $(STAMPS)/npm $(wildcard contracts/*.sol contracts/**/*.sol) client/chain/compile.py
	$(PY) -m client.chain.compile
	@touch $@

# `source .venv/bin/activate` then puts the npm tools next to `fppdl` on PATH (relative
# links: the clone may move).
NPM_TOOLS := anvil cast jsipfs hardhat
$(STAMPS)/links: $(STAMPS)/venv $(STAMPS)/npm
	@for tool in $(NPM_TOOLS); do ln -sfn ../../node_modules/.bin/$$tool .venv/bin/$$tool; done
	@touch $@

demo: setup
	$(PY) -m client.cli demo $(ARGS)

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check client trainer storage migrations tests benchmarks
	$(PY) -m mypy client trainer storage migrations

# credibility_quality.py (10 seeds of real-MNIST DPGANs, > 1 h here) is run by hand.
bench: setup
	for b in benchmarks/*.py; do \
	  case $$b in *credibility_quality.py) continue;; esac; echo "== $$b"; $(PY) $$b; done

clean:
	rm -rf build $(STAMPS) .pytest_cache .mypy_cache .ruff_cache
