# trialsynth: `make run` runs the bundled review, `make test` runs the tests.
# Both create their own virtual environment (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint docs fixtures bench bench-screening wheel-check clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/trialsynth run

test: lint
	$(BIN)/python -m pytest

# ruff, the layers contract (imports point down only; docs/architecture.md), and mypy on src/
# (configured in pyproject.toml's [tool.mypy]).
lint: $(BIN)/.installed
	$(BIN)/ruff check src tests
	$(BIN)/lint-imports
	$(BIN)/mypy

# The documentation site (docs/conf.py) into docs/_build/html, warnings as errors; executes the
# tutorial notebooks (docs/tutorials). Installs the docs extra first.
docs: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	rm -rf docs/_build docs/api/generated
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

# Fits per second against statsmodels, PyMARE and metafor (when Rscript is installed);
# the last line printed is JSON. Installs the bench extra first.
bench: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/network_bench.py
	$(BIN)/python benchmarks/multilevel_bench.py

# Prioritised screening against ASReview's default model (elas_u4) on ../shared/screening/:
# the same prior records and seeds (5) for both; prints WSS@95, RRF@10, records to the last
# include and seconds per run. Installs the bench extra (asreview) first.
bench-screening: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	nice $(BIN)/python benchmarks/screening_vs_asreview.py --seeds 5

# The wheel, installed in a fresh virtual environment outside the checkout, runs the bundled review
# and the Python API from /tmp (.ci/wheel_check.sh; a minute or two).
wheel-check: $(BIN)/.installed
	PYTHON=$(BIN)/python .ci/wheel_check.sh

# Regenerate the pinned metafor fixtures (needs Rscript with metafor and metadat).
fixtures:
	Rscript validation/metafor_fixtures.R tests/fixtures/metafor
	Rscript validation/review_fixtures.R tests/fixtures/reviews_metafor.json
	Rscript validation/bayes_tsa_fixtures.R tests/fixtures/bayes_tsa/rpact.json
	Rscript validation/metafor_fixtures_analyses.R tests/fixtures/metafor_analyses
	Rscript validation/metafor_fixtures_figures.R tests/fixtures/metafor_figures
	Rscript validation/multimodal_fixtures.R tests/fixtures/multimodal
	Rscript validation/acceptance_fixtures.R tests/fixtures/acceptance
	Rscript validation/glmm_fixtures.R tests/fixtures/glmm
	Rscript validation/network_fixtures.R tests/fixtures/network
	Rscript validation/multilevel_fixtures.R tests/fixtures/multilevel
	Rscript validation/derive_fixtures.R tests/fixtures/derive

clean:
	rm -rf $(VENV) out docs/_build docs/api/generated docs/jupyter_execute
