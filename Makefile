# wbrad: make demo (install, synthesise a cohort, run the whole pipeline) and make test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PATIENTS ?= 40
CORES ?= all
SNAKEMAKE := $(BIN)/snakemake --profile profiles/local --cores $(CORES)

TOTALSEG_VENV ?= .venv-totalseg
# TotalSegmentator in its own venv (torch is large). Pinned torch: the CPU wheel where one is on pip's find-links,
# e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu elsewhere (nothing may pull PyPI's CUDA torch instead).
TORCH ?= 2.13.0
TOTALSEGMENTATOR ?= 2.18.0
TORCH_INDEX ?=

.PHONY: install totalseg demo test test-fast lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,slurm]'
	touch $@

totalseg: $(TOTALSEG_VENV)/.installed

$(TOTALSEG_VENV)/.installed:
	$(PYTHON) -m venv $(TOTALSEG_VENV)
	$(TOTALSEG_VENV)/bin/pip install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) \
		torch==$(TORCH) totalsegmentator==$(TOTALSEGMENTATOR)
	touch $@

demo/cohort/manifest.tsv: | install
	$(BIN)/wbrad synth --out demo/cohort --patients $(PATIENTS) --seed 0

demo: install demo/cohort/manifest.tsv
	$(SNAKEMAKE)
	$(SNAKEMAKE) --report demo/report.html
	@echo
	@echo "Done. Results:"
	@echo "  cohort table     results/cohort/cohort.tsv (data dictionary: results/cohort/dictionary.tsv)"
	@echo "  models           results/models/<endpoint>/metrics.tsv, km.png"
	@echo "  per scan         results/<patient>/<timepoint>/ (ct.nii.gz, bodycomp.tsv, lesions_ct.tsv, qc/)"
	@echo "  report           demo/report.html"
	@echo "  truth            demo/cohort/truth.json"

test: install totalseg
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not workflow and not slow"

lint: install
	$(BIN)/wbrad synth --out build/lint/cohort --patients 3 --size tiny
	$(BIN)/snakemake --lint --config manifest=build/lint/cohort/manifest.tsv registry=build/lint/cohort/registry.csv

bench: install
	$(BIN)/python benchmarks/job_resources.py logs/benchmark
	-$(BIN)/python benchmarks/dryrun_572.py build/bench572  # exits 1 while a target is missed; the others still run
	$(BIN)/python benchmarks/lesions_vs_pyradiomics.py  # pyradiomics batch vs our lesion stage (minutes)
	$(BIN)/python benchmarks/model_stage.py --transform standard --folds 3  # 572 patients x 1,000 features (5-10 min)

clean:
	rm -rf results logs demo .snakemake
