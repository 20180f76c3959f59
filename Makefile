# Two commands do all the set-up on a fresh machine:
#   make book   build the book into _build/html (full runs, trained first by precompute: WORKERS=N, SCHEDULER=ADDRESS; see README)
#   make test   unit tests, notebooks under nbval and the browser test (quick profile)
# Both create or reuse the virtual environment $(VENV) and install requirements.txt + bnreview.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SHELL := /bin/bash

export BNREVIEW_DATA ?= $(CURDIR)/data
PRECOMPUTE_FLAGS := $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))
export BNREVIEW_CACHE ?= $(CURDIR)/.bnreview-cache
# Progress bars are for people at a terminal or a live notebook, not for the built pages.
book quick-book nbval notebooks: export BNREVIEW_PROGRESS = 0
# The book is built from the official data sets only: a user's opt-out (bnreview.data) does not reach it.
book quick-book nbval notebooks: export BNREVIEW_UNOFFICIAL_DATA = 0

.PHONY: book quick-book test unit nbval browser notebooks venv clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	touch $@

venv: $(STAMP)

# jupyter-cache keys notebooks on their code cells only: drop it when bnreview's code,
# the data or the profile change, so the book never shows outputs of older code. Sphinx's
# saved environment (.doctrees) goes too: otherwise Sphinx re-reads (and so re-executes)
# only the notebooks whose files changed. The key is recorded at once: whatever the cache
# holds from then on was computed by this code, even if the build stops half-way.
# First `python -m bnreview precompute` trains every missing run of the registry on a Dask cluster
# (WORKERS=N local worker processes, or SCHEDULER=tcp://host:8786), so the notebooks read their runs.
# Every run is logged to _build/runs.jsonl; book/timings.py then prints each chapter's execution
# time with the runs it trained and read, and writes _build/timings.json; a run a chapter asked for
# that the registry does not list fails the build (`python -m bnreview runs --check-log`).
# BOOK_CACHE_VERSION: bump it to drop every cache made by older build settings.
# The kernel must not inherit MPLBACKEND=Agg, or matplotlib figures silently vanish.
BOOK_CACHE_VERSION := 2
define build_book
	@key="$$($(PY) -c 'from bnreview.cache import notebook_key; print(notebook_key())')-v$(BOOK_CACHE_VERSION)" && \
	build=$(1)/_build && cache=$$build/.jupyter_cache && \
	if [ "$$(cat $$cache/bnreview-key 2>/dev/null)" != "$$key" ]; then \
	  echo "bnreview code, data or profile changed: dropping $$cache and $$build/.doctrees"; \
	  rm -rf $$cache $$build/.doctrees && mkdir -p $$cache && echo "$$key" > $$cache/bnreview-key; fi
	@mkdir -p $(1)/_build && rm -f $(1)/_build/runs.jsonl; started=$$(date +%s); \
	export BNREVIEW_RUN_LOG=$(abspath $(1))/_build/runs.jsonl; \
	BNREVIEW_PROGRESS=$$([ -t 2 ] && echo 1 || echo 0) $(PY) -m bnreview precompute $(PRECOMPUTE_FLAGS) && \
	  env -u MPLBACKEND $(VENV)/bin/jupyter-book build . --path-output $(1) -W -n --keep-going; \
	status=$$?; $(PY) book/timings.py $(1)/_build $$started; \
	if [ $$status -eq 0 ]; then $(PY) -m bnreview runs --check-log $(1)/_build/runs.jsonl || status=1; fi; \
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

# Execute every chapter in place with the full runs, so the committed notebooks carry their outputs.
notebooks: $(STAMP)
	BNREVIEW_PROGRESS=$$([ -t 2 ] && echo 1 || echo 0) $(PY) -m bnreview precompute $(PRECOMPUTE_FLAGS)
	env -u MPLBACKEND $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=-1 --ExecutePreprocessor.store_widget_state=False chapters/*.ipynb

clean:
	rm -rf _build
