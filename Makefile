# Transfer-learning lab. `make` lists the targets; `make all` runs the study; `make test` tests it.
# Outputs are files: params/<notebook>/<experiment>.yaml -> $(OUTPUTS)/<notebook>/<experiment>.ipynb,
# remade only when the notebook, its parameter file or lib/ changed.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUTPUTS ?= outputs
# oneDNN kernels: measured 4.3x faster ResNet50 training on this project's AMD CPUs, where TF leaves
# them off by default; op determinism still holds (tests/test_train.py).
export TF_ENABLE_ONEDNN_OPTS ?= 1
# THREADS=N: TensorFlow threads per run (intra- and inter-op; empty: TensorFlow's default, one per
# core). `make bench` (concurrency) measures two runs at once, THREADS=1 each, against one alone:
# 0.99-1.00x on this project's 2-core machines, so it is off by default. Records keep the setting
# (hardware.threads): float sums may differ by thread count.
THREADS ?=
ifneq ($(THREADS),)
ifneq ($(shell echo '$(THREADS)' | grep -Ex '[1-9][0-9]*'),$(THREADS))
$(error THREADS must be a positive whole number of threads per run; received '$(THREADS)')
endif
export TF_NUM_INTRAOP_THREADS := $(THREADS)
export TF_NUM_INTEROP_THREADS := $(THREADS)
endif
RUN := $(PY) -m lib.runner

LIB := $(wildcard lib/*.py lib/studies/*.py lib/datasets/*.py)
EXPERIMENTS := $(wildcard params/*/*.yaml)
REPORTS := $(patsubst params/%.yaml,$(OUTPUTS)/%.ipynb,$(EXPERIMENTS))
SMOKE := $(patsubst params/%.yaml,$(OUTPUTS)/smoke/%.ipynb,$(EXPERIMENTS))
has_profile = $(wildcard $(dir $(1))profiles/$(2).yaml)
PAPER := $(foreach e,$(EXPERIMENTS),$(if $(call has_profile,$(e),paper),$(patsubst params/%.yaml,$(OUTPUTS)/paper/%.ipynb,$(e))))
EXECUTED = $(filter-out %.partial.ipynb %.failed.ipynb,$(shell find $(OUTPUTS) -name '*.ipynb' -not -path '*/html/*' 2>/dev/null))

# notebooks/<name>.ipynb for an experiment stem <name>/<experiment>
nb_of = notebooks/$(patsubst %/,%,$(dir $(1))).ipynb

# The summary (notebooks/summary.ipynb) reads every run record of its outputs root: it runs after
# the studies, even when some failed (it lists them), and again whenever a record changed.
# Studies of the literature (no seed claim) stay out of `make all` so that it fits its 90 minutes on
# 2 cores: `make extended` runs them (lib/registry.py marks the same ones `extended`: tests/test_registry.py).
EXTENDED_NOTEBOOKS := transferability
EXTENDED_EXPERIMENTS := small_data/methods signs/methods
EXTENDED := $(filter $(foreach n,$(EXTENDED_NOTEBOOKS),$(OUTPUTS)/$(n)/%) \
  $(foreach e,$(EXTENDED_EXPERIMENTS),$(OUTPUTS)/$(e).ipynb),$(REPORTS))
STUDIES := $(filter-out $(OUTPUTS)/summary/% $(EXTENDED),$(REPORTS))
SMOKE_STUDIES := $(filter-out $(OUTPUTS)/smoke/summary/%,$(SMOKE))
records_under = $(filter-out $(1)/summary/%,$(wildcard $(1)/*/*.json))

.PHONY: help all studies extended literature seed-000 seed-001 seed-002 seed-003 smoke smoke-studies paper test test-torch lint unit bench lab reports tensorboard dask clean distclean venv gpu-wheels

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv from requirements.txt (every other target does this when needed)

$(STAMP): requirements.txt
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON_BOOT) ($$($(PYTHON_BOOT) --version))"; $(PYTHON_BOOT) -m venv $(VENV); }
	@# an environment made before the move from tensorflow-cpu to tensorflow must not keep both
	@! $(PY) -m pip show -q tensorflow-cpu 2>/dev/null || $(PY) -m pip uninstall -y -q tensorflow-cpu
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -c "import pathlib, site; pathlib.Path(site.getsitepackages()[0], 'tllab.pth').write_text('$(CURDIR)\n')"
	touch $@

# make all prints each report as it starts and ends: n of N, time spent, time left (lib/plan.py:
# expected times from each experiment's last record, else the measured table)
# (the plan of progress lines is not written under make -n: a dry run writes no plan)
all: | $(STAMP) ## run every study at the default scale into outputs/<notebook>/<experiment>.ipynb (+ .json record), then the summary
	@$(if $(findstring n,$(firstword -$(MAKEFLAGS))),true,$(MAKE) --no-print-directory -n -k studies $(OUTPUTS)/summary/default.ipynb 2>/dev/null | $(PY) -m lib.plan $(OUTPUTS) >/dev/null)
	@status=0; export TLLAB_PLAN=$(OUTPUTS)/.plan.json; $(MAKE) --no-print-directory -k studies || status=$$?; \
	  $(MAKE) --no-print-directory $(OUTPUTS)/summary/default.ipynb && exit $$status

studies: $(STUDIES) ## every study at the default scale, without the summary

extended: | $(STAMP) ## the literature's reports left out of make all (transferability, small_data/methods), then the summary again
	@status=0; $(MAKE) --no-print-directory -k $(EXTENDED) || status=$$?; \
	  $(MAKE) --no-print-directory $(OUTPUTS)/summary/default.ipynb && exit $$status

# One seed document at a time: its reports (lib/registry.py says which: `python -m lib.registry reports SEED`),
# the source pre-training they need through make's prerequisites, then the summary.
seed_run = status=0; $(MAKE) --no-print-directory -k $$($(PY) -m lib.registry reports $(1) $(OUTPUTS)) || status=$$?; \
  $(MAKE) --no-print-directory $(OUTPUTS)/summary/default.ipynb && exit $$status
seed-000: | $(STAMP) ## seed 000 (license plates): its reports, then the summary
	+@$(call seed_run,000)
seed-001: | $(STAMP) ## seed 001 (traffic signs, classifier and detector): its reports, then the summary
	+@$(call seed_run,001)
seed-002: | $(STAMP) ## seed 002 (small data: the blog's architectures, the cut search): its reports, then the summary
	+@$(call seed_run,002)
seed-003: | $(STAMP) ## seed 003 (D1 -> D2): its reports, then the summary
	+@$(call seed_run,003)
literature: extended ## the literature's reports (the same as make extended)

smoke: | $(STAMP) ## run every notebook with its smoke profile into outputs/smoke/, the summary last
	@status=0; $(MAKE) --no-print-directory -k smoke-studies || status=$$?; \
	  $(MAKE) --no-print-directory $(OUTPUTS)/smoke/summary/default.ipynb && exit $$status

smoke-studies: $(SMOKE_STUDIES)

paper: $(PAPER) ## run every experiment that has a paper profile (GPU scale) into outputs/paper/

.SECONDEXPANSION:

$(OUTPUTS)/smoke/%.ipynb: params/%.yaml $$(call nb_of,$$*) params/$$(dir $$*)profiles/smoke.yaml $(LIB) | $(STAMP)
	$(RUN) $(call nb_of,$*) $@ $< params/$(dir $*)profiles/smoke.yaml

$(OUTPUTS)/paper/%.ipynb: params/%.yaml $$(call nb_of,$$*) params/$$(dir $$*)profiles/paper.yaml $(LIB) | $(STAMP)
	$(RUN) $(call nb_of,$*) $@ $< params/$(dir $*)profiles/paper.yaml

$(OUTPUTS)/%.ipynb: params/%.yaml $$(call nb_of,$$*) $(LIB) | $(STAMP)
	$(RUN) $(call nb_of,$*) $@ $<

# Prerequisites follow the parameters: a report waits for exactly the source pre-training whose
# weights its parameters name (lib/prereqs.py reads every params/<notebook>/<experiment>.yaml with
# its profiles, validated, without TensorFlow, and writes the rules to $(PREREQS)). An experiment whose
# parameters are invalid gets a rule that names every problem and fails before anything it would
# need is built. `make help`, `venv`, `unit`, `lab`, `bench` and `clean` do not need the rules.
PREREQS := $(OUTPUTS)/.prereqs.mk
ifneq ($(filter-out help venv unit lab bench clean distclean,$(or $(MAKECMDGOALS),help)),)
-include $(PREREQS)
endif
$(PREREQS): $(EXPERIMENTS) $(wildcard params/*/profiles/*.yaml) $(wildcard notebooks/*.ipynb) $(LIB) | $(STAMP)
	@mkdir -p $(@D)
	@$(PY) -m lib.prereqs $(OUTPUTS) > $@.tmp && mv $@.tmp $@
$(OUTPUTS)/summary/default.ipynb: $(call records_under,$(OUTPUTS))
$(OUTPUTS)/smoke/summary/default.ipynb: $(call records_under,$(OUTPUTS)/smoke)

# the engine's tests again under the JAX backend (the whole unit suite passes there too: KERAS_BACKEND=jax make unit)
JAX_TESTS := tests/test_arms.py tests/test_models.py tests/test_train.py tests/test_transfer_policies.py tests/test_detector.py tests/test_lr_find.py
test: $(STAMP) ## lint, run the unit tests, then every notebook once with its smoke profile; the engine's tests under JAX
	$(PY) -m ruff check lib tests notebooks
	$(PY) -m pytest -q tests
	KERAS_BACKEND=jax $(PY) -m pytest -q -m "not notebook" -p no:cacheprovider $(JAX_TESTS)

# The engine's tests under the PyTorch backend: torch is not in the pinned list (a CPU build is ~200 MB,
# PyPI's default Linux build several GB), so it goes into .venv-torch, which sees .venv's packages
# through a .pth file. TORCH_PIP is what pip installs (a wheel file, or e.g. `torch==2.13.0
# --index-url https://download.pytorch.org/whl/cpu` where that index is reachable).
TORCH_VENV := .venv-torch
TORCH_PIP ?= torch==2.13.0
test-torch: $(STAMP) ## the engine's tests again under KERAS_BACKEND=torch (installs $(TORCH_PIP) into .venv-torch)
	@test -x $(TORCH_VENV)/bin/python || $(PYTHON_BOOT) -m venv $(TORCH_VENV)
	@$(TORCH_VENV)/bin/python -c "import torch" 2>/dev/null || $(TORCH_VENV)/bin/pip install -q $(TORCH_PIP)
	@$(TORCH_VENV)/bin/python -c "import site, sys; open(site.getsitepackages()[0] + '/zz_tllab.pth', 'w').write(sys.argv[1] + '\n' + sys.argv[2] + '\n')" \
	  "$$($(PY) -c 'import site; print(site.getsitepackages()[0])')" "$(CURDIR)"
	KERAS_BACKEND=torch $(TORCH_VENV)/bin/python -m pytest -q -m "not notebook" -p no:cacheprovider $(JAX_TESTS)

# the GPU machine's Python (3.12) wheels of Keras, its pure-Python dependencies and PyYAML, for
# tools/gpu_slice.sh (it has JAX, NumPy, h5py, ml-dtypes, scikit-learn, pandas, matplotlib, no registry)
GPU_WHEELS := keras==3.15.1 namex==0.1.0 optree==0.20.0 rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 absl-py==2.5.1 PyYAML==6.0.4 packaging==26.4
gpu-wheels: | $(STAMP) ## download the wheels tools/gpu_slice.sh installs on the GPU machine (Python 3.12) into .gpu_wheels/
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
	  --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d .gpu_wheels $(GPU_WHEELS)

lint: $(STAMP) ## ruff: pyflakes and pycodestyle errors in lib/, tests/ and the notebooks (ruff.toml)
	$(PY) -m ruff check lib tests notebooks

unit: $(STAMP) ## run only the fast unit tests (no notebook runs)
	$(PY) -m pytest -q -m "not notebook" tests

DASK_ARGS ?=
dask: | $(STAMP) ## the same plan as make, as Dask futures (LocalCluster; DASK_ARGS="--scheduler tcp://HOST:8786 --workers N --profile smoke")
	$(PY) -m lib.dask_run --outputs $(OUTPUTS) $(DASK_ARGS)

TB_PORT ?= 6006
tensorboard: | $(STAMP) ## serve every published run's per-epoch curves (outputs/tensorboard/) at http://localhost:$(TB_PORT)
	$(PY) -m tensorboard.main --logdir $(OUTPUTS)/tensorboard --port $(TB_PORT) --host localhost

bench: $(STAMP) ## print measured speed ratios (cached features, input pipeline) -> outputs/bench/bench.json
	$(PY) -m lib.bench --out $(OUTPUTS)/bench/bench.json

lab: $(STAMP) ## open JupyterLab at the repository root (lib/ is importable)
	$(VENV)/bin/jupyter lab --notebook-dir=.

reports: $(STAMP) ## HTML of every executed notebook under outputs/html/, with an index page
	@for nb in $(EXECUTED); do \
	  rel=$${nb#$(OUTPUTS)/}; out=$(OUTPUTS)/html/$${rel%.ipynb}.html; \
	  if [ ! -f "$$out" ] || [ "$$nb" -nt "$$out" ]; then \
	    mkdir -p "$$(dirname "$$out")"; \
	    $(VENV)/bin/jupyter nbconvert --log-level WARN --to html --output-dir "$$(dirname "$$out")" "$$nb"; fi; \
	done
	$(PY) -c "from lib.report import write_html_index; print(write_html_index('$(OUTPUTS)'))"

clean: ## delete everything under outputs/ (keeps .venv)
	find $(OUTPUTS) -mindepth 1 -not -name README.md -delete

distclean: clean ## also delete .venv
	rm -rf $(VENV)
