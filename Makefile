# Neural Networks: From Python to FPGA -- the two commands of a fresh machine:
#   make lab    set up both Python environments (if needed) and open JupyterLab with the course
#   make test   set up (if needed) and run every test
# Everything else is a building block of those two.

PYTHON ?= python3
HOST   := .venv/host/bin
BOARD  := .venv/board/bin
# Tests and CI read the datasets from a local mirror (no network): ../shared/data when present.
export COURSE_DATA_MIRROR ?= $(if $(wildcard ../shared/data/mnist),$(abspath ../shared/data),)
PYTEST_WORKERS ?= 2
# PyTorch's OpenMP threads spin while idle; on a busy 2-core machine that slows training 5-30x.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: help setup lab test lint typecheck check-labs test-board test-host system-deps labs lock demo bench release clean distclean

help:
	@echo "make lab    - set up and start JupyterLab (http://127.0.0.1:8888, token printed)"
	@echo "make test   - set up and run all tests (lint, labs check, board env, unit, notebooks, browser)"
	@echo "make labs   - regenerate labs/ from solutions/"
	@echo "make demo   - the whole pipeline headless (course demo), report in build/demo/"
	@echo "make lock   - re-resolve requirements/*.lock from requirements/*.in"

setup:
	$(PYTHON) scripts/bootstrap.py
	$(PYTHON) scripts/fetch_vivado_hwh.py

lab: setup
	$(HOST)/course lab

TIMED := $(PYTHON) scripts/timed.py

# Each phase is timed (scripts/timed.py); the table and the slowest tests are printed at the end.
test:
	@$(TIMED) start
	@$(TIMED) run setup -- $(MAKE) --no-print-directory setup
	@$(TIMED) run system-deps -- $(MAKE) --no-print-directory system-deps
	@$(TIMED) run lint -- $(MAKE) --no-print-directory lint
	@$(TIMED) run typecheck -- $(MAKE) --no-print-directory typecheck
	@$(TIMED) run check-labs -- $(MAKE) --no-print-directory check-labs
	@$(TIMED) run test-board -- $(MAKE) --no-print-directory test-board
	@$(TIMED) run test-host -- $(MAKE) --no-print-directory test-host
	@$(TIMED) summary
	@echo "make test: all tests passed"

lint:
	$(HOST)/ruff check .

# mypy over course_utils (pyproject.toml [tool.mypy]); its cache (.mypy_cache) makes a re-run take seconds
typecheck:
	$(HOST)/python -m mypy

check-labs:
	$(HOST)/course labs --check
	$(HOST)/course lectures --check

test-board:
	cd tests/board && ../../$(BOARD)/python -m pytest -q -p no:cacheprovider .

test-host:
	$(HOST)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --nbval-lax -m "not registry" \
	  --durations=15 --durations-min=5 tests solutions lectures

system-deps:
	$(PYTHON) scripts/system_deps.py

labs:
	$(HOST)/course labs

demo: setup
	$(HOST)/course demo

release: setup
	$(HOST)/course release build/release/student-bundle.zip --force

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(HOST)/python $$b || exit 1; done

lock:
	$(PYTHON) scripts/lock.py
	$(HOST)/python docker/envfiles.py
	$(HOST)/python docker/envfiles.py --hub
	$(HOST)/python -m pytest -q -p no:xdist -m registry tests/test_containers.py

clean:
	rm -rf build .pytest_cache

distclean: clean
	rm -rf .venv
