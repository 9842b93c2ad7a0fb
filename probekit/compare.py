"""Which layers to use as features, measured: every selection strategy against fine-tuning.

:func:`compare` answers "which layers should I feed my model, and how much do I lose against
fine-tuning?" for one model and one task, in the style of BERT's Table 7 (Devlin et al. 2019):

1. probes on every layer, trained on ``train`` and scored on ``dev`` (the scores that choose);
2. every strategy of :mod:`probekit.selection` (probe-guided ones and the defaults users get)
   picks layers from those dev scores only;
3. for each choice and head (linear / MLP / BiLSTM) and seed, a head is trained on the frozen,
   combined layers with early stopping on ``dev`` and scored on ``test``;
4. the same model is fully fine-tuned on the same split with the same seeds
   (:func:`probekit.transfer.finetune.finetune`): the reference every gap is measured against;
5. each choice's inference cost: the layers a forward pass must run and the measured tokens/s of
   the truncated model (:mod:`probekit.extract.truncate`) against the full one.

The recommendation is the choice with the best *dev* score (ties within 0.002 go to fewer
layers run); its test score is reported, never used to choose.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from probekit.errors import ConfigError
from probekit.io import atomic_write_text
from probekit.probes.heads import FeatureHead, TargetInputs, combine_layers
from probekit.scoring import bootstrap_ci
from probekit.selection import BASELINES, LayerSelection, canonical_strategy, select, strategy_names

TABLE_COLUMNS = ("task", "strategy", "family", "layers", "head", "score", "sd", "ci_low", "ci_high", "n_seeds",
                 "dev_score", "gap_to_finetune", "gap_se", "trainable_params", "train_s", "layers_run",
                 "tokens_per_s", "speedup", "n_train", "n_test")
TIE = 0.002


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    table : DataFrame
        One row per (strategy, head) and one for fine-tuning (:data:`TABLE_COLUMNS`).
    runs : DataFrame
        One row per seed of each, before aggregation.
    selections : dict of str -> LayerSelection
    scores : DataFrame
        The dev-split probe scores the strategies read.
    recommendation : str
        One sentence with the numbers.
    notes : list of str
        Anything the user must know (subsampled data, unavailable fine-tuning ...).
    """

    table: pd.DataFrame
    runs: pd.DataFrame
    selections: dict[str, LayerSelection]
    scores: pd.DataFrame
    recommendation: str
    notes: list[str]

    def save(self, out_dir: str | Path) -> Path:
        """``compare.csv``, ``runs.csv``, ``scores_dev.csv``, ``selections/<strategy>.json``,
        ``recommendation.txt`` (each written atomically)."""
        out = Path(out_dir)
        atomic_write_text(out / "compare.csv", self.table.to_csv(index=False))
        atomic_write_text(out / "runs.csv", self.runs.to_csv(index=False))
        atomic_write_text(out / "scores_dev.csv", self.scores.to_csv(index=False))
        for name, sel in self.selections.items():
            sel.save(out / "selections" / f"{name}.json")
        atomic_write_text(out / "recommendation.txt", "\n".join([self.recommendation, *self.notes]) + "\n")
        return out


def target_inputs(reps, data, selection: LayerSelection) -> TargetInputs:
    """Frozen features of ``data``'s targets under ``selection`` (reps extracted from ``data.records``)."""
    mats = [reps.layer(layer) for layer in selection.layers]
    words = combine_layers(mats, selection.combine, selection.weights)
    frame = data.targets_frame()
    rec = frame["record"].to_numpy(dtype=np.int64)
    base = reps.text_offsets[rec]
    if data.kind == "sentence":
        span1 = np.c_[base, reps.text_offsets[rec + 1]]
        keep = span1[:, 1] > span1[:, 0]
        if not keep.all():
            raise ConfigError(f"task {data.task!r}: {int((~keep).sum())} sentence target(s) without words")
    else:
        span1 = np.c_[base + frame["span1_start"].to_numpy(), base + frame["span1_end"].to_numpy()]
    span2 = None
    if data.kind == "span_pair":
        span2 = np.c_[base + frame["span2_start"].to_numpy(), base + frame["span2_end"].to_numpy()]
    return TargetInputs(words, reps.text_offsets, span1, span2, text=rec)


def _model_blocks(path) -> int:
    from probekit.extract.models import num_layers, read_config, resolve_source

    return num_layers(read_config(resolve_source(path)))


def _speeds(path, depths: set[int], texts: Sequence[str]) -> dict[int, tuple[int, float]]:
    """depth -> (blocks run, tokens/s) of the shortest exact truncation reading layer ``depth``."""
    from probekit.extract.models import load_model, load_tokenizer, resolve_source
    from probekit.extract.truncate import exact_truncation, tokens_per_second

    folder = resolve_source(path)
    model, tok = load_model(folder), load_tokenizer(folder)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    cuts = {depth: exact_truncation(model, tok, [depth])[:2] for depth in sorted(depths)}
    # Round-robin, best of five, on one thread: on a shared machine the ratios between depths are
    # what can be trusted, and interleaving exposes every depth to the same background load.
    best: dict[int, float] = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(5):
            for depth, (cut, _) in cuts.items():
                best[depth] = max(best.get(depth, 0.0), tokens_per_second(cut, tok, texts, repeats=1))
    finally:
        torch.set_num_threads(threads)
    return {depth: (blocks, best[depth]) for depth, (_, blocks) in cuts.items()}


def compare(
    model,
    task: str,
    train: Sequence,
    dev: Sequence,
    test: Sequence,
    *,
    strategies: Sequence[str] | None = None,
    heads: Sequence[str] = ("linear",),
    seeds: Sequence[int] = (0, 1, 2),
    finetune: bool = True,
    finetune_steps: int = 300,
    finetune_lr: float = 5e-5,
    finetune_batch: int = 32,
    max_train: int | None = None,
    head_params: dict | None = None,
    out_dir: str | Path | None = None,
    model_name: str | None = None,
    n_boot: int = 1000,
    speed_sentences: int = 256,
    progress: bool = True,
) -> Comparison:
    """Every layer-selection strategy as frozen features vs full fine-tuning, on one task.

    Parameters
    ----------
    model : str
        Checkpoint folder, ``pkg:...`` source or ``"minilm"``.
    task : str
        A registered probing task (token, span, span-pair or sentence).
    train, dev, test : sequences of Sentence
        Dev chooses (probe scores, early stopping, the recommendation); test only reports.
    strategies : list of str, optional
        Default: every data-driven strategy and every baseline.
    heads : list of {"linear", "mlp", "bilstm"}
    seeds : list of int
        Seeds of every head and of every fine-tuning run (the same seeds).
    finetune : bool
        Run the fine-tuning reference (token and sentence tasks).
    max_train : int, optional
        Use at most this many training sentences (the first ones); the notes say so.
    head_params : dict
        Extra keyword arguments per head name, e.g. ``{"bilstm": {"max_epochs": 10}}``.
    out_dir : path, optional
        Where fine-tuning checkpoints go and the results are saved (resumable: fine-tuning runs
        skip when complete, extraction is cached).
    """
    from probekit.extract import extract
    from probekit.extract.models import folder_identity, resolve_source
    from probekit.extract.models import resolve_model
    from probekit.run_probes import probe_task
    from probekit.tasks import get_task
    from probekit.cache import fingerprint

    strategies = [canonical_strategy(s) for s in (strategies or strategy_names())]
    path = resolve_model(model)
    name = model_name or str(model)
    notes: list[str] = []
    train, dev, test = list(train), list(dev), list(test)
    if max_train is not None and len(train) > max_train:
        notes.append(f"training data subsampled to the first {max_train} of {len(train)} sentences")
        train = train[:max_train]
    if not dev or not test:
        raise ConfigError("compare needs non-empty dev and test splits (dev chooses, test reports)")
    blocks_full = _model_blocks(path)
    model_fp = fingerprint(folder_identity(resolve_source(path)))
    if progress:
        print(f"[compare] {name} / {task}: probing every layer on dev ({len(train)} train, {len(dev)} dev sentences)")
    scores = probe_task(path, train, dev, task=task, probes=("linear",), mix="mix" in strategies,
                        seeds=(seeds[0],), n_boot=n_boot, model_name=name, split="dev", progress=progress)
    selections = {s: select(scores, task, s, n_layers=blocks_full, model_fingerprint=model_fp,
                            model_source=str(path)) for s in strategies}

    t = get_task(task)
    data = {"train": t.examples(train)}
    for split, sents in (("dev", dev), ("test", test)):
        data[split] = t.examples(sents, labels=data["train"].labels)
    reps = {split: extract(path, d.records, layers="all", progress=progress) for split, d in data.items()}
    y = {split: d.label_ids() for split, d in data.items()}

    speed = _speeds(path, {sel.depth for sel in selections.values()} | {blocks_full},
                    [s.text or " ".join(s.tokens) for s in dev[:speed_sentences]])
    full_speed = speed[blocks_full][1]
    runs = []
    params = head_params or {}
    jobs = [(s, h, seed) for s in strategies for h in heads for seed in seeds]
    bar = tqdm(total=len(jobs), desc=f"{task} feature heads", disable=not progress)
    # Jobs come strategy by strategy: keep only the current strategy's combined features in memory
    # (a concat of four layers over every split is the largest array the comparison holds).
    inputs_cache: dict[str, dict[str, TargetInputs]] = {}
    for strategy, head, seed in jobs:
        sel = selections[strategy]
        if strategy not in inputs_cache:
            inputs_cache = {strategy: {split: target_inputs(reps[split], data[split], sel) for split in data}}
        inp = inputs_cache[strategy]
        est = FeatureHead(head, random_state=seed, **params.get(head, {}))
        est.fit(inp["train"], y["train"], X_dev=inp["dev"], y_dev=y["dev"])
        value, lo, hi = bootstrap_ci(y["test"], est.predict(inp["test"]), n_boot=n_boot, seed=seed)
        blocks, tps = speed[sel.depth]
        runs.append(dict(task=task, strategy=strategy, family="baseline" if strategy in BASELINES else "probe-guided",
                         layers=sel.describe(), head=head, seed=seed, score=value, ci_low=lo, ci_high=hi,
                         dev_score=est.best_dev_score_, trainable_params=est.n_trainable_params_,
                         train_s=est.fit_seconds_, layers_run=blocks, tokens_per_s=tps, speedup=tps / full_speed,
                         n_train=len(y["train"]), n_test=len(y["test"])))
        bar.update()
    bar.close()

    if finetune and t.kind in ("token", "sentence"):
        runs += _finetune_runs(path, task, train, dev, test, seeds, out_dir, finetune_steps, finetune_lr,
                               finetune_batch, blocks_full, full_speed, n_boot)
    elif finetune:
        notes.append(f"no fine-tuning reference: task {task!r} is a {t.kind} task and fine-tuning covers "
                     "token and sentence tasks")
    runs_frame = pd.DataFrame(runs)
    table = aggregate(runs_frame)
    result = Comparison(table, runs_frame, selections, scores, recommend(table, blocks_full), notes)
    if out_dir is not None:
        result.save(out_dir)
        from probekit.report import write_report

        config = {"model": name, "model_path": str(path), "task": task, "strategies": strategies, "heads": list(heads),
                  "seeds": list(seeds), "finetune": finetune, "finetune_steps": finetune_steps,
                  "finetune_lr": finetune_lr, "finetune_batch": finetune_batch, "max_train": max_train,
                  "n_train": len(train), "n_dev": len(dev), "n_test": len(test)}
        write_report(scores, out_dir, config=config, title=f"{name}: which layers to use for {task}",
                     description=f"Probes trained on {len(train)} training sentences, scored on {len(dev)} dev "
                                 f"sentences; feature heads and fine-tuning scored on {len(test)} test sentences.",
                     comparisons=[(table, result.recommendation, notes)])
    return result


def _finetune_runs(path, task, train, dev, test, seeds, out_dir, steps, lr, batch, blocks_full, full_speed, n_boot):
    import tempfile

    from probekit.transfer.finetune import FinetuneTask, finetune
    from probekit.transfer.trainer import TrainConfig

    ft_task = FinetuneTask.from_probing_task(task, train, dev, test)
    root = Path(out_dir) / "finetune" if out_dir is not None else Path(tempfile.mkdtemp(prefix="probekit-ft-"))
    runs = []
    for seed in seeds:
        cfg = TrainConfig(steps=steps, batch_size=batch, lr=lr, seed=seed, eval_every=max(1, steps // 6),
                          keep_best=f"{task}.dev.accuracy")
        start = time.perf_counter()
        record = finetune(path, ft_task, root / f"seed{seed}", train=cfg)
        elapsed = time.perf_counter() - start
        metrics = record["metrics"]
        n_test = int(metrics.get(f"{task}.test.n", 0))
        acc = float(metrics[f"{task}.test.accuracy"])
        # Bootstrap CI of an accuracy from its count alone: resample n Bernoulli outcomes.
        correct = np.zeros(n_test, dtype=int)
        correct[: int(round(acc * n_test))] = 1
        _, lo, hi = bootstrap_ci(correct, np.ones(n_test, dtype=int), n_boot=n_boot, seed=seed)
        params = _param_count(root / f"seed{seed}")
        runs.append(dict(task=task, strategy="finetune", family="fine-tuning", layers=f"all {blocks_full} blocks",
                         head="linear", seed=seed, score=acc, ci_low=lo, ci_high=hi,
                         dev_score=float(metrics.get(f"{task}.dev.accuracy", np.nan)), trainable_params=params,
                         train_s=elapsed, layers_run=blocks_full,
                         tokens_per_s=full_speed, speedup=1.0, n_train=len(ft_task.train), n_test=n_test))
    return runs


def _param_count(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():
                total += int(np.prod(f.get_slice(key).get_shape()))
    return total


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    keys = ["task", "strategy", "family", "layers", "head"]
    agg = runs.groupby(keys, sort=False).agg(
        score=("score", "mean"), sd=("score", "std"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"),
        n_seeds=("score", "size"), dev_score=("dev_score", "mean"), trainable_params=("trainable_params", "first"),
        train_s=("train_s", "mean"), layers_run=("layers_run", "first"), tokens_per_s=("tokens_per_s", "first"),
        speedup=("speedup", "first"), n_train=("n_train", "first"), n_test=("n_test", "first")).reset_index()
    agg["sd"] = agg["sd"].fillna(0.0)
    ft = agg[agg["strategy"] == "finetune"]
    if len(ft):
        f = ft.iloc[0]
        agg["gap_to_finetune"] = agg["score"] - f["score"]
        # Standard error of a difference of two seed means (independent runs).
        agg["gap_se"] = np.sqrt(agg["sd"] ** 2 / agg["n_seeds"] + f["sd"] ** 2 / f["n_seeds"])
    else:
        agg["gap_to_finetune"] = np.nan
        agg["gap_se"] = np.nan
    return agg[list(TABLE_COLUMNS)]


def recommend(table: pd.DataFrame, blocks_full: int) -> str:
    """One sentence: the choice with the best dev score (ties -> fewer layers run), with numbers."""
    feats = table[table["family"] != "fine-tuning"].copy()
    if feats.empty:
        return "no feature-extraction result to recommend from"
    best_dev = feats["dev_score"].max()
    near = feats[feats["dev_score"] >= best_dev - TIE].sort_values(["layers_run", "dev_score"], ascending=[True, False])
    r = near.iloc[0]
    task = r["task"]
    text = (f"{task}: use {r['layers']} ({r['strategy']}, {r['head']} head): test {r['score']:.3f} "
            f"± {r['sd']:.3f} over {int(r['n_seeds'])} seeds, running {int(r['layers_run'])} of {blocks_full} "
            f"blocks ({r['speedup']:.1f}x the full model's tokens/s)")
    ft = table[table["family"] == "fine-tuning"]
    if len(ft):
        f = ft.iloc[0]
        text += (f"; full fine-tuning {f['score']:.3f} ± {f['sd']:.3f}, gap {r['gap_to_finetune']:+.3f} "
                 f"± {r['gap_se']:.3f}")
    for base in ("last", "second_last"):
        b = feats[(feats["strategy"] == base) & (feats["head"] == r["head"])]
        if len(b):
            text += f"; {'last layer' if base == 'last' else 'layer -2'} {b.iloc[0]['score']:.3f}"
    return text + "."


def format_table(table: pd.DataFrame) -> str:
    """BERT-Table-7-style text table (:func:`probekit.analysis.comparison_view`)."""
    from probekit.analysis import comparison_view

    return comparison_view(table).to_string(index=False)


def load_comparison_table(path: str | Path) -> pd.DataFrame:
    """Read ``compare.csv`` back (for reports)."""
    return pd.read_csv(path)


__all__ = ["compare", "Comparison", "aggregate", "target_inputs", "recommend", "format_table", "TABLE_COLUMNS"]
