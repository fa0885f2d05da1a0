# The front door. `make book` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2
# nbgrader runs `alembic` from PATH, and kernels must be the venv's.
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0

.PHONY: venv book test lint release check-release clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $@

release: $(STAMP)
	$(BIN)/lstm-course release

check-release: $(STAMP)
	$(BIN)/lstm-course release --check

book: $(STAMP)
	$(BIN)/lstm-course release --check
	$(BIN)/jupyter-book build . -W -n --keep-going

# Two pytest workers share two cores: one thread per kernel avoids oversubscription.
test: export OMP_NUM_THREADS := 1
test: $(STAMP)
	$(BIN)/ruff check lstm_course tests
	$(BIN)/pytest -n $(JOBS) --dist loadfile --nbval-lax --nbval-cell-timeout=120 tests solutions chapters

lint: $(STAMP)
	$(BIN)/ruff check lstm_course tests
	$(BIN)/ruff format --check lstm_course tests

clean:
	rm -rf _build
