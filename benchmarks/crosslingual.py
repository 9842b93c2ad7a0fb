"""Zero-shot cross-lingual POS transfer on the generator's pseudo-languages, with and without
shared anchors (issue 15; the K et al. 2020 / Pires et al. 2019 manipulation), and of a sentence
task (``--task``).

Per anchor setting and data seed, one transfer chain (the stage dicts `probes/crosslingual.toml`
declares, run by the same ``run_chain``): a tokenizer and a small LM pre-trained on English +
sov + vos text (the same seed for the three corpora, so they share trees, but each language is
packed into its own blocks: the model never sees a translation beside its source, unless
``--interleave`` puts each sentence beside its translations), then POS
fine-tuned on English only, from the pre-trained weights and from random initialisation (same
architecture and tokenizer, same fine-tuning seed), and scored on English test and on sov/vos
test without any target-language labels (zero-shot). Both arms end on their best *English* dev
evaluation. One torch thread.

    .venv/bin/python benchmarks/crosslingual.py --recipe clm --settings none anchors \
        --seeds 0 1 2 --out runs/xling-bench

``--curves`` then adds the per-layer cross-lingual curves (CKA, translation retrieval, POS probe
transfer; probekit.crosslingual) of every finished pre-trained model and of its random twin:

    .venv/bin/python benchmarks/crosslingual.py --recipe clm --settings none anchors \
        --seeds 0 1 2 --out runs/xling-bench --curves

``--task`` fine-tunes another task instead of POS: ``deps`` (a dependency head, UAS/LAS),
``downstream`` (the generator's general-domain task, person/thing doer) or a sentence label,
``tense`` / ``subj_num`` / ``obj_num`` (balanced classes), each scored zero-shot on the same task
in sov and vos; ``A+B`` fine-tunes several at once on one encoder (``pos+deps``). ``--pretrained
FOLDER`` fine-tunes an existing pre-trained model (e.g. crosslingual.toml's
``runs/crosslingual/pretrain``; its anchors must be the setting's) instead of pre-training one per
unit: the seeds are then fine-tuning seeds only (labelled sample, head, batch order), as the
suite's ``-seed1`` ... stages are:

    .venv/bin/python benchmarks/crosslingual.py --settings anchors --seeds 0 1 2 --task pos+deps \
        --pretrained runs/crosslingual/pretrain --out runs/xling-deps
    .venv/bin/python benchmarks/crosslingual.py --settings anchors --task tense --n-task 4000 \
        --pretrained runs/crosslingual/pretrain --out runs/xling-tense

Settings are names from SETTINGS or ``name=ANCHORS`` (generator option syntax, e.g.
``cog=cognates=0.5``). A recipe is a name from RECIPES, changed by the ``--lm-*`` / ``--ft-*``
options; each recipe gets its own folder under OUT, finished stages are skipped by fingerprint
and finished units (kept in OUT/results.jsonl) are not rerun.
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
    "names": "punct=0",                       # names only
    "punct": "names=0",                       # punctuation only
    "numbers": "names=0+punct=0+numbers=digits",
    "cognates": "names=0+punct=0+cognates=0.5",
    "anchors": "numbers=digits+cognates=0.5",  # names, punctuation, digits, half the stems
}
LANGS = ("en", "sov", "vos")
# --task: POS, the general domain's downstream task, or a sentence label every sentence carries
TASKS = ("pos", "downstream", "tense", "subj_num", "obj_num")
RECIPES = {
    # session 6: a 2-layer BERT by masked LM (it never left the unigram plateau)
    "mlm": {"objective": "mlm", "layers": 2, "vocab_size": 6000, "lm_steps": 1500, "lm_batch": 32, "lm_lr": 1e-3,
            "ft_steps": 300, "ft_batch": 32, "ft_lr": 2e-3, "ft_mode": "full", "interleave": False},
    # the demo chain's: a 4-layer GPT-2 by causal LM, byte-level BPE
    "clm": {"objective": "clm", "layers": 4, "vocab_size": 4000, "lm_steps": 1000, "lm_batch": 16, "lm_lr": 2e-3,
            "ft_steps": 300, "ft_batch": 16, "ft_lr": 2e-3, "ft_mode": "full", "interleave": False},
}


# task -> (English training spec, the task's name, zero-shot source in {lang}, its test scores)
TASKS = {
    "pos": ("synthetic-pos:general@en{opts}:{n}", "pos-en", "synthetic:general@{lang}{opts}:500", ("accuracy",)),
    "deps": ("synthetic-deps:general@en{opts}:{n}", "deps-en", "synthetic:general@{lang}{opts}:500", ("uas", "las")),
    "downstream": ("downstream:general@en{opts}:{n}", "general", "downstream:general@{lang}{opts}:500", ("accuracy",)),
    **{key: (f"synthetic-label:{key}:general@en{{opts}}:{{n}}", f"{key}-en",
             f"synthetic-label:{key}:general@{{lang}}{{opts}}:500", ("accuracy",))
       for key in ("tense", "subj_num", "obj_num")},
}


def task_kinds(task: str) -> list[str]:
    """``"pos+deps"`` -> ``["pos", "deps"]``, each one of TASKS."""
    kinds = task.split("+")
    unknown = [k for k in kinds if k not in TASKS]
    if unknown:
        raise SystemExit(f"--task {task}: unknown {unknown}; choose from {sorted(TASKS)}, joined by +")
    return kinds


def stages(anchors: str, seed: int, recipe: dict, n_lm: int = 10000, n_task: int = 1000, task: str = "pos",
           pretrained: str | None = None) -> list[dict]:
    """The chain of one unit: pre-training on en + sov + vos (or the model ``pretrained``), then
    English fine-tuning of ``task`` (one of TASKS, or several joined by ``+`` on one encoder) from
    the pre-trained weights and from random init, scored zero-shot on sov and vos. The run ends on
    the best English dev score of the first task (its accuracy, or LAS)."""
    opts = f"+{anchors}" if anchors else ""
    kinds = task_kinds(task)
    first = TASKS[kinds[0]]
    ft_train = {"steps": recipe["ft_steps"], "batch_size": recipe["ft_batch"], "lr": recipe["ft_lr"], "warmup": 0.1,
                "eval_every": max(1, recipe["ft_steps"] // 5), "keep_best": f"{first[1]}.dev.{first[3][-1]}",
                "seed": seed}
    pre = {"name": "pretrain", "kind": "pretrain", "objective": recipe["objective"],
           "corpus": [f"synthetic:general@{lang}{opts}:{n_lm}" for lang in LANGS],
           "size": "mini", "layers": recipe["layers"], "dropout": 0.0, "seq_len": 64,
           "vocab_size": recipe["vocab_size"],
           "train": {"steps": recipe["lm_steps"], "batch_size": recipe["lm_batch"], "lr": recipe["lm_lr"],
                     "warmup": 0.1, "seed": seed}}
    if recipe["interleave"]:  # each sentence beside its translations (same seed: same trees)
        pre["interleave"] = True
    tag = "" if task == "pos" else (task if "deps" in kinds else f"{task}{n_task}")
    suffix = "-".join(part for part in (tag, recipe_tag(recipe, "ft")) if part)
    fts = [{"name": f"ft-{init}" + (f"-{suffix}" if suffix else ""), "kind": "finetune",
            "from": pretrained or "pretrain", "init": init, "mode": recipe["ft_mode"],
            "tasks": [TASKS[k][0].format(opts=opts, n=n_task) for k in kinds],
            "extra_eval": [f"{TASKS[k][1]}:test_{lang}=" + TASKS[k][2].format(lang=lang, opts=opts)
                           for k in kinds for lang in LANGS[1:]],
            "max_len": 64, "train": ft_train} for init in ("pretrained", "random")]
    return [*([] if pretrained else [pre]), *fts]


def recipe_tag(recipe: dict, part: str = "all") -> str:
    """Name of a recipe: its base name and the options that differ from it. ``part="lm"``: the
    pre-training options only (the unit's folder), ``"ft"``: the fine-tuning ones (a suffix of the
    fine-tuning stages' names), so fine-tuning variants share one pre-trained model."""
    base = RECIPES[recipe["base"]]
    keys = [k for k in recipe if k != "base" and (part == "all" or k.startswith("ft_") == (part == "ft"))]
    diff = [f"{k}={recipe[k]}" for k in keys if base.get(k) != recipe[k]]
    head = [] if part == "ft" else [recipe["base"]]
    return "-".join(head + diff).replace("/", "_")


def run_unit(setting: str, anchors: str, seed: int, recipe: dict, args) -> dict:
    from probekit.transfer.chain import run_chain

    pretrained = args.pretrained and str(Path(args.pretrained).resolve())
    out = Path(args.out) / (Path(pretrained).name if pretrained else recipe_tag(recipe, "lm")) / f"{setting}-s{seed}"
    row = {"setting": setting, "anchors": anchors, "seed": seed, "recipe": recipe, **unit_keys(args)}
    if pretrained:
        row["lm_loss"] = json.loads((Path(pretrained) / "probekit.json").read_text())["metrics"].get("eval_loss")
    for stage in stages(anchors, seed, recipe, args.n_lm, args.n_task, args.task, pretrained):
        t0 = time.time()
        rec = run_chain([stage], out, base=out)[stage["name"]]  # "from": the folder beside it
        m = rec["metrics"]
        row[f"{stage['name']}_seconds"] = round(time.time() - t0)
        if stage["kind"] == "pretrain":
            row["lm_loss"] = m.get("eval_loss")
            continue
        init = stage["init"]
        row[f"{init}_seconds"] = row.pop(f"{stage['name']}_seconds")
        row[f"{init}_best_step"] = m.get("best_step")
        for kind in task_kinds(args.task):
            _, name, _, scores = TASKS[kind]
            for score in scores:  # accuracy keeps the old key, {init}_{lang}
                key = "" if score == "accuracy" else f"_{score}"
                for split, lang in (("test", "en"), ("test_sov", "sov"), ("test_vos", "vos")):
                    row[f"{init}_{lang}{key}"] = m[f"{name}.{split}.{score}"]
    return row


def unit_keys(args) -> dict:
    """What besides setting, seed and recipe tells a unit's results apart (absent: the POS
    default, as rows written before ``--task`` have it)."""
    keys = {}
    if args.task != "pos":
        keys["task"], keys["n_task"] = args.task, args.n_task
    if args.pretrained:
        keys["pretrained"] = str(Path(args.pretrained).resolve())
    return keys


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


def curves(setting: str, anchors: str, seed: int, recipe: dict, args) -> "pd.DataFrame":  # noqa: F821
    """Per-layer cross-lingual rows (CKA, retrieval, POS probe transfer) of the pre-trained
    model and its random twin, on held-out parallel sentences en-sov and en-vos."""
    import pandas as pd

    from probekit.crosslingual import crosslingual_scores
    from probekit.data.parallel import synthetic_parallel

    ckpt = Path(args.out) / recipe_tag(recipe, "lm") / f"{setting}-s{seed}" / "pretrain"
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


def table(rows: list[dict], score: str = "") -> str:
    """Mean +- sd over seeds per (recipe, setting); ``score``: the row keys' suffix (``""``: POS
    accuracy, ``"_uas"`` / ``"_las"``)."""
    def ms(xs):
        return f"{statistics.mean(xs):.3f} +- {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"

    lines = [f"| recipe | setting (anchors) | seeds | LM eval loss | English {what}: pre-trained / random | "
             "zero-shot sov: pre-trained / random / gain | zero-shot vos: pre-trained / random / gain | "
             "gain > 0 (sov, vos) |", "|---|---|---:|---|---|---|---|---|"]
    for tag, setting in dict.fromkeys((recipe_tag(r["recipe"]), r["setting"]) for r in rows):
        rs = [r for r in rows if (recipe_tag(r["recipe"]), r["setting"]) == (tag, setting)]
        cells = [tag, f"{setting} (`{rs[0]['anchors'] or 'defaults'}`)", str(len(rs)),
                 ms([r["lm_loss"] for r in rs]) if "lm_loss" in rs[0] else "-",
                 f"{ms([r[f'pretrained_en{score}'] for r in rs])} / {ms([r[f'random_en{score}'] for r in rs])}"]
        wins = []
        for lang in ("sov", "vos"):
            a, b = [r[f"pretrained_{lang}{score}"] for r in rs], [r[f"random_{lang}{score}"] for r in rs]
            gain = [x - y for x, y in zip(a, b)]
            cells.append(f"{ms(a)} / {ms(b)} / **{ms(gain)}**")
            wins.append(f"{sum(g > 0 for g in gain)}/{len(gain)}")
        cells.append(", ".join(wins))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", choices=sorted(RECIPES), default="clm")
    ap.add_argument("--settings", nargs="+", default=["none", "anchors"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="runs/xling-bench")
    ap.add_argument("--n-lm", type=int, default=10000, help="pre-training sentences per language")
    ap.add_argument("--n-task", type=int, default=1000, help="English training sentences of the task")
    ap.add_argument("--task", default="pos",
                    help=f"the fine-tuning task: one of {', '.join(TASKS)}, or several joined by + on one "
                    "encoder (pos+deps)")
    ap.add_argument("--pretrained", help="fine-tune this pre-trained model folder instead of pre-training per unit "
                                         "(its anchors must be the setting's); the seeds are fine-tuning seeds")
    for key, kind in (("layers", int), ("vocab_size", int), ("lm_steps", int), ("lm_batch", int), ("lm_lr", float),
                      ("ft_steps", int), ("ft_batch", int), ("ft_lr", float), ("ft_mode", str)):
        ap.add_argument("--" + key.replace("_", "-"), type=kind, help="overrides the recipe's value")
    ap.add_argument("--interleave", action="store_const", const=True,
                    help="pre-train on the three languages' parallel sentences side by side (TLM-like)")
    ap.add_argument("--curves", action="store_true",
                    help="only the per-layer cross-lingual curves of the finished units (OUT/curves.csv)")
    ap.add_argument("--n-parallel", type=int, default=300, help="parallel sentences per pair for --curves")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    recipe = {"base": args.recipe, **RECIPES[args.recipe]}
    recipe.update({k: v for k in RECIPES[args.recipe] if (v := getattr(args, k, None)) is not None})
    settings = {}
    for s in args.settings:
        name, eq, spec = s.partition("=")
        settings[name] = spec if eq else SETTINGS[name]
    results = Path(args.out) / "results.jsonl"
    results.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    if args.curves:
        import pandas as pd

        frames = [curves(name, anchors, seed, recipe, args) for seed in args.seeds for name, anchors in settings.items()
                  if (Path(args.out) / recipe_tag(recipe, "lm") / f"{name}-s{seed}" / "pretrain" / "probekit.json").exists()]
        frame = pd.concat(frames, ignore_index=True)
        frame.to_csv(Path(args.out) / f"curves-{recipe_tag(recipe, 'lm')}.csv", index=False)
        print(curve_table(frame))
        return
    rows = []
    for seed in args.seeds:
        for name, anchors in settings.items():
            prev = [r for r in done if (r["setting"], r["anchors"], r["seed"], r.get("recipe")) == (name, anchors, seed, recipe)
                    and {k: r[k] for k in ("task", "n_task", "pretrained") if k in r} == unit_keys(args)]
            if prev:
                rows.append(prev[-1])
                continue
            row = run_unit(name, anchors, seed, recipe, args)
            print(json.dumps(row), flush=True)
            with results.open("a") as f:
                f.write(json.dumps(row) + "\n")
            rows.append(row)
    seeds = "fine-tuning seeds" if args.pretrained else "data seeds"
    for kind in task_kinds(args.task):
        for score in TASKS[kind][3]:
            print(f"\n{kind} {score}, fine-tuned on English only; mean +- sd over {seeds}\n")
            print(table(rows, "" if score == "accuracy" else f"_{score}"))


if __name__ == "__main__":
    main()
