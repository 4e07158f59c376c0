# Two commands for a newcomer: `make demo` and `make test`. Both run `make setup` first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_PACKAGES := dataset-fashion-mnist sword-text-kjv sword-text-web sword-text-sparv
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup data-packages demo test bench serve clean

setup: data-packages $(VENV)/.installed

# Debian packages that carry the offline corpora; installed only where they are missing.
data-packages:
	@missing=""; \
	for p in $(DATA_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
	  echo "setup: Debian data packages present ($(DATA_PACKAGES))"; \
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

demo: setup
	$(BIN)/kerasnlp-lab demo

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

serve: setup
	$(BIN)/kerasnlp-lab serve

clean:
	rm -rf $(VENV) runs .pytest_cache
