"""The probe registry: every probe a suite (``[probes]``) or ``probekit probe --probe`` can ask for.

Each entry names an estimator, fixed parameters (``preset``), the inputs it trains on and the
tasks it applies to; :func:`probekit.run_probes.probe_task` dispatches on ``inputs``:

==================  ============  ===========================================================
name                inputs        what it measures
==================  ============  ===========================================================
``linear``          features      softmax classifier on each target's pooled vector
``mlp``             features      MLP classifier on the same features (Hewitt & Liang's warning)
``span``            spans         jiant's edge probe: per-word projection, learned span pooling
                                  (``pooling = "attn"``: self-attentive), classifier
``structural``      trees         Hewitt & Manning distance probe: UUAS, DSpr.
``structural_depth`` trees        Hewitt & Manning depth probe: root accuracy, NSpr.
``mdl``             codelength    MDL online code of a linear probe (Voita & Titov): compression
==================  ============  ===========================================================

``features`` probes train all layers as one batched model; ``span`` and ``structural`` probes
one model per layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from probekit.errors import ConfigError
from probekit.probes.base import LinearProbe, MLPProbe
from probekit.probes.span import SpanProbe
from probekit.probes.structural import StructuralProbe

INPUTS = ("features", "spans", "trees", "codelength")
# Set by whoever runs the probe (the suite's seeds, the device), never by probe options.
RUNNER_PARAMS = ("random_state", "device")


@dataclass(frozen=True)
class ProbeSpec:
    """One registry entry.

    Attributes
    ----------
    name : str
    estimator : type
        A scikit-learn style estimator class.
    inputs : {"features", "spans", "trees", "codelength"}
    summary : str
        One line for help texts and errors.
    preset : dict
        Parameters fixed by this entry (not settable from a suite).
    """

    name: str
    estimator: type
    inputs: str
    summary: str
    preset: dict = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """Parameters a suite or caller may set, with their defaults (not the preset, nor
        :data:`RUNNER_PARAMS`)."""
        return {k: v for k, v in self.estimator(**self.preset).get_params().items()
                if k not in self.preset and k not in RUNNER_PARAMS}

    def make(self, **params: Any):
        """An estimator with the preset and ``params``."""
        return self.estimator(**{**self.preset, **params})

    def applies_to(self, task) -> bool:
        """Whether this probe can run on ``task`` (a :class:`probekit.tasks.Task`)."""
        if self.inputs == "spans":
            return task.kind != "sentence"
        if self.inputs == "trees":
            return task.kind != "sentence" and "heads" in task.layers
        return True

    def applies_to_text(self) -> str:
        """Which tasks :meth:`applies_to` accepts, in words."""
        return {"spans": "token, span and span-pair tasks (not sentence tasks)",
                "trees": "tasks that read the dependency tree per word (e.g. deps)"}.get(self.inputs, "every task")


PROBES: dict[str, ProbeSpec] = {
    spec.name: spec
    for spec in (
        ProbeSpec("linear", LinearProbe, "features", "linear classifier on pooled target vectors"),
        ProbeSpec("mlp", MLPProbe, "features", "MLP classifier on pooled target vectors"),
        ProbeSpec("span", SpanProbe, "spans", "jiant edge probe with learned span pooling (pooling = "
                  "mean | max | endpoints | attn)"),
        ProbeSpec("structural", StructuralProbe, "trees", "Hewitt & Manning distance probe (UUAS, DSpr.)",
                  {"kind": "distance"}),
        ProbeSpec("structural_depth", StructuralProbe, "trees", "Hewitt & Manning depth probe (root accuracy, "
                  "NSpr.)", {"kind": "depth"}),
        ProbeSpec("mdl", LinearProbe, "codelength", "MDL online codelength of a linear probe (compression)"),
    )
}


def get_probe(name: str) -> ProbeSpec:
    """The registry entry ``name``, or a :class:`ConfigError` listing the valid names."""
    if name not in PROBES:
        import difflib

        hint = difflib.get_close_matches(name, list(PROBES), n=1)
        raise ConfigError(f"unknown probe {name!r}; " + (f"did you mean {hint[0]!r}?" if hint else
                                                          f"valid: {', '.join(PROBES)}"))
    return PROBES[name]
