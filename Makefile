# `make repro` sets everything up and runs the pipeline; `make test` runs the tests.
# Everything installs inside this folder, in .venv/: the packages pinned in
# requirements.txt, installed by uv (from PyPI, like pip, several times faster),
# compiled to bytecode as pip would, so that TensorFlow loads in seconds.
# GNU make 3.81 or newer (macOS's own is fine); on Windows, from Git Bash or WSL.

# The Python that creates .venv: PYTHON=... if given, else python3 when it is
# 3.11-3.13, else the newest of python3.13, python3.12, python3.11 on PATH.
SUPPORTED := 3.11 3.12 3.13
python_version = $(shell $(1) -c "import sys; print('%d.%d' % sys.version_info[:2])" 2>/dev/null)
supported = $(filter $(SUPPORTED),$(call python_version,$(1)))
PYTHON ?= $(firstword $(foreach p,python3 python3.13 python3.12 python3.11 python,$(if $(call supported,$(p)),$(p))))

VENV := .venv
BIN := $(VENV)/$(if $(filter Windows_NT,$(OS)),Scripts,bin)
# Recipes run dvc and the stages' `python` from .venv; so does DVC for each stage.
IN_VENV := PATH="$(CURDIR)/$(BIN):$$PATH" DVC_NO_ANALYTICS=1

.PHONY: setup repro test test-fast search benchmark benchmark-peer benchmark-scale plots-check lock python

setup: $(VENV)/.installed plots/offline.html

python:
	@if [ -z "$(PYTHON)" ]; then \
	    echo "error: no Python 3.11, 3.12 or 3.13 found on PATH (tried python3, python3.13, python3.12, python3.11, python); install one, or run make PYTHON=/path/to/python3.x" >&2; exit 1; \
	elif [ -z "$(call supported,$(PYTHON))" ]; then \
	    echo "error: PYTHON=$(PYTHON) is not Python 3.11, 3.12 or 3.13 (it is '$(call python_version,$(PYTHON))'); point PYTHON at one of those" >&2; exit 1; \
	fi
	@echo "$(PYTHON) (Python $(call python_version,$(PYTHON)))"

$(VENV)/.installed: requirements.txt
	@$(MAKE) --no-print-directory python
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(shell grep '^uv==' requirements.txt)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/uv pip install --quiet --compile-bytecode -r requirements.txt
	touch $@

plots/offline.html: plots/offline_template.py $(VENV)/.installed
	$(IN_VENV) python plots/offline_template.py

# The dataset first: a copy at hand, `dvc pull`, or the download (stages/get_data.py).
# Then `dvc repro --pull` where the DVC remote holds outputs this clone lacks: a
# teammate's clone fetches them, and only what the remote lacks is computed. With
# no remote, or none reachable, plain `dvc repro` computes everything here.
repro: setup
	$(IN_VENV) python -m stages.get_data
	@if $(IN_VENV) dvc status --cloud --json 2>/dev/null | grep -q '"deleted"'; then \
	    echo "dvc repro --pull  # the DVC remote holds outputs of this commit"; \
	    $(IN_VENV) dvc repro --pull; \
	else \
	    echo "dvc repro"; \
	    $(IN_VENV) dvc repro; \
	fi

# The linter first; then one worker per core, each test file on one worker with its fixtures.
test: setup
	$(IN_VENV) ruff check .
	$(IN_VENV) python -m pytest -q -n auto --dist loadfile

# Trials of search.yaml's params as DVC experiments, judged on the validation reviews; the
# best one applied and evaluated. STUDY and STORAGE (a database URL) share a study.
TRIALS ?= 20
search: setup
	$(IN_VENV) python -m stages.get_data
	$(IN_VENV) python -m stages.search --trials $(TRIALS) $(if $(STUDY),--study $(STUDY)) $(if $(STORAGE),--storage $(STORAGE))

# The tests that need no DVC subprocess, server or real data: under a minute on 2 cores.
test-fast: setup
	$(IN_VENV) ruff check .
	$(IN_VENV) IMDB_FAST_TESTS=1 python -m pytest -q -n auto --dist loadfile -m "not slow"

benchmark: setup
	$(IN_VENV) python benchmarks/run.py --rounds 3

# scikit-learn's TF-IDF + logistic regression on the same train/test split (data/raw).
benchmark-peer: setup
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/uv pip install --quiet $(shell $(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['benchmark'])")
	$(IN_VENV) python benchmarks/peer.py

# Each stage's time and memory on IMDB repeated 1, 4 and 8 times (SCALES="1 40" for more).
SCALES ?= 1 4 8
benchmark-scale: setup
	$(IN_VENV) python benchmarks/scale.py --scales $(SCALES)

SCREENSHOT ?= reports/plots.png
plots-check: setup
	$(IN_VENV) python plots/render_check.py --screenshot $(SCREENSHOT)

# The one command that regenerates the lock after a change to pyproject.toml's dependencies.
lock: $(VENV)/.installed
	UV_PYTHON_DOWNLOADS=never $(BIN)/uv pip compile --quiet --universal --fork-strategy fewest --python-version 3.11 \
	    --extra test pyproject.toml -o requirements.txt
