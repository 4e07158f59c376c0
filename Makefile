# Two commands for a newcomer: `make demo` and `make test`. Both run `make setup` first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_PACKAGES := dataset-fashion-mnist sword-text-kjv sword-text-web sword-text-sparv
# Debian's Chromium, the browser the playground tests drive (through Playwright, the dev extra);
# installed by setup beside the data packages, not in the image (which has no dev extra).
BROWSER_PACKAGES := chromium
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: setup data-packages demo lint test bench serve models presets verify-models figures \
	bottleneck transformer-block beam-search vocabulary readme image clean mutation

setup: data-packages $(VENV)/.installed

# Debian packages that carry the offline corpora, and the tests' browser; installed only where
# they are missing.
data-packages:
	@missing=""; \
	for p in $(DATA_PACKAGES) $(BROWSER_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
	  echo "setup: Debian packages present ($(DATA_PACKAGES) $(BROWSER_PACKAGES))"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "setup: apt-get not found; the Debian packages$$missing give the offline corpora. Going on with the online (TFDS) datasets."; \
	else \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	  else echo "setup: not root and no sudo; install$$missing as root for the offline corpora. Going on."; exit 0; fi; \
	  echo "setup: installing$$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: models
	$(BIN)/kerasnlp-lab demo

# Changed release presets -> the next version of saved_models/<model>/ (seconds when none changed).
models: setup
	$(BIN)/kerasnlp-lab models

# Retrains every release preset from scratch, replacing the runs of an earlier `make presets`
# (train --overwrite; hours on 2 CPU cores; see presets/README.md).
RELEASE_RUNS := runs/release
presets: setup
	$(BIN)/kerasnlp-lab train autoencoder --preset deep --epochs 60 --workdir $(RELEASE_RUNS)/autoencoder --overwrite
	$(BIN)/kerasnlp-lab release autoencoder --workdir $(RELEASE_RUNS)/autoencoder \
	  --command "kerasnlp-lab train autoencoder --preset deep --epochs 60"
	$(BIN)/kerasnlp-lab train char_generator --preset release --workdir $(RELEASE_RUNS)/char_generator --overwrite
	$(BIN)/kerasnlp-lab release char_generator --workdir $(RELEASE_RUNS)/char_generator \
	  --command "kerasnlp-lab train char_generator --preset release"
	$(BIN)/kerasnlp-lab train attention_nmt --workdir $(RELEASE_RUNS)/attention_nmt --overwrite
	$(BIN)/kerasnlp-lab release attention_nmt --workdir $(RELEASE_RUNS)/attention_nmt \
	  --command "kerasnlp-lab train attention_nmt"
	$(BIN)/kerasnlp-lab train transformer_translator --workdir $(RELEASE_RUNS)/transformer_translator --overwrite
	$(BIN)/kerasnlp-lab release transformer_translator --workdir $(RELEASE_RUNS)/transformer_translator \
	  --command "kerasnlp-lab train transformer_translator"

# Every figure and generated table of docs/ from the release models (deterministic seeds;
# docs/bottleneck.png from the committed docs/bottleneck.json). Minutes on 2 CPU cores.
figures: setup
	$(BIN)/kerasnlp-lab figures

# The bottleneck experiment (docs/bottleneck.md): trains the GRU encoder-decoder without
# attention and with additive attention in Luong's order (the `small` preset, like the release
# model in Bahdanau's order; about 2.5 hours each on 2 CPU cores; a run whose model is there is
# skipped), measures test BLEU per source length of them and of the release translators into
# docs/bottleneck.json, redraws the plot.
BOTTLENECK_RUNS := runs/bottleneck
BOTTLENECK_ARMS := none luong_additive
bottleneck: setup
	for arm in $(BOTTLENECK_ARMS); do \
	  test -f $(BOTTLENECK_RUNS)/$$arm/model.keras || $(BIN)/kerasnlp-lab train attention_nmt \
	    --attention $$arm --workdir $(BOTTLENECK_RUNS)/$$arm || exit 1; \
	  $(BIN)/kerasnlp-lab bleu-by-length attention_nmt --workdir $(BOTTLENECK_RUNS)/$$arm || exit 1; \
	done
	$(BIN)/kerasnlp-lab bleu-by-length attention_nmt --workdir presets/attention_nmt
	$(BIN)/kerasnlp-lab bleu-by-length transformer_translator --workdir presets/transformer_translator
	$(BIN)/kerasnlp-lab figures --pages bottleneck

# The Transformer block experiment (docs/transformer_block.md): the same small Transformer
# trained 300 steps under four settings (about 13 minutes on 2 busy CPU cores) into
# docs/transformer_block.json, then the page redrawn from it.
transformer-block: setup
	$(BIN)/kerasnlp-lab transformer-block
	$(BIN)/kerasnlp-lab figures --pages transformer_block

# The beam-search experiment (docs/beam_search.md): BLEU, chrF, output length and decoding
# time of the release translators on the test split by beam size and length penalty (the
# Transformer on all 1,009 pairs, about 18 minutes on 2 busy CPU cores; the GRU on the first
# 300, about 5) into docs/beam_search.json, then the page redrawn from it.
beam-search: setup
	$(BIN)/kerasnlp-lab beam-search transformer_translator
	$(BIN)/kerasnlp-lab beam-search attention_nmt --limit 300
	$(BIN)/kerasnlp-lab figures --pages beam_search

# The vocabulary-size experiment (translators issue): the same Transformer and schedule for
# VOCABULARY_EPOCHS epochs with words and with WordPiece of VOCABULARY_SIZES pieces a side
# (about 1 hour a run on 2 CPU cores; finished runs are skipped), each evaluated on the whole
# test split, gathered into docs/vocabulary.json.
VOCABULARY_RUNS := runs/vocabulary
VOCABULARY_EPOCHS := 3
VOCABULARY_SIZES := 2000 4000 8000
vocabulary: setup
	test -f $(VOCABULARY_RUNS)/words/model.keras || $(BIN)/kerasnlp-lab train transformer_translator \
	  --tokenizer words --epochs $(VOCABULARY_EPOCHS) --average-checkpoints 1 \
	  --workdir $(VOCABULARY_RUNS)/words
	for size in $(VOCABULARY_SIZES); do \
	  test -f $(VOCABULARY_RUNS)/wordpiece_$$size/model.keras || $(BIN)/kerasnlp-lab train \
	    transformer_translator --tokenizer wordpiece --source-vocab-size $$size \
	    --target-vocab-size $$size --epochs $(VOCABULARY_EPOCHS) --average-checkpoints 1 \
	    --workdir $(VOCABULARY_RUNS)/wordpiece_$$size || exit 1; \
	done
	for run in words $(addprefix wordpiece_,$(VOCABULARY_SIZES)); do \
	  test -f $(VOCABULARY_RUNS)/$$run/metrics.json || $(BIN)/kerasnlp-lab evaluate \
	    transformer_translator --workdir $(VOCABULARY_RUNS)/$$run > /dev/null || exit 1; \
	done
	$(BIN)/kerasnlp-lab vocabulary-report $(VOCABULARY_RUNS)/words \
	  $(addprefix $(VOCABULARY_RUNS)/wordpiece_,$(VOCABULARY_SIZES))

# The generated sections of README.md and docs/guide/*.md (results, serving limits, CLI reference);
# tests/test_readme.py fails when one is stale.
readme: $(VENV)/.installed
	$(BIN)/python -m kerasnlp_lab.readme

# The shipped SavedModels re-evaluated through the REST API on the full test splits.
verify-models: models
	$(BIN)/python benchmarks/verify_models.py

# Lint and format check (ruff, configured in pyproject.toml); `make test` runs it first.
lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The suite in TEST_WORKERS pytest-xdist processes (one per core of a 2-core machine); a test
# module's tests stay in one process, so its module fixtures are built once.
TEST_WORKERS ?= 2
test: setup lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope

# Each realistic bug of tests/mutation.py, alone in a copy of the repo, must fail its fast tests.
mutation: setup
	$(BIN)/python -m tests.mutation

# The benchmark-only extra (CTranslate2, for benchmarks/transformer.py) is installed here, not by setup.
bench: setup
	$(BIN)/python -m pip install -q -e '.[bench]'
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

serve: models
	$(BIN)/kerasnlp-lab serve

# The image deploy/training-job.yaml runs (Dockerfile: make setup's steps, non-root); needs Docker.
image:
	docker build -t kerasnlp-lab:latest .

clean:
	rm -rf $(VENV) runs .pytest_cache
