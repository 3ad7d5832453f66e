# The two commands a newcomer needs are `make run` and `make test`; everything they
# depend on is installed from here, so a fresh machine and CI behave the same.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# 1053, not 5353: mDNS responders (avahi, mDNSResponder) hold 5353 on most desktops.
LISTEN ?= 127.0.0.1:1053
# e.g. make bench BENCH_ARGS='--repeat 5' on a noisy machine (bench/run.py --help)
BENCH_ARGS ?=
# e.g. make mutate MUTATE_ARGS='--seconds 300 --module clusterdns/zone/answer.py'
MUTATE_ARGS ?=
# e.g. make fuzz FUZZ_ARGS='--packets 200000 --seed 7' (python -m fuzz.campaign --help)
FUZZ_ARGS ?=

# Debian packages the tests drive as real clients and peers: dig, dnsmasq as an upstream,
# BIND (named, named-checkzone) and Knot (knotd) as zone-transfer secondaries, prometheus
# (with promtool) to scrape /metrics, and musl-gcc to build a lookup with Alpine's libc.
TEST_DEBS  = bind9-dnsutils dnsmasq-base bind9 bind9-utils knot prometheus musl-tools
BENCH_DEBS = dnsperf dnsmasq-base
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench mutate fuzz debs-test debs-bench clean

# pip install -e also builds the C answering threads in place (setup.py), so its source counts.
$(BIN)/.installed: pyproject.toml setup.py clusterdns/serve/_batchloop.c
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
	  "clusterdns needs Python 3.11 or newer; $(PYTHON) is Python " + sys.version.split()[0] \
	  + ": run make PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/clusterdns serve --manifests manifests --listen $(LISTEN)

test: $(BIN)/.installed debs-test
	$(BIN)/ruff check clusterdns tests bench
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check clusterdns tests bench

bench: $(BIN)/.installed debs-bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Small deliberate bugs in the pure core and the wire code, each run against its module's
# tests; prints the survivors and the score.
mutate: $(BIN)/.installed
	$(BIN)/python bench/mutate.py $(MUTATE_ARGS)

# A million mutated packets against a real server on loopback; one summary line at the end.
fuzz: $(BIN)/.installed
	$(BIN)/python -m fuzz.campaign $(FUZZ_ARGS)

# Install only the Debian packages that are missing, so repeated runs need no network.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi
endef

debs-test:
	$(call apt_install,$(TEST_DEBS))

debs-bench:
	$(call apt_install,$(BENCH_DEBS))

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .hypothesis build clusterdns/serve/*.so
