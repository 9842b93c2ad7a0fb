import doctest

import pandas as pd
import pytest

import probekit.selection as selection
from probekit.errors import ConfigError
from probekit.selection import select_layers


def test_doctests():
    assert doctest.testmod(selection).failed == 0


def test_unknown_strategy_and_ambiguous_table():
    table = pd.DataFrame({"task": "pos", "probe": ["mlp", "mix_cumulative"], "model": ["m", "m"],
                          "metric": "accuracy", "split": "dev", "control": False, "layer": [0, 0], "value": [0.5, 0.6]})
    two_models = pd.concat([table, table.assign(model="other")])
    with pytest.raises(ConfigError, match="several models"):
        select_layers(two_models, "pos")
    assert select_layers(table, "pos", "best") == [0]  # the mix curve is not a probe to choose from
    with pytest.raises(ConfigError, match="unknown layer-selection strategy"):
        select_layers(table, "pos", "middle", probe="mlp")
    with pytest.raises(ConfigError, match="no probe 'linear'"):
        select_layers(table, "pos", probe="linear")
