"""Probing examples in jiant's edge-probing shape: the interchange between tasks, extraction
and probes.

One :class:`EdgeRecord` is a text (a list of words) with its targets; a target has up to two
end-exclusive word spans and a label:

* token task   -> ``span1 = (i, i + 1)``, ``span2 = None``
* span task    -> ``span1 = (s, e)``, ``span2 = None``
* span-pair    -> ``span1`` and ``span2``
* sentence     -> both ``None`` (one target per record)

This is exactly jiant's JSONL (``{"text", "targets": [{"span1", "span2", "label"}]}``), so
``probekit.data.jiant`` reads and writes it losslessly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

TaskKind = Literal["token", "span", "span_pair", "sentence"]
TASK_KINDS: tuple[str, ...] = ("token", "span", "span_pair", "sentence")


@dataclass(frozen=True)
class Target:
    """One labelled probing target inside an :class:`EdgeRecord`."""

    label: str
    span1: tuple[int, int] | None = None
    span2: tuple[int, int] | None = None


@dataclass
class EdgeRecord:
    """A text and its probing targets."""

    id: str
    tokens: list[str]
    targets: list[Target] = field(default_factory=list)
    info: dict = field(default_factory=dict)


@dataclass
class ProbingData:
    """All examples of one task on one split.

    Attributes
    ----------
    task : str
        Registry name of the task that produced the examples.
    kind : {"token", "span", "span_pair", "sentence"}
    records : list of EdgeRecord
    labels : list of str
        The label inventory (fixed on the training split; see ``probekit.tasks``).
    stats : dict
        Counts of anything the task skipped or remapped (e.g. ``unknown_labels``), never silent.
    """

    task: str
    kind: TaskKind
    records: list[EdgeRecord]
    labels: list[str]
    stats: dict = field(default_factory=dict)

    def targets_frame(self) -> pd.DataFrame:
        """One row per target: ``record, span1_start, span1_end, span2_start, span2_end, label``.

        Missing spans are ``-1``. Row order is record order, then target order: probes and the
        extraction engine rely on this order to line features up with labels.
        """
        rows = []
        for r_idx, rec in enumerate(self.records):
            for t in rec.targets:
                s1 = t.span1 or (-1, -1)
                s2 = t.span2 or (-1, -1)
                rows.append((r_idx, s1[0], s1[1], s2[0], s2[1], t.label))
        return pd.DataFrame(
            rows,
            columns=["record", "span1_start", "span1_end", "span2_start", "span2_end", "label"],
        )

    def label_ids(self) -> np.ndarray:
        """Integer labels in ``targets_frame`` order, indices into :attr:`labels`. Shape ``(n,)``."""
        index = {label: i for i, label in enumerate(self.labels)}
        return np.array(
            [index[t.label] for rec in self.records for t in rec.targets], dtype=np.int64
        )

    def __len__(self) -> int:
        return sum(len(r.targets) for r in self.records)
