# cnncourse: the few commands people run. `make help` lists them.
#
# With no virtual or conda environment active, everything is installed into .venv
# (created on first use, reused after). Versions come from .ci/constraints.txt,
# the same pins CI tests.

SHELL := /bin/bash
PYTHON ?= python3
ACTIVE_ENV := $(strip $(or $(VIRTUAL_ENV),$(CONDA_PREFIX)))
ifeq ($(ACTIVE_ENV),)
  ENV_DIR := .venv
  PY := .venv/bin/python
else
  ENV_DIR := $(ACTIVE_ENV)
  PY := python
endif
CONSTRAINTS := .ci/constraints.txt
STAMP := $(ENV_DIR)/.cnncourse-installed
JB := $(PY) -c 'import sys; from jupyter_book.cli.main import main; sys.argv[0] = "jupyter-book"; sys.exit(main())'
QUICK_BOOK := _build/quick
PYTEST_FLAGS ?=

.PHONY: help setup data book book-quick test unit notebooks browser gpu-check sync lint format student lab bench lock clean

help:
	@echo "make book        set up, execute every chapter at full size, render _build/html"
	@echo "make test        set up, unit tests + every chapter under nbval (quick mode) + browser check"
	@echo "make unit        unit tests of the package only (fast)"
	@echo "make gpu-check   on a CUDA GPU: unit tests, then every chapter at full size under nbval, timed"
	@echo "make lab         set up, open the chapters in JupyterLab (the local Colab)"
	@echo "make student     student edition (no solutions) in _build/student, its book (quick)"
	@echo "make bench       performance benchmark, CSVs and tables in benchmarks/results/"
	@echo "make sync        re-pair book/*.md with book/*.ipynb (jupytext)"
	@echo "make lint        ruff check + format check"

setup: $(STAMP) data

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@echo "==> Python environment: $(ENV_DIR)"
	@if [ -z "$(ACTIVE_ENV)" ] && [ ! -x .venv/bin/python ]; then \
	  echo "==> creating .venv with $(PYTHON)"; $(PYTHON) -m venv .venv; fi
	@echo "==> installing cnncourse[keras,book,dev,lab] with the pinned versions (a few minutes the first time)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[keras,book,dev,lab]"
	@touch $@

data:
	@$(PY) -m cnncourse data where fashion_mnist >/dev/null 2>&1 || { \
	  echo "==> Fashion-MNIST not found: trying the Debian package"; bash .ci/system-deps.sh --data-only; }

# Execution results are cached per lock file: a dependency change re-executes the chapters.
define check_cache
	@mkdir -p $(1)
	@if ! cmp -s $(CONSTRAINTS) $(1)/.constraints 2>/dev/null; then \
	  rm -rf $(1)/.jupyter_cache; cp $(CONSTRAINTS) $(1)/.constraints; fi
endef

# A chapter that fails to execute stops the build with a non-zero status (raise_on_error in
# _config.yml); the log is kept in _build/book.log and the failing chapter named at the end.
book: setup
	@echo "==> building the book (full size: every chapter executes; 40 to 65 min on 2 CPU cores)"
	$(call check_cache,_build)
	@set -o pipefail; CNNCOURSE_QUICK=0 $(JB) build . $(JB_FLAGS) 2>&1 | tee _build/book.log || { \
	  echo "==> make book FAILED; the chapter that failed (its failing cell is shown above,"; \
	  echo "    after 'Here is a preview of the cell contents' or in the traceback):"; \
	  sed 's/\x1b\[[0-9;]*m//g' _build/book.log | grep -a -E 'Executing notebook failed|ExecutionError:' \
	    | sort -u | sed 's/^/    /'; \
	  exit 1; }
	@echo "==> open $(CURDIR)/_build/html/index.html"

book-quick: setup
	@echo "==> building the book in quick mode into $(QUICK_BOOK)"
	$(call check_cache,$(QUICK_BOOK)/_build)
	CNNCOURSE_QUICK=1 $(JB) build . --path-output $(QUICK_BOOK) -W --keep-going $(JB_FLAGS)
	@echo "==> open $(CURDIR)/$(QUICK_BOOK)/_build/html/index.html"

test: setup book-quick
	@echo "==> unit tests, every chapter under nbval (quick mode), the rendered book in Chromium"
	CNNCOURSE_QUICK=1 CNNCOURSE_BOOK_HTML=$(QUICK_BOOK)/_build/html $(PY) -m pytest \
	  --cov=cnncourse --cov-report=term:skip-covered \
	  tests book --nbval-lax --nbval-current-env --nbval-cell-timeout=600 $(PYTEST_FLAGS)

unit: setup
	$(PY) -m pytest tests -m "not browser" $(PYTEST_FLAGS)

notebooks: setup
	CNNCOURSE_QUICK=1 $(PY) -m pytest book --nbval-lax --nbval-current-env --nbval-cell-timeout=600

# Unit tests on CUDA, then every chapter at full size under nbval, one at a time; per-chapter
# seconds and pass/fail go to benchmarks/results/gpu_chapters.{csv,md}. Refuses without CUDA.
gpu-check: setup
	$(PY) .ci/gpu_check.py $(GPU_CHECK_FLAGS)

browser: setup book-quick
	CNNCOURSE_BOOK_HTML=$(QUICK_BOOK)/_build/html $(PY) -m pytest tests -m browser

sync:
	$(PY) -m jupytext --sync book/*.md

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check cnncourse tests benchmarks

format:
	$(PY) -m ruff format cnncourse tests benchmarks
	$(PY) -m ruff check --fix .

# PUBLISH: where the student notebooks go (a GitHub owner/name or a URL) for the book's
# Colab and repository buttons; STUDENT_FLAGS: e.g. --chapters pooling,dropout --full.
PUBLISH ?=
STUDENT_FLAGS ?=
student: setup
	$(PY) -m cnncourse student-edition _build/student $(if $(PUBLISH),--publish-url $(PUBLISH)) $(STUDENT_FLAGS)
	$(JB) build _build/student -W --keep-going
	@echo "==> student notebooks in _build/student, its book in _build/student/_build/html"

# JupyterLab on the chapters: the .md files open as notebooks (jupytext), or open the .ipynb.
LAB_FLAGS ?=
lab: setup
	@echo "==> JupyterLab on book/ (stop it with Ctrl-C)"
	$(PY) -m jupyterlab --notebook-dir=book $(LAB_FLAGS)

bench: setup
	$(PY) benchmarks/run_benchmark.py

lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^cnncourse' > $(CONSTRAINTS).new
	@{ head -2 $(CONSTRAINTS); cat $(CONSTRAINTS).new; } > $(CONSTRAINTS).tmp && rm $(CONSTRAINTS).new
	@mv $(CONSTRAINTS).tmp $(CONSTRAINTS) && echo "==> wrote $(CONSTRAINTS)"

clean:
	rm -rf _build .pytest_cache .ruff_cache .coverage
