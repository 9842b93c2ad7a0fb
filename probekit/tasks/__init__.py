"""Probing tasks: a registry mapping names (``pos``, ``deps``, ``tense`` ...) to :class:`Task`.

>>> from probekit.tasks import get_task
>>> task = get_task("pos")
>>> train = task.examples(train_sentences)                     # fixes the label set
>>> dev = task.examples(dev_sentences, labels=train.labels)    # unknown labels dropped + counted
>>> control = get_task("pos", control=True, seed=0)            # Hewitt & Liang control task

Token tasks live in :mod:`.token`, span and span-pair tasks in :mod:`.span`, sentence tasks in
:mod:`.sentence`, control tasks in :mod:`.control`; the shared machinery in :mod:`.base`.
"""

from probekit.tasks.base import (
    OTHER,
    TASKS,
    Task,
    apply_label_policy,
    get_task,
    per_sentence,
    register_task,
    task_table,
)
from probekit.tasks import token, span, sentence  # noqa: F401,E402  (register the built-in tasks)
from probekit.tasks.control import ControlTask, control_task  # noqa: E402
from probekit.tasks.span import NO_RELATION  # noqa: E402
from probekit.tasks.token import morph_task  # noqa: E402

__all__ = ["Task", "TASKS", "get_task", "register_task", "control_task", "ControlTask", "task_table",
           "per_sentence", "apply_label_policy", "morph_task", "OTHER", "NO_RELATION"]
