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


class ControlTask:
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
                f"control tasks exist for token tasks only; {task.name!r} is a {task.kind} task "
                "(use e.g. pos, xpos, feats or morph_number)"
            )
        self.task = task
        self.seed = int(seed)
        self.lowercase = lowercase
        self.name = f"{task.name}_control"
        self.kind = task.kind
        self.layers = task.layers
        self.description = f"control task of {task.name}: a fixed random label per word type"
        self.labels: list[str] | None = None
        self.probabilities: np.ndarray | None = None  # shape (n_labels,)
        self._cdf: list[float] = []
        self._cache: dict[str, str] = {}

    def fit(self, sentences: Sequence[Sentence]) -> "ControlTask":
        """Fix the empirical label distribution on the training ``sentences``."""
        self._fit(self.task.examples(sentences))
        return self

    def _fit(self, data: ProbingData) -> None:
        counts = Counter(t.label for r in data.records for t in r.targets)
        self.labels = list(data.labels)
        total = sum(counts.values())
        self.probabilities = np.array([counts[label] / total for label in self.labels])
        self._cdf = np.cumsum(self.probabilities).tolist()
        self._cdf[-1] = 1.0
        self._cache = {}

    def label_of(self, word: str) -> str:
        """The control label of a word type (after :meth:`fit`)."""
        if self.labels is None:
            raise ConfigError(f"control task {self.name!r} is not fitted: build the training split first "
                              "(task.examples(train_sentences)) or call task.fit(train_sentences)")
        key = word.lower() if self.lowercase else word
        label = self._cache.get(key)
        if label is None:
            digest = hashlib.blake2b(f"{self.seed}\x1f{key}".encode(), digest_size=8).digest()
            u = int.from_bytes(digest, "little") / 2.0**64
            label = self.labels[min(bisect_right(self._cdf, u), len(self.labels) - 1)]
            self._cache[key] = label
        return label

    @property
    def type_map(self) -> dict[str, str]:
        """The type -> label assignments made so far."""
        return dict(self._cache)

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


def control_task(task: Task, seed: int = 0, *, lowercase: bool = False) -> ControlTask:
    """The Hewitt & Liang control task of a token ``task`` (see the module docstring)."""
    return ControlTask(task, seed, lowercase=lowercase)
