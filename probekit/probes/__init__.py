"""Probe estimators: linear, MLP, scalar-mix, span and structural probes (see submodules)."""

from probekit.probes.base import LinearProbe, MLPProbe, check_features, fit_layers

__all__ = ["LinearProbe", "MLPProbe", "fit_layers", "check_features"]

from probekit.probes.mix import ScalarMixProbe  # noqa: E402

__all__ += ["ScalarMixProbe"]

from probekit.probes.structural import StructuralProbe  # noqa: E402

__all__ += ["StructuralProbe"]

from probekit.probes.mdl import online_code  # noqa: E402

__all__ += ["online_code"]

from probekit.probes.span import SpanInputs, SpanProbe  # noqa: E402

__all__ += ["SpanProbe", "SpanInputs"]
