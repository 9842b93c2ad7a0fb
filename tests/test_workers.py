"""``probekit run --jobs N`` (probekit.workers): the same units, rows and [selection] results as one
process, with the transfer chain trained in a worker beside the other models' units."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from probekit.cli import main
from probekit.extract.tiny import save_tiny

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SUITE_HEAD = """name = "jobs"
[data.synthetic]
train_sentences = 60
eval_sentences = 30
test_sentences = 30
[[models]]
id = "tiny"
path = "tiny"
[[tasks]]
name = "pos"
control = true
[[tasks]]
name = "tense"
[probes]
linear = { max_epochs = 3 }
[scoring]
bootstrap = 20
[selection]
tasks = ["pos"]
strategies = ["best", "last"]
finetune = false
"""


@pytest.mark.slow
def test_two_workers_give_the_rows_of_one_process(tmp_path, tiny_chain):
    save_tiny("bert", tmp_path / "tiny")
    (tmp_path / "s.toml").write_text(SUITE_HEAD + tiny_chain.replace('out = "runs"\n', 'out = "runs"\ntasks = ["pos"]\n'))
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "jobs2"), "--jobs", "2", "--quiet"]) == 0
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "jobs1"), "--quiet"]) == 0
    two, one = (pd.read_csv(tmp_path / name / "scores.csv") for name in ("jobs2", "jobs1"))
    assert len(two) == len(one) and set(two["model"]) == {"tiny", "chain"}
    assert {"cka_vs:general"} <= set(two["metric"])  # the checkpoints' similarity units ran last
    keys = ["model", "checkpoint", "task", "control", "probe", "layer", "seed", "split", "metric"]
    merged = one.merge(two, on=keys, suffixes=("_one", "_two"))
    assert len(merged) == len(one)
    assert (merged["value_one"] - merged["value_two"]).abs().max() < 1e-6
    for name in ("jobs2", "jobs1"):  # [selection] ran in a worker too, and its table is in the report
        assert (tmp_path / name / "selection" / "tiny" / "pos" / "compare.csv").is_file()
        assert "## Which layers to use" in (tmp_path / name / "report.md").read_text()
    # ... for every model, the checkpoints' in their own jobs, and the report lists them in suite order
    compared = [sorted(p.parent.parent.name for p in (tmp_path / name / "selection").glob("*/pos/compare.csv"))
                for name in ("jobs2", "jobs1")]
    assert compared[0] == compared[1] and "tiny" in compared[0] and len(compared[0]) > 1
    chosen = [[line.split(" test ")[0] for line in (tmp_path / name / "report.md").read_text().splitlines()
               if "which layers to use for" in line.lower()] for name in ("jobs2", "jobs1")]
    assert len(chosen[0]) == len(compared[0]) and chosen[0] == chosen[1]  # (speeds are measured anew)
    shutil.rmtree(tmp_path / "jobs2" / "units")  # a re-run with workers recomputes only what is missing
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "jobs2"), "--jobs", "2", "--quiet"]) == 0
    assert pd.read_csv(tmp_path / "jobs2" / "scores.csv").equals(two)


def test_bad_jobs_value_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["run", "probes/demo.toml", "--jobs", "0"])
    assert "--jobs '0': use a number of worker processes, 1 or more" in capsys.readouterr().err


def test_a_worker_exits_when_its_parent_is_gone():
    import subprocess
    import sys

    from probekit.workers import ORPHAN_EXIT_CODE

    # A worker started by another process than the one it was told is its parent: as after the
    # parent's death, it must not go on (the sleep stands for a long unit).
    code = ("import time; from probekit.workers import _exit_with_parent; "
            "_exit_with_parent(1, every=0.05); time.sleep(60)")
    done = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert done.returncode == ORPHAN_EXIT_CODE
