# The front door. `make book` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2
# nbgrader runs `alembic` from PATH, and kernels must be the venv's.
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0
# The course's models are small: one thread per kernel is as fast, and two threads per kernel
# on two cores shared with anything else can stall (a cell of Chapter 1 once took > 120 s).
export OMP_NUM_THREADS := 1
export OMP_WAIT_POLICY := PASSIVE
# MathJax for offline math: npm's package, unpacked into _build/vendor/_static/mathjax, which
# _config.yml's html_extra_path copies into the book (not _static/: Jupyter Book would add
# every .js file found there to every page).
MATHJAX_VERSION := 3.2.2
MATHJAX_DIR := _build/vendor/_static/mathjax
MATHJAX := $(MATHJAX_DIR)/.version-$(MATHJAX_VERSION)
# axe-core (the engine of Lighthouse's accessibility audit) for the browser tests: npm's package,
# unpacked next to the build but not into the book.
AXE_VERSION := 4.14.1
AXE := _build/vendor-test/axe-$(AXE_VERSION)/axe.min.js
# The built book and what it is built from: `make test` rebuilds it only if a source is newer
# (the package too: a change to a plot or a data generator changes the pages).
BOOK := _build/html/.built
BOOK_SOURCES := _config.yml _toc.yml intro.md $(wildcard chapters/*/*.ipynb) \
	$(shell find book _static _templates lstm_course -type f -not -path '*/__pycache__/*' 2>/dev/null)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: venv book test nbval lint bench release check-release clean browser postgres sandbox

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

$(MATHJAX):
	rm -rf $(MATHJAX_DIR) && mkdir -p $(MATHJAX_DIR)
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null \
	  && tar -xzf mathjax-$(MATHJAX_VERSION).tgz -C $(CURDIR)/$(MATHJAX_DIR) --strip-components=1 package/LICENSE \
	  && tar -xzf mathjax-$(MATHJAX_VERSION).tgz -C $(CURDIR)/$(MATHJAX_DIR) --strip-components=2 \
	     package/es5/tex-mml-chtml.js package/es5/input package/es5/output/chtml package/es5/a11y \
	     package/es5/sre package/es5/ui \
	  && rm -rf $$tmp
	touch $@

$(AXE):
	rm -rf _build/vendor-test && mkdir -p $(dir $(AXE))
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null \
	  && tar -xzf axe-core-$(AXE_VERSION).tgz -C $(CURDIR)/$(dir $(AXE)) --strip-components=1 \
	     package/axe.min.js package/LICENSE \
	  && rm -rf $$tmp

define build_book
$(BIN)/lstm-course release --check
$(BIN)/jupyter-book build . -W -n --keep-going
touch $(BOOK)
endef

book: $(STAMP) $(MATHJAX)
	$(build_book)

$(BOOK): $(STAMP) $(MATHJAX) $(BOOK_SOURCES)
	$(build_book)

# The browser tests drive Debian's headless Chromium through its chromedriver.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install \
	    -y -qq --no-install-recommends chromium chromium-driver fonts-liberation; }

# The grading sandbox filters system calls with libseccomp (Debian's libseccomp2, which apt
# itself needs, so it is nearly always there).
sandbox:
	@dpkg -s libseccomp2 >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) env \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libseccomp2; }

# PostgreSQL for the gradebook test (it starts its own throw-away server; skipped, with the
# reason, where PostgreSQL cannot be installed).
postgres:
	@bash .ci/install-postgres.sh

# Each chapter is executed once per version here (tests/test_grade_fast.py grades the answer
# key and the student version fast, as instructors grade; ch02 also in full); the book build
# executes the student versions, so the tests do not run nbval over the notebooks a third time. `make nbval` does, for a chapter author.
# Workers take whole files, longest first (tests/conftest.py: LONGEST_FIRST), in that order.
test: $(STAMP) browser postgres sandbox $(AXE) $(BOOK)
	$(BIN)/ruff check lstm_course tests
	$(BIN)/pytest -n $(JOBS) --dist loadfile --no-loadscope-reorder --durations=25 tests

nbval: $(STAMP)
	$(BIN)/pytest -n $(JOBS) --nbval-lax --nbval-cell-timeout=120 solutions chapters

lint: $(STAMP)
	$(BIN)/ruff check lstm_course tests

# The Performance appendix's numbers: about 20 minutes; run it on an otherwise idle machine.
bench: $(STAMP) $(MATHJAX)
	$(BIN)/lstm-course bench --json book/bench_results.json

clean:
	rm -rf _build
