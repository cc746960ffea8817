# The README's two commands: `make demo` and `make test`. Both do all set-up first.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
HPCGAN := $(VENV)/bin/hpcgan
MPIRUN := mpirun --allow-run-as-root --oversubscribe
DEMO := demo_out
PYTEST_ARGS ?=

.PHONY: setup demo test clean-demo

setup:
	bash env/setup.sh
	bash env/install-horovod.sh   # Horovod 0.28.1 (built once, wheel cached in ~/.cache/hpcgan/wheels)

# The whole chain on the embedded default (a simulated SDSS/CFHT pair), sized for 2 CPU cores.
demo: setup
	@set -euo pipefail; \
	echo "[demo] 1/6 simulate a survey pair (2 MPI ranks)"; \
	$(MPIRUN) -np 2 $(HPCGAN) simulate -c demo; \
	echo "[demo] 2/6 preprocess FITS stamps -> HDF5 shards (2 MPI ranks)"; \
	$(MPIRUN) -np 2 $(PY) -m preprocess -c demo; \
	echo "[demo] 3/6 train step 1: autoencoders + noise emulators + discriminators (from $(DEMO)/shards)"; \
	$(HPCGAN) train --step 1 -c demo; \
	echo "[demo] 4/6 train step 2: generators with the frozen noise emulators of step 1 (lr 10x the paper: a 100-iteration demo)"; \
	$(HPCGAN) train --step 2 -c demo train.lr=1e-3; \
	echo "[demo] 5/6 translate the paired-test SDSS stamps to CFHT (2 MPI ranks, 2 noise realisations, FITS too)"; \
	$(MPIRUN) -np 2 $(HPCGAN) translate -c demo --checkpoint $(DEMO)/train/ours-step2 --out $(DEMO)/translate --batch-size 16 --n-realisations 2 --fits; \
	echo "[demo] 6/6 evaluate the translation against the real CFHT counterparts"; \
	$(HPCGAN) evaluate -c demo --translations $(DEMO)/translate --out $(DEMO)/eval; \
	echo "[demo] done. Outputs under $(DEMO)/: sim/ (FITS stamps + catalog.csv), shards/ (HDF5 + manifest.json), train/ours-step{1,2}/ (checkpoints, metrics.jsonl, samples/), translate/ (shards + FITS + manifest.json), eval/ (metrics.json + PNGs)"; \
	echo "[demo] note: 100 iterations per step make a smoke run of the chain, not a trained model (the paper: 60k per step; docs/training.md)"

# pytest exits 5 when it collects no test: that fails here, like any other non-zero exit.
test: setup
	@set -euo pipefail; cd $(CURDIR); \
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests; rc=$$?; \
	exit $$rc

clean-demo:
	rm -rf $(DEMO)
