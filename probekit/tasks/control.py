"""Control tasks (Hewitt & Liang 2019, "Designing and Interpreting Probes with Control Tasks").

The control version of a token task keeps its words and label inventory but gives every *word
type* one fixed random label, drawn from the task's empirical label distribution on the
training split. A probe that scores well on the control task is memorising word identity, so
``selectivity = task accuracy - control accuracy`` measures what the representation encodes.

Decisions:

* A word type is the exact surface form (case-sensitive: ``The`` and ``the`` are two types,
  since the model sees them as different inputs); ``control_task(task, lowercase=True)`` merges
  case variants.
* The label of a type is a pure function of ``(seed, type, training distribution)``: a keyed
  hash of the type picks a point of the cumulative distribution. So it is reproducible across
  runs and processes, independent of sentence order, and dev/test words get the label they
  had in training; types never seen in training get a draw from the same distribution.
* ``examples(train)`` fixes the distribution (call it first); ``examples(dev, labels=...)``
  reuses it. The base task's unknown-label policy applies before relabelling.

Dependency arcs (``deps``) get H&L's control for dependency edge prediction
(:class:`DepArcControlTask`): every word type gets one fixed *attachment behaviour*, drawn
uniformly by a keyed hash of ``(seed, type)`` from {attach to itself, to the first word, to the
last word} (H&L section 3), and one fixed random relation label, drawn from the training arcs'
label distribution like the token control. A control arc is ``(i, control_head(i))`` with that
label; the pairs that are not control arcs supply the ``_none_`` negatives. The control keeps
the real task's targets per sentence: one control arc for each dependent whose real arc is a
target, and as many sampled negatives as the real task has, so task and control are scored on
equally many targets of the same sentences and selectivity is computed (paired bootstrap).

Dependency *trees*, for the Hewitt & Manning structural probe, get a control tree
(:class:`ControlTrees`): H&L's per-type attachment behaviours, made to always form a tree. A
word type attaches to the first word, the previous word or the last word (drawn uniformly by a
keyed hash of ``(seed, type)``); "attach to itself", H&L's third behaviour, is no arc of a tree,
so "the previous word" takes its place. The first word is the root and the last word attaches to
the first. Every other arc points to an earlier word or to the last word, and the last word's arc
goes to the root, so following heads from any word ends at the root: one root, no cycle, a
valid tree for every sentence length. Like the real trees its distances grow with chains of
words, but its shape is a function of word types and positions alone, so only a probe that
memorises types can recover it.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections import Counter
from typing import Sequence

import numpy as np

from probekit.data.edges import EdgeRecord, ProbingData, Target
from probekit.data.records import Sentence
from probekit.errors import ConfigError
from probekit.tasks.base import Task
from probekit.tasks.span import NO_RELATION


class TypeLabels:
    """One fixed random label per word type, drawn from a label distribution by a keyed hash of
    ``(seed, type)`` (see the module docstring); shared by both control tasks.

    Parameters
    ----------
    seed : int
    lowercase : bool
        Treat case variants as one word type.
    name : str
        The control task's name, for error messages.
    """

    def __init__(self, seed: int, lowercase: bool, name: str) -> None:
        self.seed, self.lowercase, self.name = int(seed), lowercase, name
        self.labels: list[str] | None = None
        self.probabilities: np.ndarray | None = None  # shape (n_labels,)
        self._cdf: list[float] = []
        self._cache: dict[str, str] = {}

    @property
    def assigned(self) -> dict[str, str]:
        """The type -> label draws made so far."""
        return dict(self._cache)

    def fit(self, counts: Counter, labels: Sequence[str]) -> None:
        """Fix the distribution: ``counts[label]`` occurrences of each of ``labels``."""
        self.labels = list(labels)
        total = sum(counts[label] for label in self.labels)
        self.probabilities = np.array([counts[label] / total for label in self.labels])
        self._cdf = np.cumsum(self.probabilities).tolist()
        self._cdf[-1] = 1.0
        self._cache = {}

    def key(self, word: str) -> str:
        return word.lower() if self.lowercase else word

    def label_of(self, word: str) -> str:
        if self.labels is None:
            raise ConfigError(f"control task {self.name!r} is not fitted: build the training split first "
                              "(task.examples(train_sentences)) or call task.fit(train_sentences)")
        key = self.key(word)
        label = self._cache.get(key)
        if label is None:
            u = _unit_draw(self.seed, key)
            label = self.labels[min(bisect_right(self._cdf, u), len(self.labels) - 1)]
            self._cache[key] = label
        return label


def _unit_draw(seed: int, key: str, salt: str = "") -> float:
    """A number in [0, 1) that is a pure function of ``(seed, key, salt)``; labels use no salt
    (the draws token control tasks have always made), other per-type decisions their own."""
    text = f"{seed}\x1f{salt}\x1f{key}" if salt else f"{seed}\x1f{key}"
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64


class _Control:
    """What every control task keeps of the task it controls: the task, its seed, its kind and
    layers, and its name (``<task>_control``)."""

    def __init__(self, task: Task, seed: int, lowercase: bool, description: str) -> None:
        self.task = task
        self.seed = int(seed)
        self.lowercase = lowercase
        self.name = f"{task.name}_control"
        self.kind = task.kind
        self.layers = task.layers
        self.description = description


class ControlTask(_Control):
    """Control version of a token :class:`Task`; same ``examples`` interface.

    Parameters
    ----------
    task : Task
        A token task (``kind == "token"``).
    seed : int
    lowercase : bool
        Treat case variants as one word type.
    """

    def __init__(self, task: Task, seed: int = 0, *, lowercase: bool = False) -> None:
        if task.kind != "token":
            raise ConfigError(
                f"ControlTask relabels token tasks; {task.name!r} is a {task.kind} task "
                "(use control_task(), which also knows dependency arcs)"
            )
        super().__init__(task, seed, lowercase, f"control task of {task.name}: a fixed random label per word type")
        self._types = TypeLabels(self.seed, lowercase, self.name)

    @property
    def labels(self) -> list[str] | None:
        return self._types.labels

    @property
    def probabilities(self) -> np.ndarray | None:
        """Training label distribution, shape (n_labels,)."""
        return self._types.probabilities

    def fit(self, sentences: Sequence[Sentence]) -> "ControlTask":
        """Fix the empirical label distribution on the training ``sentences``."""
        self._fit(self.task.examples(sentences))
        return self

    def _fit(self, data: ProbingData) -> None:
        self._types.fit(Counter(t.label for r in data.records for t in r.targets), data.labels)

    def label_of(self, word: str) -> str:
        """The control label of a word type (after :meth:`fit`)."""
        return self._types.label_of(word)

    @property
    def type_map(self) -> dict[str, str]:
        """The type -> label assignments made so far."""
        return dict(self._types.assigned)

    def examples(self, sentences: Sequence[Sentence], *, labels: Sequence[str] | None = None) -> ProbingData:
        """Control examples; ``labels=None`` fits the distribution on these (training) sentences."""
        data = self.task.examples(sentences, labels=labels)
        if labels is None:
            self._fit(data)
        records = [
            EdgeRecord(r.id, r.tokens, [Target(self.label_of(r.tokens[t.span1[0]]), t.span1, t.span2)
                                        for t in r.targets], r.info)
            for r in data.records
        ]
        stats = {**data.stats, "control_seed": self.seed}
        return ProbingData(task=self.name, kind=self.kind, records=records, labels=list(self.labels), stats=stats)


ATTACHMENTS = ("self", "first", "last")  # H&L's control behaviours for dependency edges


class DepArcControlTask(_Control):
    """Hewitt & Liang's control task for dependency arcs (the ``deps`` span-pair task).

    Same ``examples`` interface and label inventory as the real task; see the module docstring
    for the construction.

    Parameters
    ----------
    task : Task
        The ``deps`` task (a ``span_pair`` task reading ``heads``); its ``neg_ratio`` and ``seed``
        options apply to the control's negatives too.
    seed : int
        Seed of the per-type behaviours and labels.
    lowercase : bool
        Treat case variants as one word type.
    """

    def __init__(self, task: Task, seed: int = 0, *, lowercase: bool = False) -> None:
        if task.kind != "span_pair" or "heads" not in task.layers:
            raise ConfigError(f"DepArcControlTask controls dependency-arc tasks (deps); {task.name!r} is not one")
        super().__init__(task, seed, lowercase, f"control task of {task.name}: each word type attaches to itself, "
                         "the first or the last word, with a fixed random relation")
        self.labels: list[str] | None = None
        self._relations = TypeLabels(self.seed, lowercase, self.name)

    def attachment_of(self, word: str) -> str:
        """The fixed behaviour of a word type: ``"self"``, ``"first"`` or ``"last"``."""
        u = _unit_draw(self.seed, self._relations.key(word), salt="attach")
        return ATTACHMENTS[min(int(u * len(ATTACHMENTS)), len(ATTACHMENTS) - 1)]

    def control_head(self, tokens: Sequence[str], i: int) -> int:
        """0-based position the ``i``-th word attaches to in the control task."""
        rule = self.attachment_of(tokens[i])
        return i if rule == "self" else 0 if rule == "first" else len(tokens) - 1

    def label_of(self, word: str) -> str:
        """The fixed control relation of a word type (after the training split is built)."""
        return self._relations.label_of(word)

    def _fit(self, data: ProbingData) -> None:
        arcs = [t for r in data.records for t in r.targets if t.label != NO_RELATION]
        if not arcs:
            raise ConfigError(f"control task {self.name!r}: the training split has no dependency arcs")
        # The relation draw follows the training arcs' labels; _none_ stays the negatives' label.
        self._relations.fit(Counter(t.label for t in arcs), [x for x in data.labels if x != NO_RELATION])
        self.labels = list(data.labels)

    def examples(self, sentences: Sequence[Sentence], *, labels: Sequence[str] | None = None) -> ProbingData:
        """Control examples; ``labels=None`` fits the label distribution on these (training) sentences."""
        sentences = list(sentences)
        data = self.task.examples(sentences, labels=labels)
        if labels is None:
            self._fit(data)
        rng = np.random.default_rng([self.seed, int(self.task.options.get("seed", 0))])
        records, position = [], 0
        for sent in sentences:  # the real task's records, in sentence order (some were dropped)
            if position == len(data.records):
                break
            real = data.records[position]
            if real.id != sent.id or real.tokens != sent.tokens:
                continue
            position += 1
            records.append(EdgeRecord(real.id, real.tokens, self._control_targets(real, rng), real.info))
        stats = {**data.stats, "control_seed": self.seed}
        return ProbingData(task=self.name, kind=self.kind, records=records, labels=list(self.labels), stats=stats)

    def _control_targets(self, real: EdgeRecord, rng: np.random.Generator) -> list[Target]:
        tokens, n = real.tokens, len(real.tokens)
        dependents = [t.span1[0] for t in real.targets if t.label != NO_RELATION]
        n_negatives = len(real.targets) - len(dependents)
        arcs = {(i, self.control_head(tokens, i)) for i in dependents}
        targets = [Target(self.label_of(tokens[i]), (i, i + 1), (h, h + 1)) for i, h in sorted(arcs)]
        # Non-arcs among ordered pairs of distinct words; the real task's negatives fit among
        # them (at most n(n-1) - real arcs, and control self-arcs take no such pair).
        candidates = [(i, j) for i in range(n) for j in range(n) if i != j and (i, j) not in arcs]
        picked = rng.choice(len(candidates), size=min(n_negatives, len(candidates)), replace=False)
        targets += [Target(NO_RELATION, (i, i + 1), (j, j + 1)) for i, j in sorted(candidates[k] for k in picked)]
        return targets

    @property
    def type_map(self) -> dict[str, tuple[str, str]]:
        """Type -> (attachment, relation) for the types labelled so far."""
        return {word: (self.attachment_of(word), label) for word, label in self._relations.assigned.items()}


TREE_ATTACHMENTS = ("first", "previous", "last")  # H&L's behaviours, "self" replaced (no arc of a tree)


class ControlTrees:
    """Control trees for the structural probe (see the module docstring): one fixed attachment
    behaviour per word type, arranged so that every sentence gets a valid dependency tree.

    Parameters
    ----------
    seed : int
        Seed of the per-type behaviours.
    lowercase : bool
        Treat case variants as one word type.

    >>> ControlTrees(seed=0).heads(["a"])
    [0]
    >>> trees = ControlTrees(seed=0)
    >>> heads = trees.heads("the cat sat on the mat".split())
    >>> heads[0], heads[-1]   # the first word is the root, the last attaches to it
    (0, 1)
    """

    def __init__(self, seed: int = 0, *, lowercase: bool = False) -> None:
        self.seed, self.lowercase = int(seed), lowercase

    def attachment_of(self, word: str) -> str:
        """The fixed behaviour of a word type: ``"first"``, ``"previous"`` or ``"last"``."""
        u = _unit_draw(self.seed, word.lower() if self.lowercase else word, salt="tree")
        return TREE_ATTACHMENTS[min(int(u * len(TREE_ATTACHMENTS)), len(TREE_ATTACHMENTS) - 1)]

    def heads(self, tokens: Sequence[str]) -> list[int]:
        """CoNLL-U heads (1-based, 0 = root) of the control tree over ``tokens``."""
        n = len(tokens)
        out = []
        for i, word in enumerate(tokens):
            if i == 0:
                out.append(0)
            elif i == n - 1:
                out.append(1)
            else:
                rule = self.attachment_of(word)
                out.append(1 if rule == "first" else i if rule == "previous" else n)
        return out


def control_task(task: Task, seed: int = 0, *, lowercase: bool = False) -> ControlTask | DepArcControlTask:
    """The Hewitt & Liang control task of a token ``task`` or of the dependency-arc task ``deps``
    (see the module docstring)."""
    if task.kind == "span_pair" and "heads" in task.layers:
        return DepArcControlTask(task, seed, lowercase=lowercase)
    if task.kind != "token":
        raise ConfigError(
            f"control tasks exist for token tasks and dependency arcs; {task.name!r} is a {task.kind} task "
            "(use e.g. pos, xpos, feats, morph_number or deps)"
        )
    return ControlTask(task, seed, lowercase=lowercase)
