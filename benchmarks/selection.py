"""Benchmark: which layers to use as features, measured against full fine-tuning.

For each task, ``probekit.compare.compare`` probes every layer (train -> dev), lets every
layer-selection strategy choose from the dev scores, trains frozen-feature heads on the choice
(early stopping on dev) and fully fine-tunes the same model with the same seeds; everything is
scored on test. Printed: a BERT-Table-7-style table per task, the recommendation, wall time.

Tasks (real data from ``../shared/data`` or $PROBEKIT_DATA; the demo task needs the demo chain):

* ``pos``, ``deprel``, ``tense`` -- all-MiniLM-L6-v2 on UD English EWT (train / dev / test);
* ``ner`` -- all-MiniLM-L6-v2 on Universal NER EWT (IOB2 tags): UNER ships dev and test only,
  so its dev split trains, the first half of its test split is dev, the second half test;
* ``downstream`` -- the demo chain's checkpoints (``--chain DIR``, written by
  ``make demo``: ``probes/demo.toml``'s ``[transfer]``) on the biomed downstream task.

The BiLSTM head (slow on a CPU) runs on ``--bilstm-strategies`` only.

    .venv/bin/python benchmarks/selection.py --task pos [--max-train 2000] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd


def load_splits(task: str, args) -> tuple[str, list, list, list]:
    from probekit.data.load import read_corpus
    from probekit.paths import require_data_file

    if task == "downstream":
        from probekit.transfer.chain import parse_task

        ft = parse_task(args.downstream, seed=0)
        return str(Path(args.chain) / args.checkpoint), ft.train, ft.dev, ft.test
    if task == "ner":
        train = list(read_corpus(require_data_file("uner-english-ewt/en_ewt-ud-dev.iob2")))
        rest = list(read_corpus(require_data_file("uner-english-ewt/en_ewt-ud-test.iob2")))
        half = len(rest) // 2
        return "minilm", train, rest[:half], rest[half:]
    split = {s: list(read_corpus(require_data_file(f"ud-english-ewt/en_ewt-ud-{s}.conllu")))
             for s in ("train", "dev", "test")}
    return "minilm", split["train"], split["dev"], split["test"]


def markdown(table: pd.DataFrame) -> str:
    lines = ["| strategy | layers | head | test score (sd, seeds) | dev | gap to FT | trainable | train s "
             "| layers run | tok/s | speed-up |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        gap = "" if pd.isna(r["gap_to_finetune"]) else f"{r['gap_to_finetune']:+.3f} ± {r['gap_se']:.3f}"
        lines.append(f"| {r['strategy']} | {r['layers']} | {r['head']} | {r['score']:.3f} ({r['sd']:.3f}, "
                     f"{int(r['n_seeds'])}) | {r['dev_score']:.3f} | {gap} | {int(r['trainable_params']):,} | "
                     f"{r['train_s']:.1f} | {int(r['layers_run'])} | {r['tokens_per_s']:,.0f} | {r['speedup']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="pos", choices=["pos", "deprel", "ner", "tense", "downstream"])
    parser.add_argument("--max-train", type=int, default=2000, help="training sentences (default 2000)")
    parser.add_argument("--max-eval", type=int, default=1000, help="dev and test sentences each (default 1000)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--heads", default="linear,mlp", help="heads run on every strategy")
    parser.add_argument("--strategies", default="", help="comma-separated (default: every strategy and baseline)")
    parser.add_argument("--bilstm-strategies", default="cost_aware,last,second_last,last4_concat",
                        help="strategies that also get the BiLSTM head ('' for none)")
    parser.add_argument("--no-finetune", action="store_true", help="feature heads only")
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--finetune-lr", type=float, default=1e-4)
    parser.add_argument("--chain", default="runs/demo-transfer", help="demo chain folder (downstream task)")
    parser.add_argument("--downstream", default="downstream:biomed:1000,200,500",
                        help="downstream task spec: the demo's biomed task, 1,000 labelled, 200 dev, 500 test")
    parser.add_argument("--checkpoint", default="dapt-biomed", help="checkpoint of the chain (downstream task)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out/selection")
    args = parser.parse_args()

    import torch

    from probekit.compare import aggregate, compare, format_table, recommend
    from probekit.extract.models import num_layers, read_config, resolve_source
    from probekit.extract.models import resolve_model

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model, train, dev, test = load_splits(args.task, args)
    dev, test = dev[: args.max_eval], test[: args.max_eval]
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out) / args.task
    common = dict(seeds=seeds, max_train=args.max_train, model_name="all-MiniLM-L6-v2" if model == "minilm" else model)
    main_run = compare(model, args.task, train, dev, test, heads=args.heads.split(","), finetune=not args.no_finetune,
                       strategies=[x for x in args.strategies.split(",") if x] or None,
                       finetune_steps=args.finetune_steps, finetune_lr=args.finetune_lr, out_dir=out, **common)
    runs = [main_run.runs]
    if args.bilstm_strategies:
        extra = compare(model, args.task, train, dev, test, heads=("bilstm",), finetune=False,
                        strategies=args.bilstm_strategies.split(","), out_dir=out / "bilstm", **common)
        runs.append(extra.runs)
    table = aggregate(pd.concat(runs, ignore_index=True))
    blocks = num_layers(read_config(resolve_source(resolve_model(model))))
    elapsed = time.perf_counter() - start
    table.to_csv(out / "table.csv", index=False)
    print(f"## {args.task} ({model}; train {min(len(train), args.max_train)} of {len(train)} sentences, "
          f"dev {len(dev)}, test {len(test)}; seeds {seeds}; {elapsed / 60:.1f} min)\n")
    for note in main_run.notes:
        print(f"note: {note}")
    print(markdown(table))
    print()
    print(recommend(table, blocks))
    print()
    print(format_table(table))


if __name__ == "__main__":
    main()
