# Two entry points: `make serve` and `make test`. Everything else is a helper of those two.
PYTHON ?= python3
VENV := .venv
CLIENTS := .venv-clients
BIN := $(VENV)/bin

.PHONY: serve test install clients lint format bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,env,postgres,test]'
	touch $@

install: $(BIN)/.installed

# The real third-party clients live in their own venv: their pins (anaconda-client's opentelemetry, typer<0.26)
# conflict with the server's, and the tests must drive them as a user would, as separate programs.
$(CLIENTS)/.installed: tests/clients/requirements.txt
	test -x $(CLIENTS)/bin/python || $(PYTHON) -m venv $(CLIENTS)
	$(CLIENTS)/bin/python -m pip install --quiet --upgrade pip
	$(CLIENTS)/bin/python -m pip install --quiet -r tests/clients/requirements.txt
	touch $@

clients: $(CLIENTS)/.installed

serve: install
	$(BIN)/packyard serve

test: install clients
	PACKYARD_CLIENTS_BIN=$(abspath $(CLIENTS))/bin $(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) $(CLIENTS) .pytest_cache
