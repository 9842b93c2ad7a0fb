"""The demo transfer chain's headline, over several data seeds, as a table.

Each data seed regenerates the corpora, the tokenizer and the labelled splits and runs the whole
chain (``probekit.transfer.chain.run_demo_chain``): pre-train on ``general``, DAPT on the domain,
fine-tune from the DAPT model and from random initialisation with the same fine-tuning seeds.
Requirement (issue 5): under 10 minutes per chain on the 2-core dev CPU; the pre-trained model
fine-tunes clearly better than random init; DAPT lowers the in-domain MLM loss.

    .venv/bin/python benchmarks/transfer_demo.py --seeds 0 1 --out runs/transfer-bench
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    from probekit.transfer.chain import DEMO_SIZES, run_demo_chain

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="data seeds (one chain each)")
    ap.add_argument("--size", default="demo", choices=sorted(DEMO_SIZES))
    ap.add_argument("--domain", default="biomed")
    ap.add_argument("--out", default="runs/transfer-bench", help="stage folders go to OUT/seed-N")
    args = ap.parse_args(argv)

    rows = []
    for seed in args.seeds:
        r = run_demo_chain(Path(args.out) / f"seed-{seed}", size=args.size, domain=args.domain, seed=seed)
        per_seed = lambda key: " ".join(f"{v:.3f}" for v in r[key])  # noqa: E731
        rows.append(f"| {seed} | {r['pretrained_test_accuracy']:.3f} +- {r['pretrained_test_accuracy_sd']:.3f} "
                    f"({per_seed('pretrained_test_accuracy_per_seed')}) | "
                    f"{r['random_init_test_accuracy']:.3f} +- {r['random_init_test_accuracy_sd']:.3f} "
                    f"({per_seed('random_init_test_accuracy_per_seed')}) | "
                    f"{r['pretrained_wins']}/{len(r['pretrained_test_accuracy_per_seed'])} | "
                    f"{r['general_domain_mlm_loss']:.3f} -> {r['dapt_domain_mlm_loss']:.3f} | {r['seconds']:.0f} |")
    print(f"\n{args.domain} test accuracy (n=500), mean +- sd over fine-tuning seeds (per seed)\n")
    print("| data seed | pre-trained + DAPT | random init | pre-trained wins | in-domain MLM loss general -> DAPT | seconds |")
    print("|---:|---|---|---:|---|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
