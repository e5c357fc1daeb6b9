# wbrad: make demo (install, synthesise a cohort, run the whole pipeline) and make test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PATIENTS ?= 40
CORES ?= all
SNAKEMAKE := $(BIN)/snakemake --profile profiles/local --cores $(CORES)

.PHONY: install demo test test-fast lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
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

test: install
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not workflow and not slow"

lint: install
	$(BIN)/wbrad synth --out build/lint/cohort --patients 3 --size tiny
	$(BIN)/snakemake --lint --config manifest=build/lint/cohort/manifest.tsv registry=build/lint/cohort/registry.csv

bench: install
	$(BIN)/python benchmarks/job_resources.py logs/benchmark

clean:
	rm -rf results logs demo .snakemake
