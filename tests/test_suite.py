import doctest
from pathlib import Path

import pytest

import probekit.suite as suite_module
from probekit.errors import ConfigError
from probekit.suite import load_suite, parse_layers

SUITE = """
name = "t"
seeds = [0, 1]
[data]
root = "data"
[[models]]
id = "m"
path = "minilm"
layers = "0-2"
[[tasks]]
name = "pos"
train = "a/train.conllu"
eval = ["a/dev.conllu", "b/dev.iob2"]
control = true
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "probes" / "s.toml"
    path.parent.mkdir()
    path.write_text(text)
    return path


def test_doctests():
    assert doctest.testmod(suite_module).failed == 0


def test_paths_are_relative_to_suite_file_and_resolved(tmp_path):
    suite = load_suite(_write(tmp_path, SUITE))
    cfg = suite.config
    assert cfg["data"]["root"] == str((tmp_path / "probes" / "data").resolve())
    assert cfg["tasks"][0]["train"] == [str((tmp_path / "probes" / "data" / "a/train.conllu").resolve())]
    assert len(cfg["tasks"][0]["eval"]) == 2
    assert cfg["models"][0]["layers"] == [0, 1, 2]
    assert cfg["probes"] == {"linear": {}}  # default probe
    assert cfg["extract"]["word_pooling"] == "mean"  # defaults filled in


def test_override_beats_file(tmp_path):
    suite = load_suite(_write(tmp_path, SUITE), ["data.root=/elsewhere", "models.m.layers=[1, 3]", "seeds=[5]"])
    assert suite.config["data"]["root"] == "/elsewhere"
    assert suite.config["models"][0]["layers"] == [1, 3]
    assert suite.config["seeds"] == [5]


def test_unknown_key_names_file_section_and_suggests(tmp_path):
    path = _write(tmp_path, SUITE.replace("control = true", "contrl = true"))
    with pytest.raises(ConfigError, match=r"s.toml:14: \[tasks\[0\]\]: unknown key 'contrl'; did you mean 'control'"):
        load_suite(path)


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_suite(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_suite(_write(tmp_path, "name = "))


def test_bad_layers():
    with pytest.raises(ConfigError, match="bad layers"):
        parse_layers("first-three")


def test_shipped_suites_load():
    root = Path(__file__).resolve().parent.parent / "probes"
    for path in sorted(root.glob("*.toml")):
        assert load_suite(path).name


def test_unknown_probe_and_probe_option(tmp_path):
    with pytest.raises(ConfigError, match="unknown probe 'linaer'; did you mean 'linear'"):
        load_suite(_write(tmp_path, SUITE + "[probes]\nlinaer = {}\n"))


def test_bad_probe_option_names_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"\[probes.mlp\]: unknown key 'hidden'; did you mean 'hidden_layer_sizes'"):
        load_suite(_write(tmp_path, SUITE + "[probes]\nmlp = { hidden = 256 }\n"))


def test_a_bad_value_from_set_says_so(tmp_path):
    with pytest.raises(ConfigError, match=r"s.toml: \[extract.dtype\] \(set by --set\): dtype = 'float64'"):
        load_suite(_write(tmp_path, SUITE), ["extract.dtype=float64"])


def test_key_lines_doctest_and_arrays_of_tables():
    lines = suite_module.key_lines('[[transfer.stages]]\nname = "a"\n[[transfer.stages]]\nname = "b"\n'
                                   'tasks = [\n  "x",\n]\nkind = "adapt"\n')
    assert lines[("transfer", "stages", 1, "name")] == 4 and lines[("transfer", "stages", 1, "kind")] == 8
