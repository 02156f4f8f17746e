# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The shared WikiText-2 copy when it sits beside the project; otherwise the
# sandbox looks in $SANDBOX_WIKITEXT_DIR, its cache, or downloads it.
DATA_DIR ?= $(wildcard ../shared/data/wikitext-2)
DATA_ARG := $(if $(DATA_DIR),--data-dir $(DATA_DIR))
ARGS ?=
# pytest-xdist workers; whole test files go to one worker, so module
# fixtures (a finished mini sweep, a trained run) are built once, the
# longest files first (tests/conftest.py's LONGEST_FILES); the 15 slowest
# tests are listed at the end, to keep the run under 10 minutes.
TEST_WORKERS ?= 2

.PHONY: setup run test bench

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	# d2l 1.0.3 pins numpy==1.23.5 and other versions that cannot coexist
	# with TensorFlow 2.21; its load-time imports are in requirements.txt.
	$(PY) -m pip install -q --no-deps d2l==1.0.3
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

setup: $(VENV)/.installed

run: setup
	$(PY) -m sandbox pretrain $(DATA_ARG) $(ARGS)

test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
		--durations=15 $(ARGS)

bench: setup
	$(PY) benchmarks/data_pipeline.py $(DATA_ARG)
	$(PY) benchmarks/train_step.py $(DATA_ARG)
	$(PY) benchmarks/train_step.py $(DATA_ARG) --dtype mixed_bfloat16
