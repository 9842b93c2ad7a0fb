import doctest

import pandas as pd
import pytest

import probekit.selection as selection
from probekit.errors import ConfigError
from probekit.selection import select_layers


def test_doctests():
    assert doctest.testmod(selection).failed == 0


def test_unknown_strategy_and_ambiguous_table():
    table = pd.DataFrame({"task": "pos", "probe": ["linear", "mlp"], "model": "m", "metric": "accuracy",
                          "layer": [0, 0], "value": [0.5, 0.6]})
    with pytest.raises(ConfigError, match="several probes"):
        select_layers(table, "pos")
    with pytest.raises(ConfigError, match="unknown layer-selection strategy"):
        select_layers(table, "pos", "middle", probe="mlp")
    with pytest.raises(ConfigError, match="no per-layer scores"):
        select_layers(table, "deps")
