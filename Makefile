# One place for every check. `make test` is enough on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test check fast lint typecheck unit system-deps demo bench bench-http bench-own body-flood soak soak-outside soak-host fuzz serve clean

# Both distributions, editable: linker-auth0 with its dev and test extras, and
# linker-auth0-dev (dev/), which the dev extra names and pip finds here.
$(STAMP): pyproject.toml dev/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip uninstall --quiet --yes linker 2>/dev/null || true  # the distribution's old name
	$(BIN)/pip install --quiet -e ./dev -e '.[dev,test]'
	touch $(STAMP)

system-deps:
	./scripts/system-deps

lint: $(STAMP)
	$(BIN)/ruff check linker tests benchmarks
	$(BIN)/ruff format --check linker tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict linker tests benchmarks

unit: $(STAMP) system-deps
	$(BIN)/pytest

test: lint typecheck unit

# The quick loop while working: lint, types and the fast suite (the core, the service and the
# client SDK in-process, on two pytest-xdist workers; redis-server is started by the tests that
# need it). Tests that wait out a store's own timing (a failover, a retry window) are marked
# `slow` and wait for `make test`, the whole thing: the dev tenant end to end, Chromium, the
# wheels, the deploy files.
FAST := tests/core tests/service tests/client tests/test_boundaries.py tests/test_cli.py \
	tests/test_serving.py

check: lint typecheck fast

fast: $(STAMP) system-deps
	$(BIN)/pytest -q -n 2 -m 'not slow' $(FAST)

demo: $(STAMP)
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || ./scripts/system-deps
	$(BIN)/linker demo --suggest suggest

bench: $(STAMP)
	$(BIN)/pytest benchmarks -s --benchmark-enable --benchmark-only

# Over real HTTP: a zero-latency tenant, `linker serve` (1 worker; 2 workers with Redis) and a
# closed-loop load generator at concurrency 1, 50 and 200. Prints flows/s, linker CPU per flow,
# server wall and event-loop time per step, upstream calls per flow and failed flows
# (benchmarks/http).
bench-http: $(STAMP) system-deps
	$(BIN)/python -m benchmarks.http

# linker's own CPU per link flow, in one process: the app called through ASGI, the tenant
# faked in-process and its CPU left out; steady enough to show a change of a few percent
# (benchmarks/inprocess.py). BASELINE=DIR measures another checkout alongside; INSTRUCTIONS=1
# counts instructions per flow with callgrind instead (repeatable to 0.1% on a busy machine).
bench-own: $(STAMP)
	$(BIN)/python -m benchmarks.inprocess $(if $(BASELINE),--baseline $(BASELINE)) $(if $(INSTRUCTIONS),--instructions)

# 1 GiB to every route of `linker serve`, with a length and chunked: prints each answer and
# the worker's memory before and after (benchmarks/body_flood.py).
body-flood: $(STAMP)
	$(BIN)/python -m benchmarks.body_flood 1024

# 1,000 complete flows at 30% faults, crashes included; prints what the tenant ended with.
soak: $(STAMP)
	LINKER_SOAK_FLOWS=1000 $(BIN)/pytest -q -s tests/reliability/test_fault_soak.py

# 1,000 complete flows over two replicas (one 90 s ahead) with faults outside the tenant: the
# audit file missing, full or filling up, the store losing its pending work, the key set
# answering garbage and a key rotation, the tenant's own faults too; prints what it ended with.
soak-outside: $(STAMP)
	LINKER_OUTSIDE_SOAK_FLOWS=1000 $(BIN)/pytest -q -s tests/reliability/test_outside_soak.py

# 1,100 slow clients hold connections to `linker serve` started with a service manager's
# open-file limits (soft 1024, hard 4096) while 20 complete flows run over real HTTP.
soak-host: $(STAMP)
	LINKER_HOST_SOAK_SLOW=1100 LINKER_HOST_SOAK_FLOWS=20 $(BIN)/pytest -q -s tests/reliability/test_slow_clients_soak.py

# At least 100,000 fuzzed requests over every route; prints the count.
fuzz: $(STAMP)
	LINKER_FUZZ_EXAMPLES=22000 $(BIN)/pytest -q -s tests/reliability/test_fuzz_routes.py

serve: $(STAMP)
	$(BIN)/linker serve

clean:
	rm -rf $(VENV) build dist *.egg-info
