"""Realism of the built-in corpus: do MiniLM's layers differ on it as they do on real English?

For all-MiniLM-L6-v2 (7 hidden states: 0 = embeddings ... 6) and each task (POS, dependency
arcs, entity types), a linear probe on every layer of the generated corpus and of UD EWT (POS and
dependencies from UD EWT, entities from Universal NER EWT aligned with it). Per task and corpus:
the layer-0 score, the best score and its layer, and the gap best - layer 0.

The goal (issue 13): no generated task at its ceiling at layer 0, and for each task the gap on
generated data at least as large as on EWT. A gap says how much the task needs context: a task
solved from the word embedding alone has a flat layer curve.

Data: generated ``general``/``en`` corpora, train seed s and eval seed s + 1 for s in 0, 2, 4
(``--seeds``; the generated rows are mean curves over them, with the range of the gap);
EWT train / dev for POS and dependencies; entities train on UNER dev, evaluate on UNER test (UNER
has no train split), sentences with at least one entity. Features are cached under
``$PROBEKIT_CACHE`` (the first run extracts, later runs only probe).

    .venv/bin/python benchmarks/realism.py [--train 1200] [--eval 400] [--threads 1]
    .venv/bin/python benchmarks/realism.py --corpora generated --domain biomed
"""

from __future__ import annotations

import argparse
import json
import time

TASKS = ("pos", "deps", "entities")


def generated(task: str, n_train: int, n_eval: int, domain: str, seed: int = 0):
    from probekit.data.synthetic import generate

    need = (lambda s: bool(s.entities)) if task == "entities" else (lambda s: True)
    out = []
    for corpus_seed, n in ((seed, n_train), (seed + 1, n_eval)):
        sents = [s for s in generate(4 * n if task == "entities" else n, domain=domain,
                                     seed=corpus_seed) if need(s)]
        out.append(sents[:n])
    return out


def ewt(task: str, n_train: int, n_eval: int):
    from probekit.data.align import align_annotations
    from probekit.data.conllu import read_conllu
    from probekit.data.iob2 import read_iob2
    from probekit.paths import require_data_file

    if task != "entities":
        train = read_conllu(require_data_file("ud-english-ewt/en_ewt-ud-train.conllu"))[:n_train]
        dev = read_conllu(require_data_file("ud-english-ewt/en_ewt-ud-dev.conllu"))[:n_eval]
        return train, dev
    out = []
    for split, n in (("dev", n_train), ("test", n_eval)):
        ud = read_conllu(require_data_file(f"ud-english-ewt/en_ewt-ud-{split}.conllu"))
        ner = read_iob2(require_data_file(f"uner-english-ewt/en_ewt-ud-{split}.iob2"))
        merged = align_annotations(ud, ner, strict=False)
        out.append([s for s in merged if s.entities][:n])
    return out


def _curve(train, dev, task: str, args) -> tuple[list[float], int, int]:
    from probekit.run_probes import probe_task

    scores = probe_task("minilm", train, dev, task=task, probes=("linear",), mix=False,
                        n_boot=args.bootstrap, progress=False)
    acc = scores[(scores.metric == "accuracy") & scores.layer.notna()].sort_values("layer")
    return [float(v) for v in acc["value"]], int(acc["n_train"].iloc[0]), int(acc["n_eval"].iloc[0])


def measure(corpus: str, task: str, args) -> dict:
    """Per-layer accuracy of ``task`` on ``corpus``; generated data: the mean curve over
    ``args.seeds`` (each seed its own corpora), so that no single draw of sentences decides."""
    t0 = time.perf_counter()
    seeds = [int(x) for x in args.seeds.split(",")] if corpus == "generated" else [None]
    curves, gaps = [], []
    for seed in seeds:
        train, dev = (generated(task, args.train, args.eval, args.domain, seed)
                      if corpus == "generated" else ewt(task, args.train, args.eval))
        curve, n_train, n_eval = _curve(train, dev, task, args)
        curves.append(curve)
        gaps.append(max(curve) - curve[0])
    curve = [sum(c[i] for c in curves) / len(curves) for i in range(len(curves[0]))]
    best = max(range(len(curve)), key=lambda i: (curve[i], -i))
    return {"corpus": corpus, "task": task, "seeds": seeds, "train_sents": len(train),
            "eval_sents": len(dev), "n_train": n_train, "n_eval": n_eval,
            "layer0": curve[0], "best": curve[best], "best_layer": best,
            "gap": curve[best] - curve[0], "gap_min": min(gaps), "gap_max": max(gaps),
            "curve": curve, "curves": curves, "seconds": round(time.perf_counter() - t0, 1)}


def verdict(rows: list[dict], ceiling: float) -> list[str]:
    """One line per goal: generated layer 0 below the ceiling; gap(generated) >= gap(EWT)."""
    by = {(r["corpus"], r["task"]): r for r in rows}
    lines = []
    for task in TASKS:
        gen, real = by.get(("generated", task)), by.get(("ewt", task))
        if gen is None:
            continue
        at_ceiling = gen["layer0"] >= ceiling or gen["gap"] <= 0.0
        lines.append(f"{task}: generated layer 0 {gen['layer0']:.3f} "
                     f"{'AT' if at_ceiling else 'below'} ceiling")
        if real is not None:
            ok = gen["gap"] >= real["gap"]
            lines.append(f"{task}: gap generated {gen['gap']:+.3f} vs EWT {real['gap']:+.3f} -> "
                         f"{'met' if ok else 'NOT met'}")
    return lines


def markdown(rows: list[dict]) -> str:
    """The side-by-side table: per task, generated and EWT rows."""
    lines = ["| task | corpus | train / eval targets | layer 0 | best | best layer | gap "
             "(range over seeds) |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (TASKS.index(r["task"]) if r["task"] in TASKS else 99,
                                         r["corpus"] != "generated")):
        lines.append(f"| {r['task']} | {r['corpus']} | {r['n_train']:,} / {r['n_eval']:,} | "
                     f"{r['layer0']:.3f} | {r['best']:.3f} | {r['best_layer']} | "
                     f"{r['gap']:+.3f}"
                     + (f" ({r['gap_min']:+.3f} to {r['gap_max']:+.3f})" if len(r["seeds"]) > 1
                        else "") + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=1200, help="training sentences per task")
    ap.add_argument("--eval", type=int, default=400, help="evaluation sentences per task")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--corpora", default="generated,ewt")
    ap.add_argument("--domain", default="general", help="generator domain (default general)")
    ap.add_argument("--seeds", default="0,2,4",
                    help="generator seeds of the training corpora (evaluation: seed + 1); the "
                         "generated rows are means over them (default 0,2,4)")
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--ceiling", type=float, default=0.98,
                    help="a layer-0 score at or above this counts as 'at the ceiling'")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: shared CPU)")
    ap.add_argument("--json", help="also write the rows (with per-layer curves) to this file")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for task in args.tasks.split(","):
        for corpus in args.corpora.split(","):
            rows.append(measure(corpus, task, args))
            r = rows[-1]
            print(f"{corpus:9s} {task:8s} layer0 {r['layer0']:.3f} best {r['best']:.3f} "
                  f"@{r['best_layer']} gap {r['gap']:+.3f} [{r['gap_min']:+.3f}, "
                  f"{r['gap_max']:+.3f}]  curve "
                  f"{' '.join(f'{v:.3f}' for v in r['curve'])}  ({r['seconds']} s)", flush=True)
    print()
    print(markdown(rows))
    print()
    print("\n".join(verdict(rows, args.ceiling)))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
