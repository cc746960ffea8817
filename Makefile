# The README's two commands: `make demo` and `make test`. Both do all set-up first.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
HPCGAN := $(VENV)/bin/hpcgan
MPIRUN := mpirun --allow-run-as-root --oversubscribe
DEMO := demo_out
# the demo's variant (train.variant in configs/demo.yaml): run dirs are <variant>-step1/-step2
DEMO_RUN ?= ours
PYTEST_ARGS ?=

.PHONY: setup demo test results clean-demo

# docs/results.md's tables: the main sample with the options below, then a second sample (another seed,
# fainter galaxies) with the demo's recipe; each also scored on an independent paired-test sample of 1000
# objects (seed + 1, --test-n; the residual options), 4 noise draws per object pooled. ~2.5 h on 2 cores;
# resumable (run it again after a kill); tables in science_out/results.md and science_777/results.md,
# learning curves in */curves/.
RESULTS_OPTIONS ?= ours+residual+strong,ours+residual+strong+kernel,ours,no_noise,paired_only,unpaired_only

setup:
	bash env/setup.sh
	bash env/install-horovod.sh   # Horovod 0.28.1 (built once, wheel cached in ~/.cache/hpcgan/wheels)

# The whole chain on the embedded default (a simulated SDSS/CFHT pair), sized for 2 CPU cores.
demo: setup
	@set -euo pipefail; \
	echo "[demo] 1/7 simulate a survey pair (2 MPI ranks; paired stamps get noise-free twins: the ground truth)"; \
	$(MPIRUN) -np 2 $(HPCGAN) simulate -c demo; \
	echo "[demo] 2/7 preprocess FITS stamps -> HDF5 shards (2 MPI ranks)"; \
	$(MPIRUN) -np 2 $(PY) -m preprocess -c demo; \
	echo "[demo] 3/7 train step 1: autoencoders + noise emulators + discriminators (from $(DEMO)/shards)"; \
	$(HPCGAN) train --step 1 -c demo; \
	echo "[demo] 4/7 train step 2: generators with the frozen noise emulators of step 1"; \
	$(HPCGAN) train --step 2 -c demo; \
	echo "[demo] 5/7 translate the paired-test SDSS stamps to CFHT with the trained model (2 MPI ranks, 2 noise realisations, FITS too)"; \
	$(MPIRUN) -np 2 $(HPCGAN) translate -c demo --checkpoint $(DEMO)/train/$(DEMO_RUN)-step2 --out $(DEMO)/translate --batch-size 16 --n-realisations 2 --fits; \
	echo "[demo] 6/7 the strong baseline through the same stage (starlet denoising + real-PSF Wiener matching + resample + zero points + the CFHT noise measured on its own stamps)"; \
	$(MPIRUN) -np 2 $(HPCGAN) translate -c demo --method resample --out $(DEMO)/baseline --batch-size 16 --add-noise; \
	echo "[demo] 7/7 evaluate against the noise-free truth, side by side with the baseline and the real noisy stamps"; \
	$(HPCGAN) evaluate -c demo --translations $(DEMO)/translate --baseline $(DEMO)/baseline --out $(DEMO)/eval; \
	echo "[demo] done. Outputs under $(DEMO)/: sim/ (FITS stamps, noise-free twins, catalog.csv), shards/ (HDF5 + manifest.json), train/ (checkpoints, metrics.jsonl, samples/), translate/ and baseline/ (shards + manifest.json), eval/ (metrics.json, the table above, PNGs)"

# ruff first (ruff.toml: pyflakes, import order; `ruff check --fix .` sorts imports), then pytest.
# pytest exits 5 when it collects no test: that fails here, like any other non-zero exit.
test: setup
	@set -euo pipefail; cd $(CURDIR); \
	$(PY) -m ruff check .; \
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests; rc=$$?; \
	exit $$rc

results: setup
	$(PY) benchmarks/science.py --out science_out --options $(RESULTS_OPTIONS) --test-n 1000 --test-realisations 4 \
	    --test-options ours+residual+strong,ours+residual+strong+kernel
	$(PY) benchmarks/science.py --out science_777 --seed 777 --mag-max 20 --options ours+residual+strong --test-n 1000 \
	    --test-realisations 4

clean-demo:
	rm -rf $(DEMO)
