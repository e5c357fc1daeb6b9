# wbrad: make demo (install, synthesise a cohort, run the whole pipeline) and make test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PATIENTS ?= 40
CORES ?= all
SNAKEMAKE := $(BIN)/snakemake --profile profiles/local --cores $(CORES)

# Every resolved version is pinned in requirements/ (make lock regenerates it, on Python 3.11 on linux); the installs
# below take their versions from there. make test-latest installs the newest releases instead, in its own venv.
LOCK := requirements/lock.txt
TOTALSEG_LOCK := requirements/totalseg-lock.txt
PIP_VERSION ?= 26.3
PIP_TOOLS ?= pip-tools==7.6.2
# make lock LOCK_UPGRADE= keeps the pins that still fit and resolves only what changed
LOCK_UPGRADE ?= --upgrade
PIP_COMPILE = CUSTOM_COMPILE_COMMAND='make lock' $(BIN)/pip-compile --quiet $(LOCK_UPGRADE) --strip-extras \
	--no-emit-index-url --no-emit-find-links
LATEST_VENV ?= .venv-latest

# compileall's -x: files no run imports, left uncompiled (Python compiles one if it is imported after all)
NOT_IMPORTED := '/tests?/|/site-packages/(pip|setuptools)/'

TOTALSEG_VENV ?= .venv-totalseg
# TotalSegmentator in its own venv (torch is large). Pinned torch: the CPU wheel where one is on pip's find-links,
# e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu elsewhere (nothing may pull PyPI's CUDA torch instead).
TORCH ?= 2.13.0
TOTALSEGMENTATOR ?= 2.18.0
TORCH_INDEX ?=

.PHONY: install totalseg lock demo test test-fast test-latest real-cases lint doc bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==$(PIP_VERSION)
	$(BIN)/pip install --quiet --no-compile -c $(LOCK) -e '.[test,slurm,lint]'
	# the bytecode pip would write, on every core instead of one (like pip, past files that do not compile), less
	# the packages' own tests and the installers, which no job imports (a third of the files)
	$(BIN)/python -m compileall -qq -j 0 -x $(NOT_IMPORTED) $(VENV)/lib || true
	touch $@

totalseg: $(TOTALSEG_VENV)/.installed

$(TOTALSEG_VENV)/.installed: $(TOTALSEG_LOCK)
	$(PYTHON) -m venv $(TOTALSEG_VENV)
	$(TOTALSEG_VENV)/bin/pip install --quiet --upgrade pip==$(PIP_VERSION)
	$(TOTALSEG_VENV)/bin/pip install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -c $(TOTALSEG_LOCK) \
		--no-compile torch==$(TORCH) totalsegmentator==$(TOTALSEGMENTATOR)
	$(TOTALSEG_VENV)/bin/python -m compileall -qq -j 0 -x $(NOT_IMPORTED) $(TOTALSEG_VENV)/lib || true
	touch $@

# Re-resolve both locks to the newest releases that pyproject.toml (and TORCH, TOTALSEGMENTATOR) allow. The lock
# holds torch's public version (2.13.0, not 2.13.0+cpu): it then matches the CPU wheel as well as any other build.
lock:
	test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "make lock: resolve on Python 3.11")'
	$(BIN)/pip install --quiet $(PIP_TOOLS)
	$(PIP_COMPILE) --extra test,slurm,lint --output-file $(LOCK) pyproject.toml
	mkdir -p build/lock
	printf 'torch==%s\ntotalsegmentator==%s\n' $(TORCH) $(TOTALSEGMENTATOR) >build/lock/totalseg.in
	$(PIP_COMPILE) $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) --output-file $(TOTALSEG_LOCK) \
		build/lock/totalseg.in
	sed -i -E 's/^([A-Za-z0-9._-]+==[^+ ]+)\+[A-Za-z0-9.]+/\1/' $(TOTALSEG_LOCK)

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

# The fast tests against the newest releases of every dependency, without the lock, in $(LATEST_VENV): it catches
# upstream changes (a new numpy, pyradiomics, scikit-survival...) before a make lock brings them in. It lists the
# versions that differ from the lock first.
test-latest:
	test -x $(LATEST_VENV)/bin/pip || $(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/pip install --quiet --upgrade --upgrade-strategy eager -e '.[test,slurm]'
	@echo "Installed versions that differ from $(LOCK):"
	@$(LATEST_VENV)/bin/pip freeze --exclude-editable | sed -E ':a;s/^([^=]*)[._]/\1-/;ta' | grep -ivxFf $(LOCK) || true
	$(LATEST_VENV)/bin/pytest -q -m "not workflow and not slow"

# Every check runs, then the target fails if any found something.
lint: install
	status=0; \
	$(BIN)/ruff check src scripts tests benchmarks || status=1; \
	$(BIN)/snakefmt --check Snakefile rules || status=1; \
	$(BIN)/wbrad synth --out build/lint/cohort --patients 3 --size tiny && \
	$(BIN)/snakemake --lint --config manifest=build/lint/cohort/manifest.tsv registry=build/lint/cohort/registry.csv \
		|| status=1; \
	exit $$status

# Real public cases (../shared/data) through every rule, checked against their own references (docs/real-cases.md);
# the study and its results stay in build/real-cases
real-cases: install
	$(BIN)/pytest -q tests/workflow/test_real_cases.py --basetemp build/real-cases

# The column tables of docs/data-contracts.md, from the declarations (tests/test_data_contracts.py fails while they differ)
doc: install
	$(BIN)/python -m wbrad.cohort.dictionary --write-doc docs/data-contracts.md

bench: install
	$(BIN)/python benchmarks/job_resources.py logs/benchmark
	-$(BIN)/python benchmarks/dryrun_572.py build/bench572  # exits 1 while a target is missed; the others still run
	$(BIN)/python benchmarks/lesions_vs_pyradiomics.py  # pyradiomics batch vs our lesion stage (minutes)
	$(BIN)/python benchmarks/model_stage.py --transform standard --folds 3  # 572 patients x 1,000 features (5-10 min)
	$(BIN)/python benchmarks/model_stage.py --patients 80 --features 50 --folds 2 --models coxnet --threads 1 --yeo-johnson both
	$(BIN)/python benchmarks/tracking.py  # registration + matching of one demo-size follow-up
	$(BIN)/python benchmarks/registration_truth.py build/bench_registration --size tiny --patients 8 --seed 3
	-$(BIN)/python benchmarks/totalseg_batch.py --scans 4  # needs make totalseg; the start-up is shared by the batch
	-$(BIN)/python benchmarks/totalseg_batch.py --scans 8  # so its per-scan overhead falls with N
	$(BIN)/python benchmarks/scheduler.py  # Snakemake's own scheduling cost: ilp against greedy, job rate limits

clean:
	rm -rf results logs demo .snakemake
