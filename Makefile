# One place for every check. `make test` is enough on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit system-deps demo bench serve clean

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
	$(BIN)/mypy --strict linker

unit: $(STAMP) system-deps
	$(BIN)/pytest

test: lint typecheck unit

demo: $(STAMP)
	@command -v node >/dev/null 2>&1 || ./scripts/system-deps
	$(BIN)/linker demo

bench: $(STAMP)
	$(BIN)/pytest benchmarks --benchmark-enable --benchmark-only

serve: $(STAMP)
	$(BIN)/linker serve

clean:
	rm -rf $(VENV) build dist *.egg-info
