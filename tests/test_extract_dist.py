"""Scale-out: ``torchrun`` with 2 CPU processes (gloo) gives the single-process result."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from probekit.cache import list_entries
from probekit.cli import main
from probekit.extract import LayerReps
from probekit.extract.tiny import save_tiny

CONLLU = "".join(
    f"# sent_id = s{i}\n" + "".join(
        f"{j + 1}\t{w}\t_\tX\t_\t_\t0\tdep\t_\t_\n"
        for j, w in enumerate((["the", "quick", "brown", "fox", "jumps", "over", "a", "dog"] * 3)[i % 7: i % 7 + 3 + i % 11])
    ) + "\n"
    for i in range(23)
)


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path, capsys):
    folder = save_tiny("bert", tmp_path / "bert")
    data = tmp_path / "corpus.conllu"
    data.write_text(CONLLU)
    common = ["--model", str(folder), "--data", str(data), "--layers", "0,2", "--store-dtype",
              "float32", "--sentence-pooling", "mean", "--max-tokens", "64", "--quiet"]
    assert main(["extract", *common, "--cache", str(tmp_path / "one")]) == 0
    torchrun = Path(sys.executable).with_name("torchrun")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "probekit", "extract", *common,
         "--cache", str(tmp_path / "two"), "--device", "cpu"],
        capture_output=True, text=True, env=env, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = (LayerReps(list_entries(tmp_path / name).path[0]) for name in ("one", "two"))
    assert list_entries(tmp_path / "two").status.tolist() == ["ok"]
    assert one.key == two.key
    assert (one.stats["world_size"], two.stats["world_size"]) == (1, 2)
    assert one.n_texts == two.n_texts == 23
    for layer in (0, 2):
        np.testing.assert_allclose(two.layer(layer), one.layer(layer), atol=1e-5)
        np.testing.assert_allclose(two.sentence(layer), one.sentence(layer), atol=1e-5)
    assert (two.index == one.index).all().all()
