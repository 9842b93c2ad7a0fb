"""Chains of stages: the ``[transfer]`` section of a suite file, and the built-in demo chain.

Suite files declare stages in order; ``from`` names an earlier stage (or a model folder)::

    [transfer]
    out = "runs/transfer"                       # relative to the suite file

    [[transfer.stages]]
    name = "general"
    kind = "pretrain"                           # pretrain | adapt | finetune
    corpus = "synthetic:general:20000"          # or a text file / folder of .txt
    vocab_also = ["synthetic:biomed:5000"]      # more text for the tokenizer only (optional)
    objective = "mlm"
    size = "mini"
    seq_len = 64
    train = { steps = 300, batch_size = 32, lr = 1e-3 }

    [[transfer.stages]]
    name = "dapt-biomed"
    kind = "adapt"
    from = "general"
    corpus = "synthetic:biomed:5000"

    [[transfer.stages]]
    name = "ft-biomed"
    kind = "finetune"
    from = "dapt-biomed"
    tasks = ["downstream:biomed:2000"]
    # zero-shot eval splits of a task, e.g. with tasks = ["synthetic-pos:general@en:1000"]:
    # extra_eval = ["pos-en:test_sov=synthetic:general@sov:500"]

Every stage lands in ``<out>/<name>`` with its ``probekit.json``; rerunning the suite skips
stages whose fingerprint is unchanged and resumes an interrupted one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from probekit.data.records import Sentence
from probekit.errors import ConfigError
from probekit.io import load_toml
from probekit.transfer.finetune import FinetuneTask
from probekit.transfer.trainer import TrainConfig

STAGE_KEYS = {"name", "kind", "from", "corpus", "vocab_also", "objective", "size", "seq_len", "vocab_size", "train",
              "stage", "tasks", "mode", "init", "max_len", "layers", "hidden", "heads", "intermediate", "dropout",
              "extra_eval"}


def _synthetic_spec(spec: str, default_n: int) -> tuple[str, str, int, str]:
    """``DOMAIN[@LANG][+ANCHOR[=VALUE]...][:N]`` -> (domain, lang, n, anchors), anchors in the
    generator's option syntax (``names=0+numbers=digits+cognates=0.5``; ``""`` for the defaults)."""
    from probekit.data.synthetic import DOMAINS, LANGUAGES, Anchors

    head, _, n = spec.partition(":")
    head, _, anchors = head.partition("+")
    domain, _, lang = head.partition("@")
    domain, lang = domain or "general", lang or "en"
    if domain not in DOMAINS:
        raise ConfigError(f"synthetic spec {spec!r}: unknown domain {domain!r}; choose one of {', '.join(DOMAINS)}")
    if lang not in LANGUAGES:
        raise ConfigError(f"synthetic spec {spec!r}: unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    if n and not n.isdigit():
        raise ConfigError(f"bad synthetic spec {spec!r}; expected DOMAIN[@LANG][+ANCHOR=VALUE...][:N], "
                          "e.g. biomed@sov:5000 or general@sov+names=0+punct=0:5000")
    return domain, lang, int(n) if n else default_n, Anchors.parse(anchors).spec()


def synthetic_sentences(spec: str, *, seed: int = 0, default_n: int = 20000) -> list[Sentence]:
    from probekit.data.synthetic import generate

    domain, lang, n, anchors = _synthetic_spec(spec, default_n)
    return generate(n, domain=domain, lang=lang, seed=seed, anchors=anchors or None)


def synthetic_texts(spec: str, *, seed: int = 0, default_n: int = 20000) -> list[str]:
    """Plain texts of a generator corpus ``DOMAIN[@LANG][+ANCHORS][:N]`` (for LM training)."""
    return [s.text or " ".join(s.tokens) for s in synthetic_sentences(spec, seed=seed, default_n=default_n)]


def parse_task(spec: str, *, seed: int = 0) -> FinetuneTask:
    """A :class:`FinetuneTask` from a spec string.

    * ``downstream:DOMAIN[@LANG][:N]``: the generator's labelled sentence task; train N,
      dev and test N/4 each (different seeds).
    * ``synthetic-pos:DOMAIN[@LANG][:N]``: UPOS tagging of generator sentences.
    * ``upos:TRAIN[,DEV[,TEST]]`` / ``xpos:...``: token task from CoNLL-U files.
    """
    kind, _, rest = spec.partition(":")
    if kind == "downstream":
        from probekit.data.synthetic import downstream_task

        domain, lang, n, anchors = _synthetic_spec(rest, 2000)
        if anchors:
            raise ConfigError(f"task spec {spec!r}: the downstream task takes no anchor options ({anchors})")
        splits = [downstream_task(domain, m, seed=seed + 101 * i, lang=lang)
                  for i, m in enumerate((n, max(1, n // 4), max(1, n // 4)))]
        return FinetuneTask(f"{domain}-{lang}" if lang != "en" else domain, "sequence", *splits)
    if kind == "synthetic-pos":
        domain, lang, n, anchors = _synthetic_spec(rest, 2000)
        opts = f"+{anchors}" if anchors else ""
        splits = [synthetic_sentences(f"{domain}@{lang}{opts}:{m}", seed=seed + 101 * i + 7)
                  for i, m in enumerate((n, max(1, n // 4), max(1, n // 4)))]
        return FinetuneTask(f"pos-{lang}", "token", *splits, label_key="upos")
    if kind in ("upos", "xpos"):
        from probekit.data.conllu import read_conllu

        files = [f for f in rest.split(",") if f]
        if not files:
            raise ConfigError(f"task spec {spec!r}: expected {kind}:TRAIN.conllu[,DEV.conllu[,TEST.conllu]]")
        splits = [list(read_conllu(f)) for f in files] + [[]] * (3 - len(files))
        return FinetuneTask(kind, "token", *splits[:3], label_key=kind)
    raise ConfigError(f"unknown task spec {spec!r}; expected downstream:DOMAIN, synthetic-pos:DOMAIN@LANG, "
                      "upos:TRAIN[,DEV[,TEST]] or xpos:...")


def parse_extra_eval(spec: str, tasks: dict[str, FinetuneTask]) -> tuple[str, str, list[Sentence]]:
    """``TASK:SPLIT=SOURCE`` with SOURCE a CoNLL-U file or ``synthetic:DOMAIN@LANG:N``."""
    left, _, source = spec.partition("=")
    name, _, split = left.partition(":")
    if name not in tasks or not split or not source:
        raise ConfigError(f"extra eval {spec!r}: expected TASK:SPLIT=FILE with TASK one of {sorted(tasks)}")
    if source.startswith("synthetic:"):
        sents = synthetic_sentences(source.split(":", 1)[1], seed=999, default_n=500)
    else:
        from probekit.data.conllu import read_conllu

        sents = list(read_conllu(source))
    return name, split, sents


def _corpus(spec: str | list[str], base: Path, seed: int) -> Any:
    if isinstance(spec, list):  # several corpora (e.g. one per language) as one text list
        from probekit.transfer.pretrain import read_texts

        return [t for one in spec for t in read_texts(_corpus(one, base, seed))]
    if spec.startswith("synthetic:"):
        return synthetic_texts(spec.split(":", 1)[1], seed=seed)
    path = Path(spec)
    return path if path.is_absolute() else base / path


def vocab_texts(specs: str | list[str] | None, base: str | Path = ".", seed: int = 0) -> list[str] | None:
    """Texts for the tokenizer only, from ``vocab_also`` specs (text files/folders, relative to
    ``base``, or ``synthetic:DOMAIN[@LANG][:N]``); ``None`` for none."""
    from probekit.transfer.pretrain import read_texts

    specs = [specs] if isinstance(specs, str) else specs or []
    return [t for spec in specs for t in read_texts(_corpus(spec, Path(base), seed))] or None


def run_chain(stages: list[dict[str, Any]], out: str | Path, *, base: str | Path = ".") -> dict[str, dict[str, Any]]:
    """Run ``stages`` (dicts as in the module docstring) in order; returns name -> lineage record."""
    from probekit.transfer.adapt import adapt
    from probekit.transfer.finetune import finetune
    from probekit.transfer.pretrain import OBJECTIVES, ModelConfig, pretrain

    out, base = Path(out), Path(base)
    done: dict[str, dict[str, Any]] = {}
    for i, st in enumerate(stages):
        unknown = set(st) - STAGE_KEYS
        if unknown or "name" not in st or st.get("kind") not in ("pretrain", "adapt", "finetune"):
            raise ConfigError(f"transfer.stages[{i}]: needs name and kind (pretrain|adapt|finetune); "
                              f"unknown keys {sorted(unknown)}; allowed {sorted(STAGE_KEYS)}")
        train = TrainConfig(**st.get("train", {}))
        target = out / st["name"]
        parent = None
        if st["kind"] != "pretrain":
            src = st.get("from")
            if src is None:
                raise ConfigError(f"transfer stage {st['name']!r}: 'from' (an earlier stage, a model folder or "
                                  "'minilm') is required")
            # an earlier stage, a folder relative to the suite, or a spec resolve_model knows (minilm, pkg:...)
            parent = out / src if src in done else (base / src if (base / src).exists() else src)
        if st["kind"] == "pretrain":
            objective = st.get("objective", "mlm")
            sizes = {k: st[k] for k in ("layers", "hidden", "heads", "intermediate", "dropout") if k in st}
            model = ModelConfig.from_size(st.get("size", "small"), arch=OBJECTIVES[objective],
                                          max_len=max(128, st.get("seq_len", 128)), **sizes)
            rec = pretrain(_corpus(st["corpus"], base, train.seed), target, objective=objective, model=model,
                           train=train, seq_len=st.get("seq_len", 128), vocab_size=st.get("vocab_size", 8000),
                           vocab_texts=vocab_texts(st.get("vocab_also"), base, train.seed))
        elif st["kind"] == "adapt":
            rec = adapt(parent, _corpus(st["corpus"], base, train.seed), target, stage=st.get("stage", "dapt"),
                        train=train, seq_len=st.get("seq_len", 128), objective=st.get("objective"))
        else:
            tasks = [parse_task(t, seed=train.seed) for t in st.get("tasks", [])]
            by_name = {t.name: t for t in tasks}
            for spec in st.get("extra_eval", []):  # zero-shot splits: "pos-en:test_sov=synthetic:general@sov:500"
                left, _, source = spec.partition("=")
                if source and not source.startswith("synthetic:") and not Path(source).is_absolute():
                    spec = f"{left}={base / source}"
                name, split, sents = parse_extra_eval(spec, by_name)
                by_name[name].extra_eval[split] = sents
            rec = finetune(parent, tasks, target, mode=st.get("mode", "full"), init=st.get("init", "pretrained"),
                           train=train, max_len=st.get("max_len", 128))
        done[st["name"]] = rec
    return done


def run_suite_transfer(suite: str | Path, out: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Run the ``[transfer]`` section of a suite TOML file (a transfer-only suite needs no
    models or tasks, so the section is read here rather than through ``probekit.suite``)."""
    suite = Path(suite)
    section = load_toml(suite).get("transfer") or {}
    if not section.get("stages"):
        raise ConfigError(f"{suite}: no [[transfer.stages]] declared")
    root = Path(out) if out else suite.parent / section.get("out", "runs/transfer")
    # `probe`/`probe_intermediate` (which checkpoints `probekit run` probes) are the suite runner's keys
    stages = [{k: v for k, v in st.items() if k not in ("probe", "probe_intermediate")} for st in section["stages"]]
    return {k: {"metrics": v.get("metrics"), "steps": v.get("steps")}
            for k, v in run_chain(stages, root, base=suite.parent).items()}


# ------------------------------------------------------------------------------- the demo

# size -> corpus sizes, vocabulary, model, LM recipe (steps, peak lr, dropout), fine-tuning steps
# and seeds. The "demo" recipe was chosen by measurement (benchmarks/RESULTS.md, "Demo transfer
# chain"): the 2-layer BERT sits on a unigram plateau (MLM loss ~5.5) for its first 500-1,500
# steps; fine-tuning gains from DAPT only once the model has left it (in-domain loss ~3 after 3,000
# DAPT steps at 1e-3; a 2e-3 peak kept it on the plateau for 2,000 steps). Fine-tuning at 2e-3
# rather than 1e-3: at 1e-3 the pre-trained runs were still climbing at step 300 and ended anywhere
# from 0.57 to 0.99; at 2e-3, from the same DAPT models, 0.81-0.99, with random init also better.
DEMO_SIZES = {
    "demo": dict(n_general=20000, n_domain=20000, n_task=1000, vocab_size=6000, size="mini", seq_len=64,
                 lm_batch=32, pretrain_steps=500, pretrain_lr=2e-3, dropout=0.0, dapt_steps=3000, dapt_lr=1e-3,
                 finetune_steps=300, finetune_lr=2e-3, finetune_seeds=3),
    "fast": dict(n_general=3000, n_domain=1500, n_task=200, vocab_size=2000, size="tiny", seq_len=32, lm_batch=16,
                 pretrain_steps=60, pretrain_lr=2e-3, dropout=0.0, dapt_steps=30, dapt_lr=1e-3,
                 finetune_steps=40, finetune_lr=2e-3, finetune_seeds=1),
}


def run_demo_chain(out_dir: str | Path, *, size: str = "demo", domain: str = "biomed", seed: int = 0,
                   threads: int | None = 1, **overrides: Any) -> dict[str, Any]:
    """Pre-train a small BERT on the generator's ``general`` corpus, adapt it to ``domain`` (DAPT),
    fine-tune on that domain's downstream task, and fine-tune the same architecture from random
    initialisation on the same labelled data.

    The WordPiece vocabulary is trained on the general and the domain text (``vocab_texts``). Each
    fine-tuning run ends on its best dev evaluation (``keep_best``), in both arms alike.

    Returns
    -------
    dict
        Headline numbers on held-out data: ``general_domain_mlm_loss`` vs ``dapt_domain_mlm_loss``
        (same in-domain text, same masks), ``pretrained_test_accuracy`` (fine-tuned from the DAPT
        model) vs ``random_init_test_accuracy``, plus ``seconds`` and the stage folders.

    ``threads`` sets torch's intra-op threads for the run (restored after; ``None``: leave torch's).
    The default, 1, costs little on an idle CPU for models this small and is 5-20x faster than 2
    threads on a CPU shared with other busy processes (OpenMP spin-waiting).
    """
    from probekit.data.synthetic import downstream_task
    from probekit.transfer.adapt import adapt
    from probekit.transfer.finetune import finetune
    from probekit.transfer.pretrain import ModelConfig, lm_loss, pretrain

    if size not in DEMO_SIZES:
        raise ConfigError(f"demo size {size!r}: expected one of {sorted(DEMO_SIZES)}")
    p = {**DEMO_SIZES[size], **overrides}
    if threads:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return run_demo_chain(out_dir, size=size, domain=domain, seed=seed, threads=None, **overrides)
        finally:
            torch.set_num_threads(before)
    out_dir = Path(out_dir)
    start = time.time()
    texts = lambda sents: [s.text or " ".join(s.tokens) for s in sents]  # noqa: E731
    from probekit.data.synthetic import generate

    general = texts(generate(p["n_general"], domain="general", seed=seed))
    in_domain = texts(generate(p["n_domain"], domain=domain, seed=seed + 1))
    held_out = texts(generate(300, domain=domain, seed=seed + 2))
    model = ModelConfig.from_size(p["size"], max_len=p["seq_len"], dropout=p["dropout"])
    lm = dict(batch_size=p["lm_batch"], seed=seed, warmup=0.1)
    # The vocabulary is trained on the domain text too: one of the small general corpus alone splits
    # the domain's words into characters ("increase" -> in ##c ##re ##as ##e), which no real
    # general-domain vocabulary does (benchmarks/RESULTS.md, "Demo transfer chain").
    pre = pretrain(general, out_dir / "general", model=model, seq_len=p["seq_len"], vocab_size=p["vocab_size"],
                   vocab_texts=in_domain,
                   train=TrainConfig(steps=p["pretrain_steps"], lr=p["pretrain_lr"],
                                     eval_every=max(1, p["pretrain_steps"] // 4),
                                     save_every=max(1, p["pretrain_steps"] // 2), **lm))
    dapt = adapt(out_dir / "general", in_domain, out_dir / f"dapt-{domain}", seq_len=p["seq_len"],
                 train=TrainConfig(steps=p["dapt_steps"], lr=p["dapt_lr"], **lm))
    general_loss = lm_loss(out_dir / "general", held_out, seq_len=p["seq_len"], seed=seed)["eval_loss"]
    dapt_loss = lm_loss(out_dir / f"dapt-{domain}", held_out, seq_len=p["seq_len"], seed=seed)["eval_loss"]

    splits = [downstream_task(domain, n, seed=seed + 10 + i) for i, n in enumerate((p["n_task"], 200, 500))]
    task = FinetuneTask(domain, "sequence", *splits)
    # One fine-tuning run of a small model on 1,000 examples is noisy (0.67-0.97 seen from one
    # pre-trained model), so both arms run the same fine-tuning seeds and are compared per seed.
    key = f"{domain}.test.accuracy"
    accuracy: dict[str, list[float]] = {"pretrained": [], "random": []}
    ft = None
    for ft_seed in range(seed, seed + p["finetune_seeds"]):
        suffix = "" if ft_seed == seed else f"-seed{ft_seed}"
        # Both arms end on their best dev evaluation: a small model fine-tuned on 1,000 examples
        # can fall off late in a run, and the comparison is of what each init can reach.
        ft_train = TrainConfig(steps=p["finetune_steps"], batch_size=32, lr=p["finetune_lr"], warmup=0.1,
                               seed=ft_seed,
                               eval_every=max(1, p["finetune_steps"] // 6), keep_best=f"{domain}.dev.accuracy")
        run = finetune(out_dir / f"dapt-{domain}", task, out_dir / f"ft-{domain}{suffix}", train=ft_train,
                       max_len=p["seq_len"])
        rnd = finetune(out_dir / f"dapt-{domain}", task, out_dir / f"ft-{domain}-random-init{suffix}",
                       init="random", train=ft_train, max_len=p["seq_len"])
        ft = ft or run
        accuracy["pretrained"].append(run["metrics"][key])
        accuracy["random"].append(rnd["metrics"][key])
    return {
        "domain": domain, "size": size,
        "general_domain_mlm_loss": general_loss, "dapt_domain_mlm_loss": dapt_loss,
        "pretrained_test_accuracy": float(np.mean(accuracy["pretrained"])),
        "random_init_test_accuracy": float(np.mean(accuracy["random"])),
        "pretrained_test_accuracy_sd": float(np.std(accuracy["pretrained"])),
        "random_init_test_accuracy_sd": float(np.std(accuracy["random"])),
        "pretrained_test_accuracy_per_seed": accuracy["pretrained"],
        "random_init_test_accuracy_per_seed": accuracy["random"],
        # paired by fine-tuning seed (same batch order and head initialisation in both arms)
        "pretrained_wins": int(sum(a > b for a, b in zip(accuracy["pretrained"], accuracy["random"]))),
        "pretrain_eval_loss": pre["metrics"].get("eval_loss"), "dapt_eval_loss": dapt["metrics"].get("eval_loss"),
        "n_test": ft["metrics"].get(f"{domain}.test.n"), "seconds": time.time() - start,
        "stages": {name: str(out_dir / name) for name in
                   ("general", f"dapt-{domain}", f"ft-{domain}", f"ft-{domain}-random-init")},
    }


def format_headline(result: dict[str, Any]) -> str:
    """Two-line human summary of :func:`run_demo_chain`."""
    seeds = len(result.get("pretrained_test_accuracy_per_seed", [0]))
    acc = f"test accuracy {result['pretrained_test_accuracy']:.3f}"
    rnd = f"{result['random_init_test_accuracy']:.3f}"
    per_seed = ""
    if seeds > 1:
        acc += f" +- {result['pretrained_test_accuracy_sd']:.3f}"
        rnd += f" +- {result['random_init_test_accuracy_sd']:.3f}"
        per_seed = (f"; per fine-tuning seed {', '.join(f'{v:.3f}' for v in result['pretrained_test_accuracy_per_seed'])}"
                    f" vs {', '.join(f'{v:.3f}' for v in result['random_init_test_accuracy_per_seed'])}; "
                    f"pre-trained better in {result['pretrained_wins']} of {seeds}")
    return (f"transfer demo ({result['domain']}, {result['seconds']:.0f}s): fine-tuned from pre-trained+DAPT "
            f"{acc} vs random init {rnd} (n={result['n_test']}, mean{' +- sd' if seeds > 1 else ''} of "
            f"{seeds} fine-tuning seed{'s' if seeds > 1 else ''}{per_seed})\n"
            f"in-domain MLM loss: general {result['general_domain_mlm_loss']:.3f} -> DAPT "
            f"{result['dapt_domain_mlm_loss']:.3f}")
