"""Zero-shot cross-lingual POS transfer on the generator's pseudo-languages, with and without
shared anchors (issue 15; the K et al. 2020 / Pires et al. 2019 manipulation).

Per anchor setting and data seed: one WordPiece vocabulary and one small BERT pre-trained (MLM)
on English + sov + vos text (three *non-parallel* corpora: different seeds per language), then
POS fine-tuned on English only, from the pre-trained weights and from random initialisation
(same architecture and tokenizer, same fine-tuning seed), and scored on English test and on
sov/vos test without any target-language labels (zero-shot). Both arms end on their best
*English* dev evaluation. One torch thread.

    .venv/bin/python benchmarks/crosslingual.py --settings none anchors --seeds 0 1 2 \\
        --out runs/xling-bench

``--curves`` then adds the per-layer cross-lingual curves (CKA, translation retrieval, POS probe
transfer; probekit.crosslingual) of every finished pre-trained model and of its random twin:

    .venv/bin/python benchmarks/crosslingual.py --settings none anchors --seeds 0 1 2 \
        --out runs/xling-bench --curves

Settings are names from SETTINGS or ``name=ANCHORS`` (generator option syntax, e.g.
``cog=cognates=0.5``). Finished units are kept in OUT/results.jsonl and skipped on a rerun.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

SETTINGS = {
    "none": "names=0+punct=0",                # nothing shared with English
    "default": "",                            # the generator's default: names + punctuation
    "anchors": "numbers=digits+cognates=0.5",  # names, punctuation, digits, half the stems
}
LANGS = ("en", "sov", "vos")


def corpus(n: int, anchors: str, seed: int, langs=LANGS) -> list[str]:
    from probekit.data.synthetic import generate

    # seeds differ per language: comparable, not parallel, pre-training text
    return [s.text for i, lang in enumerate(langs)
            for s in generate(n, lang=lang, seed=seed * 10 + i, anchors=anchors or None)]


def run_unit(setting: str, anchors: str, seed: int, args) -> dict:
    from probekit.data.synthetic import generate
    from probekit.transfer.finetune import FinetuneTask, finetune
    from probekit.transfer.pretrain import ModelConfig, pretrain
    from probekit.transfer.trainer import TrainConfig

    out = Path(args.out) / f"{setting}-s{seed}"
    t0 = time.time()
    lm = pretrain(corpus(args.n_lm, anchors, seed), out / "pretrain",
                  model=ModelConfig.from_size(args.size, max_len=args.seq_len, dropout=0.0),
                  train=TrainConfig(steps=args.lm_steps, batch_size=32, lr=args.lm_lr, seed=seed, warmup=0.1),
                  seq_len=args.seq_len, vocab_size=args.vocab)
    t_lm = time.time() - t0
    opts = anchors or None
    # labelled data: its own seeds (disjoint from the LM text's)
    pos = lambda lang, n, s: generate(n, lang=lang, seed=1000 + 10 * seed + s, anchors=opts)  # noqa: E731
    task = FinetuneTask("pos-en", "token", pos("en", args.n_task, 0), pos("en", 250, 1), pos("en", 500, 2),
                        label_key="upos", extra_eval={"test_sov": pos("sov", 500, 3), "test_vos": pos("vos", 500, 4)})
    row = {"setting": setting, "anchors": anchors, "seed": seed, "lm_loss": lm["metrics"].get("eval_loss"),
           "lm_seconds": round(t_lm)}
    for init in ("pretrained", "random"):
        t0 = time.time()
        rec = finetune(out / "pretrain", task, out / f"ft-{init}", init=init, max_len=args.seq_len,
                       train=TrainConfig(steps=args.ft_steps, batch_size=32, lr=args.ft_lr, seed=seed, warmup=0.1,
                                         eval_every=args.ft_steps // 5, keep_best="pos-en.dev.accuracy"))
        m = rec["metrics"]
        for split, lang in (("test", "en"), ("test_sov", "sov"), ("test_vos", "vos")):
            row[f"{init}_{lang}"] = m[f"pos-en.{split}.accuracy"]
        row[f"{init}_seconds"] = round(time.time() - t0)
    return row


def random_twin(checkpoint: Path, seed: int) -> Path:
    """The checkpoint's architecture and tokenizer with freshly initialised weights (the
    baseline whose layers have learned nothing), saved beside it."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    out = checkpoint.parent / "random-init"
    if not (out / "config.json").exists():
        torch.manual_seed(seed)
        AutoModel.from_config(AutoConfig.from_pretrained(checkpoint)).save_pretrained(out)
        AutoTokenizer.from_pretrained(checkpoint).save_pretrained(out)
    return out


def curves(setting: str, anchors: str, seed: int, args) -> "pd.DataFrame":  # noqa: F821
    """Per-layer cross-lingual rows (CKA, retrieval, POS probe transfer) of the pre-trained
    model and its random twin, on held-out parallel sentences en-sov and en-vos."""
    import pandas as pd

    from probekit.crosslingual import crosslingual_scores
    from probekit.data.parallel import synthetic_parallel

    ckpt = Path(args.out) / f"{setting}-s{seed}" / "pretrain"
    frames = []
    for target in ("sov", "vos"):
        pc = synthetic_parallel(args.n_parallel, target=target, seed=5000 + seed, anchors=anchors or None)
        for init, model in (("pretrained", ckpt), ("random", random_twin(ckpt, seed))):
            f = crosslingual_scores(model, pc, model_name=f"{setting}/{init}", checkpoint=f"s{seed}", seed=seed)
            frames.append(f.assign(setting=setting, init=init))
    return pd.concat(frames, ignore_index=True)


def curve_table(frame) -> str:
    """Mean over seeds per (setting, init, pair, metric, layer), one column per layer."""
    frame = frame.assign(pair=frame["task"].str.split(":").str[1])
    g = frame.groupby(["setting", "pair", "metric", "init", "layer"])["value"]
    stats = g.agg(["mean", "std", "count"]).reset_index()
    layers = sorted(stats["layer"].unique())
    lines = ["| setting | pair | metric | init | " + " | ".join(f"layer {lay}" for lay in layers) + " |",
             "|---|---|---|---|" + "---:|" * len(layers)]
    for (setting, pair, metric, init), sub in stats.groupby(["setting", "pair", "metric", "init"], sort=False):
        cells = {int(r.layer): (f"{r['mean']:.3f}" + (f" +- {r['std']:.3f}" if r["count"] > 1 else ""))
                 for _, r in sub.iterrows()}
        lines.append(f"| {setting} | {pair} | {metric} | {init} | " + " | ".join(cells.get(lay, "") for lay in layers) + " |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    def ms(xs):
        return f"{statistics.mean(xs):.3f} +- {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"

    lines = ["| setting (anchors) | seeds | MLM eval loss | English: pre-trained / random | "
             "zero-shot sov: pre-trained / random / gain | zero-shot vos: pre-trained / random / gain | "
             "gain > 0 (sov, vos) |", "|---|---:|---|---|---|---|---|"]
    for setting in dict.fromkeys(r["setting"] for r in rows):
        rs = [r for r in rows if r["setting"] == setting]
        cells = [f"{setting} (`{rs[0]['anchors'] or 'defaults'}`)", str(len(rs)),
                 ms([r["lm_loss"] for r in rs]),
                 f"{ms([r['pretrained_en'] for r in rs])} / {ms([r['random_en'] for r in rs])}"]
        wins = []
        for lang in ("sov", "vos"):
            gain = [r[f"pretrained_{lang}"] - r[f"random_{lang}"] for r in rs]
            cells.append(f"{ms([r[f'pretrained_{lang}'] for r in rs])} / {ms([r[f'random_{lang}'] for r in rs])} / "
                         f"**{ms(gain)}**")
            wins.append(f"{sum(g > 0 for g in gain)}/{len(gain)}")
        cells.append(", ".join(wins))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--settings", nargs="+", default=["none", "anchors"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="runs/xling-bench")
    ap.add_argument("--n-lm", type=int, default=10000, help="pre-training sentences per language")
    ap.add_argument("--n-task", type=int, default=1000, help="English POS training sentences")
    ap.add_argument("--size", default="mini")
    ap.add_argument("--vocab", type=int, default=6000)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--lm-steps", type=int, default=1500)
    ap.add_argument("--lm-lr", type=float, default=1e-3)
    ap.add_argument("--ft-steps", type=int, default=300)
    ap.add_argument("--ft-lr", type=float, default=2e-3)
    ap.add_argument("--curves", action="store_true",
                    help="only the per-layer cross-lingual curves of the finished units (OUT/curves.csv)")
    ap.add_argument("--n-parallel", type=int, default=300, help="parallel sentences per pair for --curves")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    settings = {}
    for s in args.settings:
        name, eq, spec = s.partition("=")
        settings[name] = spec if eq else SETTINGS[name]
    results = Path(args.out) / "results.jsonl"
    results.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    if args.curves:
        import pandas as pd

        frames = [curves(name, anchors, seed, args) for seed in args.seeds for name, anchors in settings.items()
                  if (Path(args.out) / f"{name}-s{seed}" / "pretrain" / "probekit.json").exists()]
        frame = pd.concat(frames, ignore_index=True)
        frame.to_csv(Path(args.out) / "curves.csv", index=False)
        print(curve_table(frame))
        return
    rows = []
    for seed in args.seeds:
        for name, anchors in settings.items():
            prev = [r for r in done if (r["setting"], r["anchors"], r["seed"]) == (name, anchors, seed)]
            if prev:
                rows.append(prev[-1])
                continue
            row = run_unit(name, anchors, seed, args)
            print(json.dumps(row), flush=True)
            with results.open("a") as f:
                f.write(json.dumps(row) + "\n")
            rows.append(row)
    print("\nPOS accuracy, fine-tuned on English only; mean +- sd over data seeds\n")
    print(table(rows))


if __name__ == "__main__":
    main()
