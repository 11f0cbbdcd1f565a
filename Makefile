# Two commands: `make demo` (set up, then run the app against the embedded server) and `make test` (set up, then
# lint and test).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# Debian packages of the real peers the test suite drives (tmux: the end-to-end tests of the app in a terminal;
# postgresql: the server's store on PostgreSQL, in a throwaway cluster the tests start; redis-server: the nodes'
# shared state; kamailio also runs as the front of several nodes, deploy/kamailio).
PEER_PACKAGES := linphone-cli openssl kamailio kamailio-presence-modules sip-tester tmux postgresql redis-server

.PHONY: test test-deps lint bench clean demo

test: $(STAMP) test-deps lint
	$(PY) -m pytest

# The app against the embedded server with demo users whose numbers are in fixtures/contacts (quit with q).
demo: $(STAMP)
	@$(PY) -m compileall -q smartbook_tui  # bytecode, as an installed package has: a quicker first frame
	$(VENV)/bin/smartbook demo

# Redis, PostgreSQL, three server nodes and Kamailio in front on loopback, with the demo's accounts (Ctrl-C stops all).
.PHONY: cluster
cluster: $(STAMP)
	$(VENV)/bin/smartbook cluster up

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) bench/documents.py
	$(PY) bench/contacts.py
	$(PY) bench/subscriber.py
	$(PY) bench/server.py
	$(PY) bench/list.py
	$(PY) bench/phone.py
	$(PY) bench/app.py

$(PY):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "smartbook needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --editable '.[test]'
	touch $@

# Installs the peers as root with apt; otherwise says which tests will be skipped (or fail under CI=true).
test-deps:
	@missing=""; for p in $(PEER_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing real peers:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "not root or no apt-get: tests needing$$missing will be skipped (and fail under CI=true)"; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
