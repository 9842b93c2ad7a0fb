"""The demo transfer chain's headline over several data seeds, as a table.

Runs the ``[transfer]`` section of ``probes/demo.toml`` (the same stages ``make demo`` runs) once
per data seed: seed N re-draws the pre-training and DAPT corpora, the tokenizer and the
initialisation (the LM stages' ``train.seed`` = N) and shifts every fine-tuning seed by 10 N (a new
labelled sample, head and batch order; the two arms of a pair keep sharing theirs). Each row is
the paired comparison of :func:`probekit.transfer.chain.init_comparisons`: fine-tuned from the
DAPT model vs from random init. Requirements (issues 5 and 13): the pre-trained arm wins over
seeds; the chain fits the demo's 15-minute budget on 2 cores. One torch thread.

    PYTHONPATH=. .venv/bin/python benchmarks/transfer_demo.py --seeds 0 1 2 --out runs/transfer-bench
    # a recipe variant: any suite override, e.g.
    PYTHONPATH=. .venv/bin/python benchmarks/transfer_demo.py --seeds 0 --set transfer.stages.dapt-reviews.train.steps=3000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

SUITE = Path(__file__).resolve().parent.parent / "probes" / "demo.toml"


def main(argv: list[str] | None = None) -> None:
    import numpy as np
    import torch

    from probekit.io import load_toml
    from probekit.suite import load_suite, run_transfer
    from probekit.transfer.chain import init_comparisons

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="data seeds (one chain each)")
    ap.add_argument("--out", default="runs/transfer-bench", help="stage folders go to OUT/seed-N")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a demo suite value")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    stages = load_toml(SUITE)["transfer"]["stages"]
    rows = []
    for seed in args.seeds:
        shift = [f"transfer.stages.{st['name']}.train.seed="
                 + str(seed if st["kind"] != "finetune" else st.get("train", {}).get("seed", 0) + 10 * seed)
                 for st in stages]
        suite = load_suite(SUITE, [f"transfer.out={Path(args.out).resolve() / f'seed-{seed}'}", *shift, *args.set])
        start = time.time()
        records = run_transfer(suite)
        seconds = time.time() - start
        metrics = {name: rec.get("metrics") or {} for name, rec in records.items()}
        losses = " / ".join(f"{m['eval_loss']:.3f}" for st, m in zip(suite.config["transfer"]["stages"], metrics.values())
                            if st["kind"] != "finetune" and "eval_loss" in m)
        for c in init_comparisons(suite.config["transfer"]["stages"], metrics):
            a, b = np.array(c["pretrained"]), np.array(c["random"])
            per = lambda x: " ".join(f"{v:.3f}" for v in x)  # noqa: E731
            rows.append(f"| {seed} | {c['metric']} | {a.mean():.3f} +- {a.std():.3f} ({per(a)}) | "
                        f"{b.mean():.3f} +- {b.std():.3f} ({per(b)}) | {c['wins']}/{len(a)} | {(a - b).mean():+.3f} | "
                        f"{losses} | {seconds:.0f} |")
        print(rows[-1] if rows else f"seed {seed}: no paired fine-tuning stages", flush=True)
    print("\nmean +- sd over the paired fine-tuning seeds (per seed)\n")
    print("| data seed | metric | pre-trained + DAPT | random init | pre-trained wins | mean gain | "
          "held-out LM loss (general / DAPT) | chain seconds |")
    print("|---:|---|---|---|---:|---:|---|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
