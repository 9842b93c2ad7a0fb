"""Transfer pipeline in separate processes: resume after a kill, 2-process DDP (gloo), and the
UD English -> French zero-shot code path on the real data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from probekit.transfer.lineage import CHECKPOINTS, read_record

# The worker pre-trains a tiny BERT; argv: out_dir steps lr [slow]. "slow" sleeps in every batch so
# the test can kill it mid-stage (a test-only hook, the library has none).
WORKER = textwrap.dedent("""
    import sys, time
    import torch
    torch.set_num_threads(1)
    from probekit.data.synthetic import generate
    from probekit.transfer import pretrain as P
    from probekit.transfer.trainer import TrainConfig
    out, steps, lr = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if len(sys.argv) > 4 and sys.argv[4] == "slow":
        real = P.MLMObjective.batch
        def slow(self, idx, step):
            time.sleep(0.15)
            return real(self, idx, step)
        P.MLMObjective.batch = slow
    dropout = 0.0 if len(sys.argv) > 4 and sys.argv[4] == "nodrop" else 0.1
    texts = [s.text for s in generate(800, seed=0)]
    P.pretrain(texts, out, model=P.ModelConfig.from_size("tiny", max_len=32, dropout=dropout), seq_len=32,
               vocab_size=400, train=TrainConfig(steps=steps, batch_size=8, lr=lr, save_every=4, eval_every=4))
""")


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    full, killed = tmp_path / "full", tmp_path / "killed"
    run = lambda out, *extra: subprocess.run([sys.executable, str(script), str(out), "16", "0.003", *extra],  # noqa: E731
                                             env=_env(), check=True, capture_output=True, text=True)
    run(full)

    proc = subprocess.Popen([sys.executable, str(script), str(killed), "16", "0.003", "slow"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    state = killed / CHECKPOINTS / "step-0000008" / "train_state.json"
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state.exists(), "worker never reached step 8"
    assert read_record(killed) is None  # killed mid-stage: no final checkpoint

    # A different configuration is refused, naming the difference.
    with pytest.raises(subprocess.CalledProcessError) as err:
        subprocess.run([sys.executable, str(script), str(killed), "16", "0.001"], env=_env(), check=True,
                       capture_output=True, text=True)
    assert "refusing to resume" in err.value.stderr and "train.lr: 0.003 -> 0.001" in err.value.stderr

    done = run(killed)
    assert "resuming from" in done.stdout + done.stderr
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert read_record(killed)["metrics"] == read_record(full)["metrics"]


DDP_WORKER = textwrap.dedent("""
    import sys
    import torch
    torch.set_num_threads(1)
    from probekit.data.synthetic import generate
    from probekit.transfer import pretrain as P
    from probekit.transfer.trainer import TrainConfig
    out, accum = sys.argv[1], int(sys.argv[2])
    texts = [s.text for s in generate(600, seed=0)]
    rec = P.pretrain(texts, out, model=P.ModelConfig.from_size("tiny", max_len=32, dropout=0.0), seq_len=32,
                     vocab_size=400, train=TrainConfig(steps=4, batch_size=8, grad_accum=accum, lr=3e-3))
""")


@pytest.mark.slow
def test_two_process_gloo_matches_global_batch(tmp_path):
    """torchrun with 2 CPU processes (gloo), per-process batch 4 x 2 accumulation micro-steps of 2,
    gives the same weights as one process taking the global batch of 8 in one step."""
    script = tmp_path / "ddp.py"
    script.write_text(DDP_WORKER)
    single, multi = tmp_path / "single", tmp_path / "multi"
    subprocess.run([sys.executable, str(script), str(single), "1"], env=_env(), check=True, capture_output=True)
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                          str(port), str(script), str(multi), "2"],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = _weights(single), _weights(multi)
    # Summation order differs (two half-batches + all-reduce vs one batch), and Adam turns ~1e-7
    # relative gradient noise on near-zero gradients into up-to-lr steps on a few elements; a wrong
    # global batch (rows duplicated, dropped or mis-normalised) moves most weights by ~lr instead.
    diff = torch.cat([(a[k] - b[k]).abs().flatten() for k in a])
    assert (diff > 1e-5).float().mean() < 0.01 and diff.max() < 4 * 3e-3
    ra, rb = read_record(single), read_record(multi)
    assert abs(ra["metrics"]["eval_loss"] - rb["metrics"]["eval_loss"]) < 1e-3
    assert rb["config"]["train"]["batch_size"] == 8


@pytest.mark.slow
def test_ud_english_to_french_zero_shot(real_data, tmp_path):
    """Code path of cross-lingual zero-shot transfer: pre-train one tiny model on English and
    French UD text, fine-tune UPOS on English EWT, evaluate on French GSD."""
    from probekit.data.conllu import read_conllu
    from probekit.transfer.finetune import FinetuneTask, finetune
    from probekit.transfer.pretrain import ModelConfig, pretrain
    from probekit.transfer.trainer import TrainConfig

    en = list(read_conllu(real_data / "ud-english-ewt" / "en_ewt-ud-dev.conllu"))
    fr_dir = real_data / "ud-french-gsd"
    fr = list(read_conllu(next(fr_dir.glob("*dev.conllu"))))
    fr_test = list(read_conllu(next(fr_dir.glob("*test.conllu"))))[:200]
    corpus = [" ".join(s.tokens) for s in en + fr]
    torch.set_num_threads(1)
    pretrain(corpus, tmp_path / "bi", model=ModelConfig.from_size("tiny", max_len=64), seq_len=64,
             vocab_size=2000, train=TrainConfig(steps=30, batch_size=16, lr=3e-3))
    task = FinetuneTask("upos", "token", en[:600], en[600:700], en[700:900], label_key="upos",
                        extra_eval={"test_fr": fr_test})
    rec = finetune(tmp_path / "bi", task, tmp_path / "ft", max_len=64, train=TrainConfig(steps=30, batch_size=16, lr=3e-3))
    m = rec["metrics"]
    assert m["upos.test.accuracy"] > 0.3 and m["upos.test_fr.n"] > 3000
    assert 0.0 < m["upos.test_fr.accuracy"] < m["upos.test.accuracy"]
