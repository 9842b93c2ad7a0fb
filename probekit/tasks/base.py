"""What a probing task is, the registry of tasks, and the label-set policy they all share.

A :class:`Task` is a small declarative record: a name, a kind (``token``, ``span``,
``span_pair``, ``sentence``), the annotation layers it reads, and a ``build`` function that
turns sentences into :class:`~probekit.data.edges.EdgeRecord` objects. ``Task.examples`` adds
what every task needs the same way:

* **missing layers** - if no input sentence has a layer the task needs, a
  :class:`~probekit.errors.ProbekitError` names the task and the layer; sentences that lack
  it while others have it are skipped and counted (``stats["missing_layer"]``).
* **label sets are fixed on the training split** - ``examples(train)`` returns the sorted
  label inventory; ``examples(dev, labels=train.labels)`` keeps it. A dev/test target whose
  label is not in the inventory is *dropped and counted* (``stats["unknown_labels"]``, per
  label in ``stats["unknown_label_counts"]``), never a crash. Tasks with ``max_labels``
  (e.g. ``top_const``) keep their most frequent ``max_labels - 1`` training labels and map the
  rest, in every split, to ``OTHER``.
* records left without targets are dropped and counted (``stats["empty_records"]``).
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from probekit.data.edges import EdgeRecord, ProbingData, Target, TaskKind, TASK_KINDS
from probekit.data.records import Sentence
from probekit.errors import ConfigError, ProbekitError

OTHER = "OTHER"

# Where a user finds data with each layer (quoted in missing-layer errors).
LAYER_SOURCES = {
    "upos": "UD CoNLL-U files or the built-in generator",
    "xpos": "UD CoNLL-U files with language-specific tags (e.g. English EWT; French GSD has none)",
    "feats": "UD CoNLL-U files or the built-in generator",
    "heads": "UD CoNLL-U files or the built-in generator",
    "deprels": "UD CoNLL-U files or the built-in generator",
    "entities": "IOB2 files such as Universal NER (align them with UD via probekit.data.align) or the generator",
    "constituents": "the built-in generator (`probekit data generate`)",
    "srl": "the built-in generator (`probekit data generate`)",
    "relations": "your own source (no bundled reader or generator fills Sentence.relations yet)",
    "coref": "the built-in generator (multi-sentence documents)",
}


@dataclass
class Context:
    """What a build function gets besides the sentences: options, a seeded RNG, a stats counter."""

    options: Mapping[str, Any]
    stats: Counter
    rng: np.random.Generator


BuildFn = Callable[[Sequence[Sentence], Context], list[EdgeRecord]]


@dataclass(frozen=True)
class Task:
    """A probing task definition.

    Attributes
    ----------
    name : str
        Registry name (``pos``, ``deps`` ...).
    kind : {"token", "span", "span_pair", "sentence"}
    layers : tuple of str
        ``Sentence`` attributes the task reads (``upos``, ``heads``, ``entities`` ...).
    build : callable
        ``build(sentences, context) -> list[EdgeRecord]`` (labels not yet filtered).
    description : str
    options : mapping
        Task options with their defaults (``seed``, ``neg_ratio`` ...); change them with
        :meth:`configure`.
    max_labels : int, optional
        Keep this many labels (the most frequent ``max_labels - 1`` plus ``OTHER``).
    label_key : str, optional
        A ``Sentence.labels`` key that, when present, supplies a sentence task's gold label
        directly (the generator's labels) instead of deriving it from ``layers``.
    """

    name: str
    kind: TaskKind
    layers: tuple[str, ...]
    build: BuildFn
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    max_labels: int | None = None
    label_key: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ConfigError(f"task {self.name!r}: kind {self.kind!r} is not one of {TASK_KINDS}")

    def configure(self, **options: Any) -> "Task":
        """A copy with some options changed (unknown option names raise :class:`ConfigError`)."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ConfigError(f"task {self.name!r} has no option(s) {unknown}; valid: {sorted(self.options) or 'none'}")
        return replace(self, options={**self.options, **options})

    def check_layers(self, sentences: Sequence[Sentence]) -> None:
        """Raise a clear :class:`ProbekitError` if no sentence has a layer this task needs."""
        if self.label_key and any(self.label_key in s.labels for s in sentences):
            return
        for layer in self.layers:
            if not any(has_layer(s, layer) for s in sentences):
                raise ProbekitError(
                    f"task {self.name!r} needs the {layer!r} annotation layer, which none of the "
                    f"{len(sentences)} input sentences has (first: {sentences[0].id!r}); data with it: "
                    f"{LAYER_SOURCES.get(layer, 'a source that annotates it')}"
                )

    def examples(self, sentences: Sequence[Sentence], *, labels: Sequence[str] | None = None) -> ProbingData:
        """Probing examples of this task on ``sentences``.

        Parameters
        ----------
        sentences : sequence of Sentence
        labels : sequence of str, optional
            ``None`` (training split): the label inventory is fixed on these sentences.
            Otherwise the training inventory: targets with other labels are dropped and counted
            in ``stats["unknown_labels"]`` (or mapped to ``OTHER`` for ``max_labels`` tasks).

        Returns
        -------
        ProbingData
        """
        sentences = list(sentences)
        if not sentences:
            raise ProbekitError(f"task {self.name!r} got no sentences")
        self.check_layers(sentences)
        stats: Counter = Counter(sentences=len(sentences))
        context = Context(self.options, stats, np.random.default_rng(self.options.get("seed", 0)))
        records = self.build(sentences, context)
        if stats["missing_layer"] >= len(sentences):
            raise ProbekitError(f"task {self.name!r}: every input sentence lacks one of the layers {self.layers}")
        records, inventory = apply_label_policy(records, labels, self.max_labels, stats, self.name)
        kept = [r for r in records if r.targets]
        stats["empty_records"] += len(records) - len(kept)
        stats["records"], stats["targets"] = len(kept), sum(len(r.targets) for r in kept)
        out = dict(stats)
        out.setdefault("unknown_labels", 0)
        return ProbingData(task=self.name, kind=self.kind, records=kept, labels=inventory, stats=out)


def has_layer(sentence: Sentence, layer: str) -> bool:
    """Whether ``sentence`` carries ``layer`` (a token layer is not None, a span layer non-empty)."""
    value = getattr(sentence, layer)
    return bool(value) if isinstance(value, list) and layer not in TOKEN_LAYERS else value is not None


TOKEN_LAYERS = ("tokens", "lemmas", "upos", "xpos", "feats", "heads", "deprels", "misc", "deps")


def apply_label_policy(
    records: list[EdgeRecord], labels: Sequence[str] | None, max_labels: int | None, stats: Counter, task: str
) -> tuple[list[EdgeRecord], list[str]]:
    """Fix the label inventory (``labels=None``) or apply a given one; see the module docstring."""
    counts = Counter(t.label for r in records for t in r.targets)
    if labels is None:
        if not counts:
            skipped = {k: v for k, v in stats.items() if k != "sentences" and v}
            raise ProbekitError(f"task {task!r} found no targets in {stats['sentences']} sentences "
                                f"(nothing to probe; skipped: {skipped or 'none'})")
        if max_labels and len(counts) > max_labels:
            ranked = sorted(counts, key=lambda label: (-counts[label], label))
            inventory = sorted(ranked[: max_labels - 1]) + [OTHER]
        else:
            inventory = sorted(counts)
    else:
        inventory = list(labels)
        if not inventory:
            raise ConfigError(f"task {task!r}: empty label list given; pass the training split's labels")
    allowed = set(inventory)
    if all(label in allowed for label in counts):
        return records, inventory
    unknown: Counter = Counter()
    out = []
    for rec in records:
        if all(t.label in allowed for t in rec.targets):
            out.append(rec)
            continue
        targets = []
        for t in rec.targets:
            if t.label in allowed:
                targets.append(t)
            elif OTHER in allowed and max_labels:
                stats["other_labels"] += 1
                targets.append(replace(t, label=OTHER))
            else:
                unknown[t.label] += 1
        out.append(EdgeRecord(rec.id, rec.tokens, targets, rec.info))
    stats["unknown_labels"] += sum(unknown.values())
    if unknown:
        stats["unknown_label_counts"] = dict(sorted(unknown.items()))
    return out, inventory


def per_sentence(fn: Callable[[Sentence, Context], list[Target] | None]) -> BuildFn:
    """Build function from a per-sentence ``fn(sentence, context) -> targets``.

    ``fn`` returns ``None`` when the sentence lacks a needed layer (counted as
    ``missing_layer``) and ``[]`` when the sentence simply has no target.
    """

    def build(sentences: Sequence[Sentence], context: Context) -> list[EdgeRecord]:
        records = []
        for sent in sentences:
            targets = fn(sent, context)
            if targets is None:
                context.stats["missing_layer"] += 1
                continue
            records.append(EdgeRecord(sent.id, sent.tokens, targets))
        return records

    return build


# ---------------------------------------------------------------------------------------------
# Registry

TASKS: dict[str, Task] = {}


def register_task(task: Task, *, replace_existing: bool = False) -> Task:
    """Add ``task`` to :data:`TASKS` under ``task.name``."""
    if task.name in TASKS and not replace_existing:
        raise ConfigError(f"task {task.name!r} is already registered (pass replace_existing=True)")
    TASKS[task.name] = task
    return task


def get_task(name: str, *, control: bool = False, **options: Any):
    """The registered task ``name``, optionally with options changed or as a control task.

    ``get_task("pos", control=True, seed=1)`` and ``get_task("pos_control")`` give the
    Hewitt & Liang control task of ``pos`` (see :mod:`probekit.tasks.control`); other keyword
    arguments are task options (``get_task("deps", neg_ratio=0.5)``).
    """
    from probekit.tasks.control import control_task

    if name.endswith("_control") and name not in TASKS:
        name, control = name[: -len("_control")], True
    if name not in TASKS:
        close = difflib.get_close_matches(name, TASKS, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"unknown task {name!r}.{hint} Valid tasks: {', '.join(sorted(TASKS))}")
    task = TASKS[name]
    if control:
        seed = options.pop("seed", 0)
        return control_task(task.configure(**options) if options else task, seed=seed)
    return task.configure(**options) if options else task


def task_table() -> "pd.DataFrame":  # noqa: F821
    """The registry as a DataFrame: ``name, kind, layers, description`` (for docs and the CLI)."""
    import pandas as pd

    return pd.DataFrame(
        [(t.name, t.kind, "+".join(t.layers), t.description) for t in TASKS.values()],
        columns=["name", "kind", "layers", "description"],
    )
