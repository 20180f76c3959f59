# Two commands do all the set-up on a fresh machine:
#   make book   build the book into _build/html (full runs, trained first by precompute: WORKERS=N, SCHEDULER=ADDRESS; see README)
#   make test   unit tests, notebooks under nbval and the browser test (quick profile)
#   make verify after make book: its verdicts and numbers against the committed results.json
# Both create or reuse the virtual environment $(VENV) and install requirements.lock + bnreview.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SHELL := /bin/bash

export BNREVIEW_DATA ?= $(CURDIR)/data
PRECOMPUTE_FLAGS := $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))
export BNREVIEW_CACHE ?= $(CURDIR)/.bnreview-cache
# Progress bars are for people at a terminal or a live notebook, not for the built pages.
book quick-book nbval notebooks: export BNREVIEW_PROGRESS = 0
# Pages of the built book (and the committed notebooks they come from) load plotly.js from _static/.
book quick-book notebooks: export BNREVIEW_BOOK = 1
# The conclusion records the ledger's verdicts and numbers (bnreview.verify.record): the committed
# chapters into results.json, a build into _build/results.json; `make verify` compares the two.
notebooks: export BNREVIEW_RESULTS = $(CURDIR)/results.json
book: export BNREVIEW_RESULTS = $(CURDIR)/_build/results.json
# The book is built from the official data sets only: a user's opt-out (bnreview.data) does not reach it.
book quick-book nbval notebooks: export BNREVIEW_UNOFFICIAL_DATA = 0

.PHONY: book quick-book test unit nbval browser notebooks lab venv verify lock clean

# requirements.lock pins every package (exact versions, sha256 hashes) that requirements.txt's ranges
# resolve to; pip refuses any file whose hash differs. bnreview itself is installed editable, which
# cannot be hashed: without its dependencies, and built by the locked setuptools (no build isolation).
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

# The book executes each notebook while rendering it (myst-nb's inline mode, for the {eval} roles);
# Sphinx re-reads, and so re-executes, only the notebooks whose files changed. When bnreview's code,
# the data or the profile change, its saved environment (.doctrees) is dropped so that every page is
# rendered again. The key is recorded at once: whatever the build keeps from then on was made by this code.
# First `python -m bnreview precompute` trains every missing run of the registry on a Dask cluster
# (WORKERS=N local worker processes, or SCHEDULER=tcp://host:8786), so the notebooks read their runs.
# Every run is logged to _build/runs.jsonl; book/timings.py then prints each chapter's execution
# time with the runs it trained and read, and writes _build/timings.json; a run a chapter asked for
# that the registry does not list fails the build (`python -m bnreview runs --check-log`). A build that
# stops after the conclusion recorded its verdicts (a paragraph written for a verdict these runs do not
# give, as on another CPU kind) says that `make verify` can still compare them. _build/results.json is
# set aside at the start: a build that stops before the conclusion leaves none, and a build that succeeds
# without executing the conclusion (its page kept, made by the same code) keeps the one it wrote.
# BOOK_CACHE_VERSION: bump it to drop every saved environment made by older build settings.
# The kernel must not inherit MPLBACKEND=Agg, or matplotlib figures silently vanish.
BOOK_CACHE_VERSION := 3
define build_book
	@key="$$($(PY) -c 'from bnreview.cache import notebook_key; print(notebook_key())')-v$(BOOK_CACHE_VERSION)" && \
	build=$(1)/_build && \
	if [ "$$(cat $$build/bnreview-key 2>/dev/null)" != "$$key" ]; then \
	  echo "bnreview code, data or profile changed: dropping $$build/.doctrees (every page is rendered again)"; \
	  rm -rf $$build/.doctrees $$build/.jupyter_cache && mkdir -p $$build && echo "$$key" > $$build/bnreview-key; fi
	@mkdir -p $(1)/_build && : > $(1)/_build/runs.jsonl && started=$$(date +%s); \
	if [ -f $(1)/_build/results.json ]; then mv -f $(1)/_build/results.json $(1)/_build/results.prev.json; fi; \
	export BNREVIEW_RUN_LOG=$(abspath $(1))/_build/runs.jsonl; \
	BNREVIEW_PROGRESS=$$([ -t 2 ] && echo 1 || echo 0) $(PY) -m bnreview precompute $(PRECOMPUTE_FLAGS) && \
	  env -u MPLBACKEND $(VENV)/bin/jupyter-book build . --path-output $(1) -W -n --keep-going; \
	status=$$?; $(PY) book/timings.py $(1)/_build $$started; \
	if [ $$status -eq 0 ] && [ ! -f $(1)/_build/results.json ] && [ -f $(1)/_build/results.prev.json ]; then \
	  mv -f $(1)/_build/results.prev.json $(1)/_build/results.json; fi; rm -f $(1)/_build/results.prev.json; \
	if [ $$status -eq 0 ]; then $(PY) -m bnreview runs --check-log $(1)/_build/runs.jsonl || status=1; \
	elif [ -f $(1)/_build/results.json ]; then \
	  echo "The conclusion recorded this build's verdicts before the build stopped: make verify compares them with the committed ones."; fi; \
	exit $$status
endef

book: $(STAMP)
	$(call build_book,.)

quick-book: export BNREVIEW_QUICK = 1
quick-book: $(STAMP)
	$(call build_book,_build/quick)

unit: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest tests -m "not browser"

nbval: export BNREVIEW_QUICK = 1
nbval: $(STAMP)
	$(PY) -m pytest --nbval-lax --nbval-current-env chapters/

browser: $(STAMP) quick-book
	$(PY) -m pytest tests -m browser

test: unit nbval browser

# Execute every chapter in place with the full runs, so the committed notebooks carry their outputs
# (and their markdown cells the values of their {eval} roles, for JupyterLab: book/execute.py).
notebooks: $(STAMP)
	BNREVIEW_PROGRESS=$$([ -t 2 ] && echo 1 || echo 0) $(PY) -m bnreview precompute $(PRECOMPUTE_FLAGS)
	env -u MPLBACKEND $(PY) book/execute.py chapters/*.ipynb

# JupyterLab on the chapters: jupyterlab-myst shows their prose, numbers and figures; the data and
# run cache are the absolute paths above, so a chapter reads the runs `make book` trained.
lab: $(STAMP)
	env -u MPLBACKEND $(VENV)/bin/jupyter lab --ServerApp.root_dir=chapters

# The rebuild's verdicts and numbers against the committed ones: exit 1 when one did not reproduce.
verify: $(STAMP)
	$(PY) -m bnreview verify --committed results.json --rebuilt _build/results.json

# Maintainers: re-resolve requirements.lock after editing requirements.txt (uv, pinned here; it keeps
# every pin the ranges still allow: delete requirements.lock first to move each to its newest release).
# CPython 3.11.5 is the oldest 3.11 every pinned release accepts; the platform is PyPI's torch wheels'.
UV_VERSION := 0.13.9
lock:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip compile --quiet requirements.txt --generate-hashes --python-version 3.11.5 \
	  --python-platform x86_64-manylinux_2_28 --output-file requirements.lock

clean:
	rm -rf _build
