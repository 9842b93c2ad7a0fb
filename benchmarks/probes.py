"""Benchmark: linear probes on all layers, scikit-learn loop vs. probekit's batched probes.

Data: real all-MiniLM-L6-v2 word features (mean-pooled subwords, 7 hidden states x 384 dims)
of the first ~62.5k tokens of UD EWT train, UPOS labels (17 classes): 50,000 tokens to train,
the rest to test. Features come from ``probekit.extract`` (cached after the first run).

Compared, each in a fresh child process (so peak RSS is per method):
* scikit-learn ``LogisticRegression(lbfgs, C=1)`` in float64, one layer after the other;
* probekit ``fit_layers(LinearProbe(alpha=1/(C n)))``: one float32 batched model for 7 layers
  (defaults: Adam lr 1e-2, patience 2, then one per-layer lr/10 decay on a validation plateau);
* probekit ``fit_layers(MLPProbe())``: batched MLP probes (256 hidden units).

    .venv/bin/python benchmarks/probes.py [--tokens 50000] [--threads 1]
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


def _run(method: str, X, y, Xte, yte, threads: int, queue) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    # Same thread budget for every method (BLAS for scikit-learn, intra-op for torch).
    threadpool_limits(threads)
    torch.set_num_threads(threads)
    base = _peak_mb()
    t0 = time.perf_counter()
    if method == "sklearn":
        from sklearn.linear_model import LogisticRegression

        accs = []
        for layer in range(X.shape[0]):
            clf = LogisticRegression(C=1.0, max_iter=1000).fit(X[layer].astype(np.float64), y)
            accs.append(clf.score(Xte[layer].astype(np.float64), yte))
    else:
        from probekit.probes import LinearProbe, MLPProbe, fit_layers

        est = LinearProbe(alpha=1.0 / len(y)) if method == "linear" else MLPProbe()
        probes = fit_layers(est, X, y)
        accs = [p.score(Xte[i], yte) for i, p in enumerate(probes)]
    queue.put((method, time.perf_counter() - t0, accs, _peak_mb(), base))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads for every method (default 1: the machine is shared)")
    args = ap.parse_args()
    X, y, Xte, yte = load_features(args.tokens)
    print(f"features: train {X.shape} test {Xte.shape}, {len(np.unique(y))} classes, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, {args.threads} thread(s) per method")
    ctx = mp.get_context("fork")
    results = {}
    for method in ("sklearn", "linear", "mlp"):
        q = ctx.Queue()
        p = ctx.Process(target=_run, args=(method, X, y, Xte, yte, args.threads, q))
        p.start()
        results[method] = q.get()
        p.join()
        print(f"  {method}: {results[method][1]:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    sk_time, sk_acc = results["sklearn"][1], results["sklearn"][2]
    print(f"\n{'method':<34}{'time s':>8}{'speedup':>9}{'peak RSS MB':>13}  accuracy per layer (%)")
    names = {"sklearn": "sklearn LogisticRegression loop", "linear": "probekit batched LinearProbe",
             "mlp": "probekit batched MLPProbe"}
    for m, (_, t, accs, peak, base) in results.items():
        print(f"{names[m]:<34}{t:>8.1f}{sk_time / t:>8.1f}x{peak:>13.0f}  "
              + " ".join(f"{100 * a:.1f}" for a in accs))
    diff = np.abs(np.array(results["linear"][2]) - np.array(sk_acc)) * 100
    print(f"\nlinear vs sklearn: max |accuracy difference| {diff.max():.2f} points; "
          f"MLP / linear time {results['mlp'][1] / results['linear'][1]:.2f}x; "
          f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
