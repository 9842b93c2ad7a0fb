"""Checkpoint lineage: ``probekit.json`` beside every checkpoint, fingerprints, atomic saves, the tree.

Every stage writes a standard Hugging Face checkpoint (``save_pretrained``, safetensors only) plus
``probekit.json``::

    {"stage": "pretrain", "objective": "mlm", "parent": null | "/abs/path/of/parent",
     "parent_fingerprint": "...", "data_fingerprint": "...", "fingerprint": "...",
     "config": {...}, "seed": 0, "steps": 300, "status": "complete" | "intermediate",
     "metrics": {...}, "history": [...], "versions": {"torch": ..., ...}, "notes": [...]}

``fingerprint`` hashes (stage, config, data fingerprint, parent fingerprint, seed): a stage whose
output already carries the same fingerprint is skipped, and a resume directory whose fingerprint
differs is refused with the differing keys named.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from probekit.errors import ProbekitError
from probekit.io import atomic_write_text

LINEAGE_FILE = "probekit.json"
CHECKPOINTS = "checkpoints"


def fingerprint(*parts: Any) -> str:
    """Short stable hash of JSON-serialisable ``parts`` (dict keys sorted): the cache's key
    function, so stages and cache entries hash alike."""
    from probekit.cache import fingerprint as cache_fingerprint

    return cache_fingerprint(list(parts), length=16)


def texts_fingerprint(texts: Iterable[str]) -> str:
    """Streaming hash of a corpus (one entry per text); order matters, as it does for training."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def tokenizer_fingerprint(tokenizer: str | Path | None) -> str | None:
    """Content hash of a tokenizer folder (``None`` for none): a stage keyed on it reruns when
    the vocabulary changes, and not when the folder merely moves."""
    if tokenizer is None:
        return None
    from probekit.extract.models import TOKENIZER_FILES, file_digest

    folder = Path(tokenizer)
    files = {name: file_digest(folder / name) for name in TOKENIZER_FILES if (folder / name).is_file()}
    if not files:
        raise ProbekitError(f"tokenizer {folder}: no tokenizer files there; fix: pass a folder written by "
                            "save_pretrained (tokenizer.json, tokenizer_config.json)")
    return fingerprint(files)


def library_versions() -> dict[str, str]:
    import tokenizers
    import torch
    import transformers

    import probekit

    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "probekit": probekit.__version__}


def read_record(directory: str | Path) -> dict[str, Any] | None:
    """The ``probekit.json`` of ``directory``, or ``None`` if it has none."""
    path = Path(directory) / LINEAGE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as err:
        raise ProbekitError(f"{path}: corrupt lineage file ({err}); delete the folder and rerun") from err


def write_record(directory: str | Path, record: dict[str, Any]) -> None:
    atomic_write_text(Path(directory) / LINEAGE_FILE, json.dumps(record, indent=2, sort_keys=True, default=str))


def config_difference(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable list of keys whose values differ between two (nested) configs."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<missing>"), new.get(key, "<missing>")
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_difference(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def _write_tmp(target: Path, write: Callable[[Path], None]) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        write(tmp)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ProbekitError(
            f"could not save checkpoint {target}: {err}. Earlier checkpoints are intact; "
            "fix: free disk space (or choose another --out) and rerun, training resumes from the "
            "last saved step") from err
    return tmp


def atomic_save_dir(target: str | Path, write: Callable[[Path], None]) -> Path:
    """Write a checkpoint folder via ``write(tmp)`` into a temp folder, then rename it into place.

    A failure while writing (disk full, ...) removes the temp folder and leaves any previous
    ``target`` untouched; the error names the folder and the cause.
    """
    target = Path(target)
    tmp = _write_tmp(target, write)
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def atomic_publish(target: str | Path, write: Callable[[Path], None]) -> Path:
    """Like :func:`atomic_save_dir` for a folder that also holds other things (a stage folder with
    its ``checkpoints/``): files are written to a temp folder, then renamed into ``target`` one by
    one (renames need no space), ``probekit.json`` last so its presence means "complete"."""
    target = Path(target)
    tmp = _write_tmp(target, write)
    target.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in tmp.iterdir() if p.name != LINEAGE_FILE)
    for name in names + ([LINEAGE_FILE] if (tmp / LINEAGE_FILE).exists() else []):
        dest = target / name
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        os.replace(tmp / name, dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return target


# ----------------------------------------------------------------------------------- the tree


def _summary(path: Path, rec: dict[str, Any], root: Path) -> str:
    try:
        name = str(path.relative_to(root)) or "."
    except ValueError:
        name = str(path)
    stage = rec.get("stage", "?")
    if rec.get("objective"):
        stage += f"/{rec['objective']}"
    bits = [f"{name}", f"[{stage}]", f"steps={rec.get('steps', '?')}"]
    metrics = _flat(rec.get("metrics") or {})
    # Headline metrics first: held-out LM loss, then test/dev scores; counts and extras last.
    score = lambda k: k.endswith((".accuracy", ".las", ".uas"))  # noqa: E731
    rank = lambda k: (0 if k == "eval_loss" else 1 if ".test." in k and score(k) else 2 if ".dev." in k and score(k)  # noqa: E731
                      else 3 if score(k) else 4 if k == "train_loss" else 5)
    for key in sorted(metrics, key=rank)[:4]:
        value = metrics[key]
        bits.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    if rec.get("status") != "complete":
        bits.append(f"({rec.get('status', 'incomplete')})")
    return "  ".join(bits)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def find_checkpoints(root: str | Path) -> dict[Path, dict[str, Any]]:
    """All folders under ``root`` (itself included) holding a ``probekit.json``."""
    root = Path(root)
    found = {}
    for path in sorted(root.rglob(LINEAGE_FILE)):
        if any(part.startswith(".") for part in path.relative_to(root).parts[:-1]):
            continue  # temp folders of an interrupted save
        found[path.parent.resolve()] = read_record(path.parent)
    return found


def lineage_tree(root: str | Path) -> str:
    """Text tree of every checkpoint under ``root``: parents above children, intermediate
    checkpoints under the stage that wrote them; a parent outside ``root`` (e.g. a Hugging Face
    model) is shown as an external root."""
    root = Path(root).resolve()
    records = find_checkpoints(root)
    if not records:
        raise ProbekitError(f"no {LINEAGE_FILE} found under {root}; fix: point at a folder written by "
                            "probekit pretrain/adapt/finetune")
    children: dict[Path | None, list[Path]] = {}
    externals: set[Path] = set()
    for path, rec in records.items():
        parent = rec.get("parent")
        if rec.get("status") == "intermediate":
            parent_path: Path | None = path.parent.parent  # <stage>/checkpoints/step-N
        elif parent:
            parent_path = Path(parent).resolve()
            if parent_path not in records:
                externals.add(parent_path)
        else:
            parent_path = None
        children.setdefault(parent_path, []).append(path)

    lines: list[str] = []

    def walk(node: Path, prefix: str, last: bool, top: bool) -> None:
        rec = records.get(node)
        text = _summary(node, rec, root) if rec else f"{node}  [external]"
        lines.append(text if top else prefix + ("└── " if last else "├── ") + text)
        kids = sorted(children.get(node, []), key=lambda p: (records[p].get("status") != "intermediate", str(p)))
        for i, kid in enumerate(kids):
            walk(kid, prefix if top else prefix + ("    " if last else "│   "), i == len(kids) - 1, False)

    for top in sorted(children.get(None, [])) + sorted(externals):
        walk(top, "", True, True)
    return "\n".join(lines)
