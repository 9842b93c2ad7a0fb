"""Which checkpoint of a transfer chain follows which: the lineage reports compare along.

A chain's stages list their parent (``from``), so the probed checkpoints form a tree, not a
list: two fine-tuning stages that start from the same DAPT model are siblings, and
"``ft-biomed`` -> ``ft-biomed-random-init``" is no training step. :func:`checkpoint_steps`
returns the pairs a report should compare:

* **training steps**: each probed checkpoint against its nearest probed ancestor (the stage's
  earlier intermediate checkpoint, else the parent stage's final checkpoint, else that stage's
  intermediates, and so on up the chain); ``kind`` is the later checkpoint's stage kind
  (``pretrain``, ``adapt``, ``finetune``).
* **init comparisons** (``kind = "init"``): a stage with ``init = "random"`` starts from random
  weights, not from its parent's, so it has no training step from the parent. It is compared
  instead with the stage fine-tuned the same way from the pre-trained parent with the same seed
  (the arms :func:`probekit.transfer.chain.init_comparisons` pairs), as ``before`` = random init,
  ``after`` = pre-trained: the change is what pre-training buys. Its own intermediate checkpoints
  are still training steps.

Only stage declarations are read (no checkpoint, no file), so a report rebuilt from its results
folder (``config.json``) finds the same steps.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

INIT = "init"


@dataclass(frozen=True)
class Step:
    """``after`` compared with ``before`` (score of ``after`` minus score of ``before``)."""

    before: str
    after: str
    kind: str  # the later stage's kind ("pretrain", "adapt", "finetune"), or "init"


def arm_key(stage: dict[str, Any]) -> str:
    """What two fine-tuning stages must share to be arms of one comparison: the parent, the tasks
    and every setting but ``init`` and the seed."""
    train = {k: v for k, v in (stage.get("train") or {}).items() if k != "seed"}
    same = {k: v for k, v in stage.items() if k not in ("name", "init", "train", "probe", "probe_intermediate")}
    return json.dumps([same, train], sort_keys=True, default=str)


def _split(checkpoint: str) -> tuple[str, int | None]:
    """``"dapt@1000"`` -> ``("dapt", 1000)``; a stage's final checkpoint -> ``(name, None)``."""
    match = re.fullmatch(r"(.+)@(\d+)", checkpoint)
    return (match.group(1), int(match.group(2))) if match else (checkpoint, None)


def checkpoint_steps(stages: list[dict[str, Any]], checkpoints: Iterable[str]) -> list[Step]:
    """The training steps and init comparisons among ``checkpoints`` (see the module docstring).

    Parameters
    ----------
    stages : list of dict
        ``[[transfer.stages]]`` declarations (``name``, ``kind``, ``from``, ``init``, ``train``).
    checkpoints : iterable of str
        The probed checkpoints: stage names, and ``<stage>@<step>`` for intermediate ones.

    Returns
    -------
    list of Step
        Training steps in the order of ``checkpoints``, then the init comparisons.

    >>> stages = [{"name": "general", "kind": "pretrain"},
    ...           {"name": "dapt", "kind": "adapt", "from": "general"},
    ...           {"name": "ft", "kind": "finetune", "from": "dapt", "train": {"seed": 0}},
    ...           {"name": "ft-rand", "kind": "finetune", "from": "dapt", "init": "random", "train": {"seed": 0}}]
    >>> for step in checkpoint_steps(stages, ["general", "dapt", "ft", "ft-rand"]):
    ...     print(step.before, "->", step.after, step.kind)
    general -> dapt adapt
    dapt -> ft finetune
    ft-rand -> ft init
    """
    by_name = {st["name"]: st for st in stages}
    probed = list(dict.fromkeys(checkpoints))
    per_stage: dict[str, list[tuple[int | None, str]]] = {}
    for ckpt in probed:
        stage, step = _split(ckpt)
        if stage in by_name:
            per_stage.setdefault(stage, []).append((step, ckpt))

    def ordered(stage: str) -> list[str]:
        """The stage's probed checkpoints in training order (intermediates, then the final one)."""
        own = per_stage.get(stage, [])
        return [c for s, c in sorted(own, key=lambda x: (x[0] is None, x[0] or 0))]

    def ancestor(stage: str, upto: str | None) -> str | None:
        """Nearest probed checkpoint before ``upto`` in ``stage``'s training (``upto`` None: the
        whole stage), then up the chain of ``from`` stages; a random-init stage stops the walk."""
        seen = set()
        while stage in by_name and stage not in seen:
            seen.add(stage)
            own = ordered(stage)
            earlier = own[:own.index(upto)] if upto in own else own
            if earlier:
                return earlier[-1]
            if by_name[stage].get("init") == "random":
                return None
            stage, upto = by_name[stage].get("from"), None
        return None

    steps = []
    for ckpt in probed:
        stage, _ = _split(ckpt)
        if stage not in by_name:
            continue
        before = ancestor(stage, ckpt)
        if before is not None:
            steps.append(Step(before, ckpt, by_name[stage].get("kind", "")))
    for st in stages:
        if st.get("kind") != "finetune" or st.get("init") != "random":
            continue
        seed = (st.get("train") or {}).get("seed", 0)
        twins = [o for o in stages if o.get("kind") == "finetune" and o.get("init", "pretrained") != "random"
                 and arm_key(o) == arm_key(st) and (o.get("train") or {}).get("seed", 0) == seed]
        if not twins:
            continue
        ours, theirs = dict(per_stage.get(st["name"], [])), dict(per_stage.get(twins[0]["name"], []))
        for step in sorted(set(ours) & set(theirs), key=lambda s: (s is None, s or 0)):
            steps.append(Step(ours[step], theirs[step], INIT))
    return steps
