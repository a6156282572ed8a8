# Two entry points for a fresh clone: `make demo` and `make test`. Each sets up what it needs, and the demo
# only what it needs: the runtime packages and socket.io-client; it compiles nothing. The test-only pieces
# (the dev tools, and the npm packages of the Node.js test server, whose better-sqlite3 builds from source)
# come with `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.dev-installed-stamp
NODE_STAMP := node_modules/.installed-stamp
TEST_NODE_STAMP := examples/node_modules/.installed-stamp
KNOWN_DIR := harness/scenarios_data/known
KNOWN_NODE_STAMP := $(KNOWN_DIR)/node_modules/.installed-stamp
NPM_CI := npm ci --no-audit --no-fund --loglevel=error
PYTEST_ARGS ?=

.PHONY: setup test-setup known-setup demo lint test clean

setup: $(STAMP) $(NODE_STAMP)

test-setup: setup $(DEV_STAMP) $(TEST_NODE_STAMP) $(KNOWN_NODE_STAMP)

# The real npm packages the known-issues catalogue runs (`sio-harness known`).
known-setup: setup $(KNOWN_NODE_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

$(NODE_STAMP): package.json package-lock.json
	$(NPM_CI)
	touch $(NODE_STAMP)

$(TEST_NODE_STAMP): examples/package.json examples/package-lock.json
	cd examples && $(NPM_CI)
	touch $(TEST_NODE_STAMP)

$(KNOWN_NODE_STAMP): $(KNOWN_DIR)/package.json $(KNOWN_DIR)/package-lock.json
	cd $(KNOWN_DIR) && $(NPM_CI)
	touch $(KNOWN_NODE_STAMP)

demo: setup
	$(VENV)/bin/sio-harness matrix

# ruff and mypy read their configuration from pyproject.toml, and so does lint-imports (the contracts of
# docs/layout.md).
lint: test-setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: test-setup lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules examples/node_modules $(KNOWN_DIR)/node_modules reports/*/
