"""Chains of stages: the ``[transfer]`` section of a suite file (``probes/demo.toml`` holds the demo's).

Suite files declare stages in order; ``from`` names an earlier stage (or a model folder)::

    [transfer]
    out = "runs/transfer"                       # relative to the suite file

    [[transfer.stages]]
    name = "general"
    kind = "pretrain"                           # pretrain | adapt | finetune
    corpus = "synthetic:general:20000"          # or a text file / folder of .txt / a CoNLL-U file
                                                # (its sentences' text), or a list of them
    # interleave = true                         # a list's texts in turn (corpus 1's first, corpus 2's
    #                                           # first, ...): parallel corpora side by side in a block
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
    # seeds = [0, 1, 2]                         # one copy per seed: ft-biomed, ft-biomed-seed1, ...
    # zero-shot eval splits of a task, e.g. with tasks = ["synthetic-pos:general@en:1000"]:
    # extra_eval = ["pos-en:test_sov=synthetic:general@sov:500"]
    # or, a sentence task such as "synthetic-label:tense:general@en:1000", in its own kind:
    # extra_eval = ["tense-en:test_sov=synthetic-label:tense:general@sov:500"]

Every stage lands in ``<out>/<name>`` with its ``probekit.json``; rerunning the suite skips
stages whose fingerprint is unchanged and resumes an interrupted one.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np

from probekit.data.records import Sentence
from probekit.errors import ConfigError
from probekit.io import load_toml
from probekit.transfer.finetune import FinetuneTask
from probekit.transfer.steps import arm_key
from probekit.transfer.trainer import TrainConfig

# CoNLL-U tasks of fine-tuning: spec kind -> Sentence attribute with the labels (ud-deps: heads
# and universal relations)
CONLLU_TASKS = {"upos": "upos", "xpos": "xpos", "udeprel": "udeprels", "ud-deps": "udeprels"}
# extra_eval sources the generator makes (any other source is a file, relative to the data root)
GENERATED_SOURCES = ("synthetic:", "downstream:", "synthetic-label:")
STAGE_KEYS = {"name", "kind", "from", "corpus", "vocab_also", "objective", "size", "seq_len", "vocab_size", "train",
              "stage", "tasks", "mode", "init", "max_len", "layers", "hidden", "heads", "intermediate", "dropout",
              "extra_eval", "interleave"}
# A stage's own sweep axis: `seeds = [0, 1, 2]` declares one copy of the stage per seed (expand_seeds).
SWEEP_KEYS = {"seeds"}


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
    try:
        anchors = Anchors.parse(anchors).spec()
    except ConfigError as e:
        raise ConfigError(f"synthetic spec {spec!r}: {e}") from None
    return domain, lang, int(n) if n else default_n, anchors


def synthetic_sentences(spec: str, *, seed: int = 0, default_n: int = 20000) -> list[Sentence]:
    from probekit.data.synthetic import generate

    domain, lang, n, anchors = _synthetic_spec(spec, default_n)
    return generate(n, domain=domain, lang=lang, seed=seed, anchors=anchors or None)


def synthetic_texts(spec: str, *, seed: int = 0, default_n: int = 20000) -> list[str]:
    """Plain texts of a generator corpus ``DOMAIN[@LANG][+ANCHORS][:N]`` (for LM training)."""
    return [s.text or " ".join(s.tokens) for s in synthetic_sentences(spec, seed=seed, default_n=default_n)]


def _task_sizes(spec: str, rest: str) -> tuple[str, str, tuple[int, int, int], str]:
    """``DOMAIN[@LANG][+ANCHORS][:N[,DEV,TEST]]`` of a generator task spec -> (domain, lang,
    (train, dev, test) sizes, anchors); dev and test default to N/4 each."""
    head, _, sizes = rest.partition(",")
    domain, lang, n, anchors = _synthetic_spec(head, 2000)
    try:
        dev_n, test_n = (int(x) for x in sizes.split(",")) if sizes else (max(1, n // 4),) * 2
    except ValueError:
        kind = spec.partition(":")[0]
        raise ConfigError(f"task spec {spec!r}: expected {kind}:DOMAIN[@LANG][:N[,DEV,TEST]], "
                          f"e.g. {kind}:biomed:300,200,500") from None
    return domain, lang, (n, dev_n, test_n), anchors


def parse_task(spec: str, *, seed: int = 0) -> FinetuneTask:
    """A :class:`FinetuneTask` from a spec string.

    * ``downstream:DOMAIN[@LANG][+ANCHORS][:N[,DEV,TEST]]``: the generator's labelled sentence
      task; train N, dev and test DEV and TEST sentences (default N/4 each; different seeds). A
      low-data fine-tuning set wants its own, larger test split: ``downstream:biomed:300,200,500``.
      ANCHORS as in a generator corpus spec (``general@sov+numbers=digits+cognates=0.5``): give
      the task the anchors its model was pre-trained with.
    * ``synthetic-pos:DOMAIN[@LANG][+ANCHORS][:N[,DEV,TEST]]``: UPOS tagging of generator
      sentences (the same split sizes: ``synthetic-pos:reviews:50,100,200`` is 50 labelled sentences).
    * ``synthetic-label:KEY:DOMAIN[@LANG][+ANCHORS][:N[,DEV,TEST]]``: a sentence task on a label
      every generated sentence carries (KEY ``tense``, ``subj_num`` or ``obj_num``, decided by
      the main clause), classes balanced: ``synthetic-label:tense:general@en:1000``.
    * ``upos:TRAIN[,DEV[,TEST]]`` / ``xpos:...`` / ``udeprel:...``: token task from CoNLL-U
      files; ``udeprel`` tags each word with its universal relation (subtype dropped, the labels
      two languages' treebanks share).
    * ``synthetic-deps:DOMAIN[@LANG][:N[,DEV,TEST]]``: dependency parsing (each word's head and
      relation) of the sentences ``synthetic-pos`` with the same spec and seed tags;
      ``ud-deps:TRAIN[,DEV[,TEST]]``: the same from CoNLL-U files, universal relations. Metrics
      ``uas`` and ``las`` (:class:`~probekit.transfer.finetune.BiaffineDeps`).
    """
    kind, _, rest = spec.partition(":")
    if kind == "downstream":
        domain, lang, sizes, anchors = _task_sizes(spec, rest)
        splits = [_sentence_task(kind, domain, lang, anchors, m, seed + 101 * i) for i, m in enumerate(sizes)]
        return FinetuneTask(f"{domain}-{lang}" if lang != "en" else domain, "sequence", *splits)
    if kind == "synthetic-pos":
        domain, lang, sizes, anchors = _task_sizes(spec, rest)
        opts = f"+{anchors}" if anchors else ""
        splits = [synthetic_sentences(f"{domain}@{lang}{opts}:{m}", seed=seed + 101 * i + 7)
                  for i, m in enumerate(sizes)]
        return FinetuneTask(f"pos-{lang}", "token", *splits, label_key="upos")
    if kind == "synthetic-label":
        from probekit.data.synthetic import SENTENCE_LABELS

        key, _, rest = rest.partition(":")
        if key not in SENTENCE_LABELS:
            raise ConfigError(f"task spec {spec!r}: unknown sentence label {key!r}; expected synthetic-label:KEY:"
                              f"DOMAIN[@LANG][+ANCHORS][:N[,DEV,TEST]] with KEY one of {', '.join(SENTENCE_LABELS)}, "
                              "e.g. synthetic-label:tense:general@en:1000")
        domain, lang, sizes, anchors = _task_sizes(spec, rest)
        splits = [_sentence_task(f"{kind}:{key}", domain, lang, anchors, m, seed + 101 * i + 7)
                  for i, m in enumerate(sizes)]
        return FinetuneTask(f"{key}-{lang}", "sequence", *splits, label_key=key)
    if kind in CONLLU_TASKS:
        from probekit.data.conllu import read_conllu

        files = [f for f in rest.split(",") if f]
        if not files:
            raise ConfigError(f"task spec {spec!r}: expected {kind}:TRAIN.conllu[,DEV.conllu[,TEST.conllu]]")
        splits = [list(read_conllu(f)) for f in files] + [[]] * (3 - len(files))
        return FinetuneTask(kind, "deps" if kind == "ud-deps" else "token", *splits[:3], label_key=CONLLU_TASKS[kind])
    if kind == "synthetic-deps":
        _, lang, _, _ = _task_sizes(spec, rest)  # (its errors name synthetic-deps)
        pos = parse_task(f"synthetic-pos:{rest}", seed=seed)
        return FinetuneTask(f"deps-{lang}", "deps", pos.train, pos.dev, pos.test, label_key="deprels")
    raise ConfigError(f"unknown task spec {spec!r}; expected downstream:DOMAIN, synthetic-pos:DOMAIN@LANG, "
                      "synthetic-label:KEY:DOMAIN@LANG, synthetic-deps:DOMAIN@LANG, upos:TRAIN[,DEV[,TEST]], "
                      "xpos:..., udeprel:... or ud-deps:...")


def _sentence_task(kind: str, domain: str, lang: str, anchors: str, n: int, seed: int) -> list[Sentence]:
    """One split of a generator sentence task: ``kind`` ``downstream`` or ``synthetic-label:KEY``."""
    from probekit.data.synthetic import downstream_task, label_task

    if kind == "downstream":
        return downstream_task(domain, n, seed=seed, lang=lang, anchors=anchors or None)
    return label_task(kind.partition(":")[2], n, domain=domain, lang=lang, seed=seed, anchors=anchors or None)


def _files_relative_to(spec: str, base: Path) -> str:
    """A CoNLL-U task spec with its relative files read from ``base`` (the suite's data root)."""
    kind, _, rest = spec.partition(":")
    if kind not in CONLLU_TASKS:
        return spec
    return f"{kind}:" + ",".join(f if not f or Path(f).is_absolute() else str(base / f) for f in rest.split(","))


def parse_extra_eval(spec: str, tasks: dict[str, FinetuneTask]) -> tuple[str, str, list[Sentence]]:
    """``TASK:SPLIT=SOURCE`` with SOURCE a CoNLL-U file, ``synthetic:DOMAIN@LANG:N`` (generated
    sentences, for a token task), or a sentence task's own kind in another language,
    ``downstream:DOMAIN@LANG[+ANCHORS]:N`` or ``synthetic-label:KEY:DOMAIN@LANG[+ANCHORS]:N``
    (N labelled sentences, balanced as the task's)."""
    left, _, source = spec.partition("=")
    name, _, split = left.partition(":")
    if name not in tasks or not split or not source:
        raise ConfigError(f"extra eval {spec!r}: expected TASK:SPLIT=FILE with TASK one of {sorted(tasks)}")
    kind, _, rest = source.partition(":")
    if kind == "synthetic":
        sents = synthetic_sentences(rest, seed=999, default_n=500)
    elif kind in ("downstream", "synthetic-label"):
        if kind == "synthetic-label":
            key, _, rest = rest.partition(":")
            kind = f"{kind}:{key}"
        domain, lang, n, anchors = _synthetic_spec(rest, 500)
        sents = _sentence_task(kind, domain, lang, anchors, n, seed=999)
    else:
        from probekit.data.conllu import read_conllu

        sents = list(read_conllu(source))
    return name, split, sents


def _corpus(spec: str | list[str], base: Path, seed: int, interleave: bool = False) -> Any:
    if isinstance(spec, list):  # several corpora (e.g. one per language) as one text list
        from itertools import zip_longest

        from probekit.transfer.pretrain import read_texts

        parts = [read_texts(_corpus(one, base, seed)) for one in spec]
        if interleave:  # text i of every corpus in turn: translations side by side in a packed block
            return [t for group in zip_longest(*parts) for t in group if t is not None]
        return [t for part in parts for t in part]
    if spec.startswith("synthetic:"):
        return synthetic_texts(spec.split(":", 1)[1], seed=seed)
    path = Path(spec)
    path = path if path.is_absolute() else base / path
    if path.suffix in (".conllu", ".conll"):  # a treebank's running text, one sentence per text
        from probekit.data.conllu import read_conllu

        return [s.text or " ".join(s.tokens) for s in read_conllu(path)]
    return path


def vocab_texts(specs: str | list[str] | None, base: str | Path = ".", seed: int = 0) -> list[str] | None:
    """Texts for the tokenizer only, from ``vocab_also`` specs (text files/folders, relative to
    ``base``, or ``synthetic:DOMAIN[@LANG][:N]``); ``None`` for none."""
    from probekit.transfer.pretrain import read_texts

    specs = [specs] if isinstance(specs, str) else specs or []
    return [t for spec in specs for t in read_texts(_corpus(spec, Path(base), seed))] or None


def expand_seeds(stages: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Stages with a ``seeds`` list as one stage per seed, each with its ``(file index, stage)``.

    ``seeds = [0, 1, 2]`` on a stage named ``ft`` declares ``ft`` (``train.seed`` 0), ``ft-seed1``
    and ``ft-seed2``: the first seed keeps the name (so later stages' ``from`` and the probed
    checkpoint name it) and is the only copy probed (``probe``/``probe_intermediate``); the others
    are fine-tuned for the comparisons over seeds. Stages without ``seeds`` pass unchanged.
    """
    out = []
    for i, st in enumerate(stages):
        seeds = st.get("seeds")
        if seeds is None:
            out.append((i, st))
            continue
        name = st.get("name")
        if not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds) \
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
            raise ConfigError(f"transfer stage {name!r}: seeds = {seeds!r}; use a list of distinct integers, "
                              "e.g. seeds = [0, 1, 2]")
        if "seed" in (st.get("train") or {}):
            raise ConfigError(f"transfer stage {name!r}: both seeds and train.seed are given; keep one")
        for k, seed in enumerate(seeds):
            copy = {key: value for key, value in st.items() if key != "seeds"}
            copy["train"] = {**(st.get("train") or {}), "seed": seed}
            if k:
                copy.update(name=f"{name}-seed{seed}", probe=False, probe_intermediate=False)
            out.append((i, copy))
    return out


def run_chain(stages: list[dict[str, Any]], out: str | Path, *, base: str | Path = ".",
              data_root: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Run ``stages`` (dicts as in the module docstring) in order; returns name -> lineage record.

    Relative model folders (``from``) are read from ``base`` (the suite file's folder); relative
    data files (``corpus``, ``vocab_also``, the files of ``tasks`` and ``extra_eval``) from
    ``data_root`` (the suite's ``data.root``) where given, else from ``base`` too.
    """
    from probekit.transfer.adapt import adapt
    from probekit.transfer.finetune import finetune
    from probekit.transfer.pretrain import OBJECTIVES, ModelConfig, pretrain

    out, base = Path(out), Path(base)
    data = Path(data_root) if data_root is not None else base
    done: dict[str, dict[str, Any]] = {}
    for i, st in enumerate(stages):
        unknown = set(st) - STAGE_KEYS
        if unknown or "name" not in st or st.get("kind") not in ("pretrain", "adapt", "finetune"):
            raise ConfigError(f"transfer.stages[{i}]: needs name and kind (pretrain|adapt|finetune); "
                              f"unknown keys {sorted(unknown)}; allowed {sorted(STAGE_KEYS)}")
        if "interleave" in st and (st["kind"] == "finetune" or not isinstance(st.get("corpus"), list)):
            raise ConfigError(f"transfer stage {st['name']!r}: interleave takes turns between the corpora of a "
                              "pretrain or adapt stage's corpus list; fix: corpus = [A, B, ...] or drop interleave")
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
            # a named size, then any of layers/hidden/heads/intermediate/dropout given beside it
            sizes = {k: st[k] for k in ("layers", "hidden", "heads", "intermediate", "dropout") if k in st}
            model = dataclasses.replace(ModelConfig.from_size(st.get("size", "small"), arch=OBJECTIVES[objective],
                                                              max_len=max(128, st.get("seq_len", 128))), **sizes)
            rec = pretrain(_corpus(st["corpus"], data, train.seed, st.get("interleave", False)), target, objective=objective, model=model,
                           train=train, seq_len=st.get("seq_len", 128), vocab_size=st.get("vocab_size", 8000),
                           vocab_texts=vocab_texts(st.get("vocab_also"), data, train.seed))
        elif st["kind"] == "adapt":
            rec = adapt(parent, _corpus(st["corpus"], data, train.seed, st.get("interleave", False)), target, stage=st.get("stage", "dapt"),
                        train=train, seq_len=st.get("seq_len", 128), objective=st.get("objective"))
        else:
            tasks = [parse_task(_files_relative_to(t, data), seed=train.seed) for t in st.get("tasks", [])]
            by_name = {t.name: t for t in tasks}
            for spec in st.get("extra_eval", []):  # zero-shot splits: "pos-en:test_sov=synthetic:general@sov:500"
                left, _, source = spec.partition("=")
                if source and not source.startswith(GENERATED_SOURCES) and not Path(source).is_absolute():
                    spec = f"{left}={data / source}"
                name, split, sents = parse_extra_eval(spec, by_name)
                by_name[name].extra_eval[split] = sents
            rec = finetune(parent, tasks, target, mode=st.get("mode", "full"), init=st.get("init", "pretrained"),
                           train=train, max_len=st.get("max_len", 128))
        done[st["name"]] = rec
    return done


def run_suite_transfer(suite: str | Path, out: str | Path | None = None,
                       data_root: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Run the ``[transfer]`` section of a suite TOML file (a transfer-only suite needs no
    models or tasks, so the section is read here rather than through ``probekit.suite``).
    Data files are read from ``data_root``, else from the suite's ``[data] root``, else
    relative to the suite file."""
    suite = Path(suite)
    raw = load_toml(suite)
    section = raw.get("transfer") or {}
    if data_root is None and (raw.get("data") or {}).get("root") is not None:
        data_root = suite.parent / raw["data"]["root"]
    if not section.get("stages"):
        raise ConfigError(f"{suite}: no [[transfer.stages]] declared")
    root = Path(out) if out else suite.parent / section.get("out", "runs/transfer")
    # `probe`/`probe_intermediate` (which checkpoints `probekit run` probes) are the suite runner's keys
    stages = [{k: v for k, v in st.items() if k not in ("probe", "probe_intermediate")}
              for _, st in expand_seeds(section["stages"])]
    return {k: {"metrics": v.get("metrics"), "steps": v.get("steps")}
            for k, v in run_chain(stages, root, base=suite.parent, data_root=data_root).items()}


# ------------------------------------------------------- what pre-training buys: paired arms

_TEST_SCORE = re.compile(r"\.test(_[^.]+)?\.(accuracy|uas|las)$")


def init_comparisons(stages: list[dict[str, Any]], metrics: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Fine-tuned from the parent's weights vs from random initialisation, paired by seed.

    Parameters
    ----------
    stages : list of dict
        Stage declarations as in the module docstring (``[[transfer.stages]]``).
    metrics : dict
        Stage name -> its lineage ``metrics`` (stages not run yet are simply absent).

    Returns
    -------
    list of dict
        One entry per group of ``finetune`` stages that differ only in ``init`` and
        ``train.seed``, and per test score they report (``<task>.test.accuracy``, or ``uas`` /
        ``las`` of a dependency task, and the zero-shot ``extra_eval`` splits named ``test_*``,
        e.g. ``pos-en.test_sov.accuracy``, ``deps-en.test_sov.las``), with
        ``metric``, ``parent``, ``seeds`` (those both arms ran), ``pretrained`` / ``random``
        (values per seed, in ``seeds`` order), their stage names, and ``wins`` (seeds where the
        pre-trained arm scored higher). A seed sets the fine-tuning data draw, head and batch
        order alike in both arms, so the arms are compared seed by seed.
    """
    groups: dict[str, dict[str, dict[int, str]]] = {}
    for st in stages:
        if st.get("kind") != "finetune" or st.get("name") not in metrics:
            continue
        seed = int((st.get("train") or {}).get("seed", 0))
        groups.setdefault(arm_key(st), {}).setdefault(st.get("init", "pretrained"), {})[seed] = st["name"]
    out = []
    for arms in groups.values():
        pre, rnd = arms.get("pretrained", {}), arms.get("random", {})
        seeds = sorted(set(pre) & set(rnd))
        if not seeds:
            continue
        first = next(st for st in stages if st.get("name") == pre[seeds[0]])
        for metric in sorted(k for k in metrics[pre[seeds[0]]] if _TEST_SCORE.search(k)):
            a = [float(metrics[pre[s]][metric]) for s in seeds]
            b = [float(metrics[rnd[s]].get(metric, float("nan"))) for s in seeds]
            out.append({"metric": metric, "parent": first.get("from"), "seeds": seeds,
                        "pretrained": a, "random": b, "pretrained_stages": [pre[s] for s in seeds],
                        "random_stages": [rnd[s] for s in seeds], "wins": int(sum(x > y for x, y in zip(a, b)))})
    return out


def format_init_comparison(comparison: dict[str, Any], *, brief: bool = False) -> str:
    """A comparison of :func:`init_comparisons` in words, with its numbers (``brief``: one
    sentence for a report's summary, without the per-seed values and stage names)."""
    a, b, n = np.array(comparison["pretrained"]), np.array(comparison["random"]), len(comparison["seeds"])
    # The sample standard deviation over seeds (ddof=1), as the scores' summaries and RESULTS.md give it.
    spread = lambda x: f"{x.mean():.3f}" + (f" +- {x.std(ddof=1):.3f}" if n > 1 else "")  # noqa: E731
    per_seed = lambda x: ", ".join(f"{v:.3f}" for v in x)  # noqa: E731
    gain = f"{float((a - b).mean()):+.3f}" + (f" +- {(a - b).std(ddof=1):.3f}" if n > 1 else "")
    if brief:
        return (f"Transfer: {comparison['metric']} fine-tuned from {comparison['parent']} {spread(a)} vs from "
                f"random init {spread(b)} over {n} paired seed{'s' if n > 1 else ''}; pre-trained better in "
                f"{comparison['wins']} of {n} (gain {gain}).")
    arms = " / ".join(f"{p} vs {r}" for p, r in zip(comparison["pretrained_stages"], comparison["random_stages"]))
    return (f"{comparison['metric']}: fine-tuned from {comparison['parent']} {spread(a)} vs from random init "
            f"{spread(b)} (mean{' +- sd' if n > 1 else ''} over {n} seed{'s' if n > 1 else ''}: "
            f"{per_seed(a)} vs {per_seed(b)}); pre-trained better in {comparison['wins']} of {n}; gain {gain}. "
            f"Stages: {arms}.")
