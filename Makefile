# lossbench developer entry points. `make test` and `make run` work on a fresh clone: they
# create .venv and install everything (torch pinned by constraints.txt) when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast run bench bench-losses bench-data bench-train bench-sweep bench-estimate wheelhouse gpu-evidence clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev,cluster,wandb]"
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/python -m pytest -q

# The edit-run loop: every test that runs no job and starts no cluster (tests marked slow are left
# out; tests/conftest.py SLOW_MODULES says which). `make test` stays the whole suite, and CI runs it.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

run: install
	$(BIN)/lossbench sweep demo

bench: bench-losses bench-data bench-train bench-sweep bench-estimate

bench-losses: install
	$(BIN)/python benchmarks/bench_losses.py

bench-data: install
	$(BIN)/python benchmarks/bench_data.py

bench-train: install
	$(BIN)/python benchmarks/bench_train.py --options --markdown

bench-sweep: install
	$(BIN)/python benchmarks/bench_sweep.py

bench-estimate: install
	$(BIN)/python benchmarks/bench_estimate.py --markdown

# Wheels for a GPU machine without network that has torch, lightning and torchmetrics (Python 3.12 by
# default): make wheelhouse WHEEL_PYTHON=3.12 WITHOUT=scikit-learn,scipy,matplotlib (what it has too).
# Install them there with scripts/offline-install.sh wheelhouse/.
WHEEL_PYTHON ?= 3.12
WITHOUT ?=
wheelhouse: install
	$(BIN)/python scripts/wheelhouse.py wheelhouse --python $(WHEEL_PYTHON) $(if $(WITHOUT),--without $(WITHOUT))

# One prepared GPU run (scripts/gpu_evidence.py): make gpu-evidence ARGS="--budget 480 --cifar-root data".
# On a machine without .venv (a GPU image with the wheelhouse installed) it runs python3.
gpu-evidence:
	scripts/gpu-evidence.sh $(ARGS)

clean:
	rm -rf build dist src/*.egg-info .pytest_cache
