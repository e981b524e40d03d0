# The two entry points of the README. Both create (or reuse) the project virtual environment first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PARAMS ?= params/smoke.yaml

.PHONY: venv smoke test lint format clean-outputs

venv: $(STAMP)

# torch first (sam2 compiles against it, without build isolation), then the package with its dependencies.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip setuptools wheel
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	SAM2_BUILD_CUDA=0 $(BIN)/python -m pip install -q --no-build-isolation -e ".[dev]"
	touch $(STAMP)

smoke: venv
	$(BIN)/python -m veason_lib.pipeline --params $(PARAMS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
