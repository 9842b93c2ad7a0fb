"""Benchmark: linear probes on all layers, scikit-learn loop vs. probekit's batched probes.

Data: real all-MiniLM-L6-v2 word features (mean-pooled subwords, 7 hidden states x 384 dims)
of the first ~62.5k tokens of UD EWT train, UPOS labels (17 classes): 50,000 tokens to train,
the rest to test. Features come from ``probekit.extract`` (cached after the first run).

Compared, each in a fresh child process (so peak RSS is per method):
* scikit-learn ``LogisticRegression(lbfgs, C=1)`` in float64, one layer after the other;
* probekit ``fit_layers(LinearProbe(alpha=1/(C n)))``: one float32 batched problem for 7 layers
  (Adam over all training rows, 15 epochs, the rate from 2e-2 to 0 along a cosine; no early
  stopping, as scikit-learn minimises the same penalised loss);
* probekit ``fit_layers(MLPProbe())``: batched MLP probes (256 hidden units, dropout 0.2, Adam,
  4 epochs of a cosine schedule from 2e-2, best-validation weights kept);
* (``--methods ...,lbfgs``) ``LinearProbe(solver="lbfgs")``: full-batch L-BFGS over row chunks.

Peak RSS is reported above each child's own starting point (the fork inherits the parent's
features and libraries), beside the training features' own size.

    .venv/bin/python benchmarks/probes.py [--tokens 50000] [--threads 1] [--methods sklearn,linear,mlp]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time

import numpy as np


def load_features(n_tokens: int):
    from probekit.data.conllu import read_conllu
    from probekit.extract import extract, target_features
    from probekit.paths import minilm_path, require_data_file
    from probekit.tasks import get_task

    sents = read_conllu(require_data_file("ud-english-ewt/en_ewt-ud-train.conllu"))
    chosen, total = [], 0
    for s in sents:
        if total >= n_tokens * 1.25:
            break
        chosen.append(s)
        total += len(s)
    data = get_task("pos").examples(chosen)
    reps = extract(str(minilm_path()), data.records, layers="all", progress=True)
    X = target_features(reps, data)
    y = data.label_ids()
    return X[:, :n_tokens], y[:n_tokens], X[:, n_tokens:], y[n_tokens:]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_mb() -> float:
    """Resident memory now (the baseline a child starts from, inherited at the fork)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _run(method: str, X, y, Xte, yte, threads: int, queue) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    # Same thread budget for every method (BLAS for scikit-learn, intra-op for torch).
    threadpool_limits(threads)
    torch.set_num_threads(threads)
    base = _current_mb()
    t0 = time.perf_counter()
    if method == "sklearn":
        from sklearn.linear_model import LogisticRegression

        accs, iters = [], []
        for layer in range(X.shape[0]):
            clf = LogisticRegression(C=1.0, max_iter=1000).fit(X[layer].astype(np.float64), y)
            accs.append(clf.score(Xte[layer].astype(np.float64), yte))
            iters.append(int(np.max(clf.n_iter_)))
        extra = f"lbfgs iterations per layer {iters}"
    else:
        from probekit.probes import LinearProbe, MLPProbe, fit_layers

        est = {"linear": LinearProbe(alpha=1.0 / len(y)), "mlp": MLPProbe(),
               "lbfgs": LinearProbe(alpha=1.0 / len(y), solver="lbfgs")}[method]
        probes = fit_layers(est, X, y)
        accs = [p.score(Xte[i], yte) for i, p in enumerate(probes)]
        extra = f"epochs/iterations per layer {[int(p.n_iter_) for p in probes]}"
        if hasattr(probes[0], "n_passes_"):
            extra += f", {probes[0].n_passes_} passes over the data"
    queue.put((method, time.perf_counter() - t0, accs, _peak_mb(), base, extra))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads for every method (default 1: the machine is shared)")
    ap.add_argument("--methods", default="sklearn,linear,mlp",
                    help="comma-separated, from sklearn,linear,mlp,lbfgs (lbfgs: the streaming "
                    "solver; speed-ups are against sklearn when it is run)")
    args = ap.parse_args()
    X, y, Xte, yte = load_features(args.tokens)
    feat_mb = X.nbytes / 2**20
    print(f"features: train {X.shape} {X.dtype} = {feat_mb:.0f} MB, test {Xte.shape}, "
          f"{len(np.unique(y))} classes, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
          f"{args.threads} thread(s) per method")
    ctx = mp.get_context("fork")
    results = {}
    for method in args.methods.split(","):
        q = ctx.Queue()
        load = os.getloadavg()[0]
        p = ctx.Process(target=_run, args=(method, X, y, Xte, yte, args.threads, q))
        p.start()
        results[method] = q.get() + (load, os.getloadavg()[0])
        p.join()
        print(f"  {method}: {results[method][1]:.1f} s (load {load:.1f} -> {os.getloadavg()[0]:.1f}) "
              f"{results[method][5]}", flush=True)
    ref = results.get("sklearn")
    print(f"\n{'method':<34}{'time s':>8}{'speedup':>9}{'RSS above start MB':>20}{'x features':>11}"
          f"{'load':>11}  accuracy per layer (%)")
    names = {"sklearn": "sklearn LogisticRegression loop", "linear": "probekit batched LinearProbe",
             "mlp": "probekit batched MLPProbe", "lbfgs": "probekit LinearProbe(solver=lbfgs)"}
    for m, (_, t, accs, peak, base, _extra, l0, l1) in results.items():
        speed = f"{ref[1] / t:>8.1f}x" if ref else f"{'-':>9}"
        print(f"{names[m]:<34}{t:>8.1f}{speed}{peak - base:>20.0f}{(peak - base) / feat_mb:>10.2f}x"
              f"{f'{l0:.1f}-{l1:.1f}':>11}  " + " ".join(f"{100 * a:.1f}" for a in accs))
    notes = []
    if ref and "linear" in results:
        diff = (np.array(results["linear"][2]) - np.array(ref[2])) * 100
        notes.append(f"linear vs sklearn: max |accuracy difference| {np.abs(diff).max():.2f} points "
                     f"(per layer {' '.join(f'{d:+.2f}' for d in diff)})")
    if "mlp" in results and "linear" in results:
        notes.append(f"MLP / linear time {results['mlp'][1] / results['linear'][1]:.2f}x")
    print("\n" + "; ".join(notes + [f"features {feat_mb:.0f} MB", f"load average at end {os.getloadavg()[0]:.1f}"]))


if __name__ == "__main__":
    main()
