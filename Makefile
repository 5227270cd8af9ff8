# fitdoctor developer commands. Each target creates .venv if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean rule

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned to the tested CPU build, so nothing pulls CUDA wheels.
	$(BIN)/python -m pip install -q -c constraints.txt torch
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,frameworks]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fitdoctor check examples/gelu_final_activation/broken.py || test $$? -eq 1

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check src tests examples bench scripts
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

# Measurements, not pass/fail tests (kept out of `make test`): writes BENCHMARKS.md, about 30 minutes.
bench: $(STAMP)
	$(BIN)/python -m bench.run

# Scaffold a rule: make rule NAME=softmax-dim CODE=FD205 (writes its TOML, module, examples and test).
rule: $(STAMP)
	$(BIN)/python scripts/add_rule.py --name $(NAME) --code $(CODE)

clean:
	rm -rf $(VENV) dist build
