# The two commands: `make demo` (whole pipeline on the built-in region) and `make test`.
# Each creates or reuses .venv in the repository and installs what is needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU build of torch is installed first when no torch is present (the registry's default
# torch is a multi-GB CUDA build); set TORCH_SPEC to choose another.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.xlandslide-installed
OUT ?= demo-output

.PHONY: install test test-all doctest docs demo bench bench-skill bench-veneto lint format clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

test-all: $(STAMP)
	$(PY) -m pytest -n 2 -q -m ""

# The examples in the package's docstrings (the modules whose examples run on a small
# synthetic region; see CONTRIBUTING.md).
doctest: $(STAMP)
	$(PY) -m pytest -p no:xdist -q --doctest-modules xlandslide

# The docs site (docs/): warnings are errors; -E reads every page again so that none is
# hidden by a cached build.  Output: docs/_build/html/index.html
docs: $(STAMP)
	$(PY) -m sphinx -b html -E -W --keep-going -q docs docs/_build/html

demo: $(STAMP)
	$(VENV)/bin/xlandslide demo --out $(OUT)

# Throughput table (the ASV cases), then memory and streaming figures (a fresh process per
# case, peak RSS; about 15 min on 2 cores), then the spatial-CV skill table (bench-skill).
# The Veneto-size run (20-30 min, 8 GB of disk) is its own target.
bench: $(STAMP)
	$(PY) benchmarks/bench_table.py
	$(PY) benchmarks/scale_table.py
	$(PY) benchmarks/skill_table.py --budget small

# Spatial-CV skill of every model and the scikit-learn peers on the same folds (synthetic
# 30 m and 10 m, Ecuador; three seeds per network: the 10 m case's LLR, CNN and LACNN alone
# take 26 min of CV on 2 cores); Markdown tables on stdout, CSV in skill-output/.
bench-skill: $(STAMP)
	$(PY) benchmarks/skill_table.py --budget small

bench-veneto: $(STAMP)
	$(PY) benchmarks/veneto.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(OUT) skill-output .pytest_cache asv_bench/results asv_bench/html
	rm -rf docs/_build docs/generated docs/_generated
