"""jiant edge-probing JSONL: one record per line,

``{"text": "w1 w2 ...", "targets": [{"span1": [s, e], "span2": [s, e], "label": ...}], "info": {...}}``

Spans are end-exclusive word spans over ``text.split(" ")``. ``span2`` is absent for single-span
tasks and both spans are absent for sentence-level targets. A list label (jiant allows
multi-label targets) becomes one :class:`~probekit.data.edges.Target` per label and is counted
in ``stats["multi_label_targets"]``. Record ids: the ``"id"`` key if present, else
``<file stem>-<line>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from probekit.data.edges import EdgeRecord, Target
from probekit.data.lines import empty_file_error, iter_lines
from probekit.errors import DataFormatError
from probekit.io import atomic_write_text

_EXPECTED = '{"text": "w1 w2 ...", "targets": [{"span1": [s, e], "span2": [s, e], "label": "..."}]}'


class EdgeRecordList(list):
    """A list of :class:`EdgeRecord` with the reader's counts in ``.stats``."""

    def __init__(self, records: Iterable[EdgeRecord] = (), stats: dict | None = None) -> None:
        super().__init__(records)
        self.stats: dict = stats if stats is not None else {}


def read_jsonl(path: str | Path) -> EdgeRecordList:
    """Read a jiant edge-probing JSONL file.

    Raises
    ------
    DataFormatError
        On invalid JSON, missing keys or a span outside the text, naming file and line.
    """
    path = Path(path)
    stats = {"records": 0, "targets": 0, "multi_label_targets": 0}
    records = EdgeRecordList(stats=stats)
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(f"invalid JSON ({err.msg} at column {err.colno})", path=path, line=number,
                                  expected=f"one JSON object per line like {_EXPECTED}") from None
        records.append(_record(obj, path, number, stats))
    if not records:
        raise empty_file_error(path, f"one JSON object per line like {_EXPECTED}")
    stats["records"] = len(records)
    return records


def _record(obj, path: Path, number: int, stats: dict) -> EdgeRecord:
    def fail(message: str) -> DataFormatError:
        return DataFormatError(message, path=path, line=number, expected=_EXPECTED)

    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise fail('record has no "text" string')
    tokens = obj["text"].split(" ") if obj["text"] else []
    if not tokens or any(t == "" for t in tokens):
        raise fail('"text" must be words separated by single spaces')
    raw_targets = obj.get("targets", [])
    if not isinstance(raw_targets, list):
        raise fail('"targets" must be a list')
    targets: list[Target] = []
    for k, raw in enumerate(raw_targets):
        if not isinstance(raw, dict) or "label" not in raw:
            raise fail(f"target {k} has no \"label\"")
        spans = [_span(raw.get(key), key, k, len(tokens), fail) for key in ("span1", "span2")]
        if spans[0] is None and spans[1] is not None:
            raise fail(f"target {k} has span2 but no span1")
        labels = raw["label"] if isinstance(raw["label"], list) else [raw["label"]]
        if not labels:
            raise fail(f"target {k} has an empty label list")
        stats["multi_label_targets"] += len(labels) > 1
        targets.extend(Target(str(label), spans[0], spans[1]) for label in labels)
    stats["targets"] += len(targets)
    info = obj.get("info", {})
    record_id = obj.get("id", info.get("id") if isinstance(info, dict) else None)
    return EdgeRecord(
        id=str(record_id) if record_id is not None else f"{path.stem}-{number}",
        tokens=tokens, targets=targets, info=info if isinstance(info, dict) else {"info": info},
    )


def _span(value, key: str, k: int, n: int, fail) -> tuple[int, int] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise fail(f"target {k} {key} {value!r} is not a pair of integers [start, end]")
    start, end = value
    if not 0 <= start < end <= n:
        raise fail(f"target {k} {key} [{start}, {end}) is out of range for a text of {n} words "
                   f"(spans are end-exclusive: 0 <= start < end <= {n})")
    return (start, end)


def format_record(record: EdgeRecord) -> str:
    """One JSONL line for ``record``."""
    targets = []
    for t in record.targets:
        item: dict = {}
        if t.span1 is not None:
            item["span1"] = list(t.span1)
        if t.span2 is not None:
            item["span2"] = list(t.span2)
        item["label"] = t.label
        targets.append(item)
    obj = {"id": record.id, "text": " ".join(record.tokens), "targets": targets}
    if record.info:
        obj["info"] = record.info
    return json.dumps(obj, ensure_ascii=False)


def write_jsonl(records: Iterable[EdgeRecord], path: str | Path) -> Path:
    """Write records as jiant JSONL, atomically.

    Raises :class:`DataFormatError` if a word is empty or contains whitespace (``text`` is
    split on single spaces when read back) or a span is out of range.
    """
    lines = []
    for rec in records:
        bad = next((t for t in rec.tokens if not t or any(c.isspace() for c in t)), None)
        if bad is not None or not rec.tokens:
            raise DataFormatError(
                f"record {rec.id!r} has a word {bad!r} that jiant's space-separated text cannot hold",
                path=path, expected="non-empty words without whitespace",
                fix="replace spaces inside words (e.g. with '_') before export",
            )
        n = len(rec.tokens)
        for t in rec.targets:
            for span in (t.span1, t.span2):
                if span is not None and not 0 <= span[0] < span[1] <= n:
                    raise DataFormatError(f"record {rec.id!r}: span {list(span)} out of range for {n} words",
                                          path=path, expected=f"0 <= start < end <= {n}")
        lines.append(format_record(rec))
    return atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
