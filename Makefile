# biolstm: `make demo` runs the main job, `make test` runs the test suite (`make test-slow`
# the compile-heavy tests it leaves out).
# Both create the virtual environment .venv on first use (Python >= 3.11 as $(PYTHON)).
#
#   PYTHON=python3.12 make test      use another interpreter for the environment
#   TORCH_SPEC= make test            skip torch (training tests are then skipped)

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
comma := ,
EXTRAS := $(if $(TORCH_SPEC),train$(comma)test,test)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.biolstm-installed

.PHONY: demo test test-slow results venv clean genn

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "biolstm needs Python >= 3.11, found " + sys.version.split()[0] + "; run make PYTHON=python3.11 (or newer)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if [ -n "$(TORCH_SPEC)" ]; then echo "Installing $(TORCH_SPEC)"; $(PY) -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/biolstm demo

# The suite CI runs: everything but the tests marked slow (about 12 min on 2 cores).
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

# The compile-heavy tests marked slow (cython builds, the bAbI network's C++ programs, the
# README's cpp_standalone block, the throughput script): more than half an hour on 2 cores.
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow tests

# Regenerate results/ (tables and figures the README shows) with every result script in
# this checkout (scripts/make_results.py lists them). Long: hours on 2 cores; it resumes.
results: $(STAMP)
	$(PY) scripts/make_results.py

# The separate GeNN environment for the genn backend (.venv-genn: Python 3.11, brian2 2.5.4,
# brian2genn 1.7.0; GeNN 4.9.0 from GENN_PATH, an archive or folder). .venv is not touched.
#   make genn GENN_PATH=/path/to/genn-4.9.0.tar.gz
genn:
	nice scripts/make_genn_env.sh

clean:
	rm -rf $(VENV) build *.egg-info
