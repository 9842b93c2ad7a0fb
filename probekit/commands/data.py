"""``probekit data generate`` and ``probekit data stats``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

GENERATE_EPILOG = """\
examples:
  probekit data generate --domain general --sentences 50000 --out data/general
  probekit data generate --domain biomed --lang sov --sentences 20000 --seed 1 --out data/bio-sov
  probekit data generate --domain reviews --sentences 0 --downstream 5000 --out data/reviews

output (in --out):
  corpus.conllu       every layer; constituents, entities, SRL, coreference and sentence
                      labels ride in '# key = value' comments (restored by `data stats` and by
                      probekit.data.synthetic.restore_layers)
  corpus.txt          one tokenized sentence per line (language-model training)
  jsonl/<task>.jsonl  jiant edge-probing records per probing task
  downstream.*        with --downstream N: the domain's labelled classification task
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data generate`` and ``data stats`` to the ``probekit`` parser."""
    from probekit.data.synthetic import DOMAINS, LANGUAGES
    from probekit.data.synthetic.export import FORMATS

    data = subparsers.add_parser(
        "data", help="generate the built-in annotated corpus; describe any corpus",
        description="Corpus tools: generate the built-in annotated corpus (offline, seeded) and "
                    "print statistics of any supported corpus.")
    verbs = data.add_subparsers(dest="data_verb", metavar="<command>")
    data.set_defaults(func=lambda args: data.print_help() or 0)

    gen = verbs.add_parser(
        "generate", help="write a synthetic annotated corpus (CoNLL-U, jiant JSONL, text)",
        description="Generate a seeded synthetic corpus with gold annotations for every probing "
                    "task (POS, UD trees, constituents, entities, SRL, coreference, sentence "
                    "labels). Same seed, same corpus.",
        epilog=GENERATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    gen.add_argument("--domain", default="general", choices=DOMAINS,
                     help="lexicon and constructions (default: general)")
    gen.add_argument("--lang", default="en", choices=list(LANGUAGES),
                     help="en, or a pseudo-language with other word order: sov (verb-final, "
                          "postpositions), vos (verb-initial) (default: en)")
    gen.add_argument("--sentences", type=int, default=10000, metavar="N",
                     help="number of sentences (default: 10000)")
    gen.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    gen.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    gen.add_argument("--formats", default=",".join(FORMATS), metavar="LIST",
                     help=f"comma-separated subset of {','.join(FORMATS)} (default: all)")
    gen.add_argument("--downstream", type=int, default=0, metavar="N",
                     help="also write N examples of the domain's downstream classification task "
                          "(downstream.conllu/.txt/.jsonl; default: 0)")
    gen.set_defaults(func=_generate)

    st = verbs.add_parser(
        "stats", help="sentences, tokens, documents and label distributions of a corpus",
        description="Describe a corpus file or folder (.conllu, .iob2, .jsonl, .txt): sizes, "
                    "layer label distributions and the label distribution of every probing task "
                    "that applies.")
    st.add_argument("path", type=Path, help="file or folder")
    st.add_argument("--top", type=int, default=10, help="labels shown per distribution (default: 10)")
    st.add_argument("--no-tasks", action="store_true",
                    help="skip the per-task label distributions (faster on big corpora)")
    st.set_defaults(func=_stats)


def _generate(args: argparse.Namespace) -> int:
    from probekit.data.edges import EdgeRecord, Target
    from probekit.data.jiant import write_jsonl
    from probekit.data.synthetic import downstream_task, export, generate
    from probekit.errors import ConfigError

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if args.sentences < 0 or args.downstream < 0:
        raise ConfigError("--sentences and --downstream must be >= 0")
    start = time.perf_counter()
    sentences = generate(args.sentences, domain=args.domain, lang=args.lang, seed=args.seed,
                         progress=True)
    elapsed = time.perf_counter() - start
    written = export(sentences, args.out, formats) if sentences else {}
    if args.downstream:
        down = downstream_task(args.domain, args.downstream, seed=args.seed, lang=args.lang)
        export(down, args.out, [f for f in formats if f != "jsonl"], name="downstream")
        records = [EdgeRecord(s.id, s.tokens, [Target(s.labels["downstream"])]) for s in down]
        written["downstream"] = [write_jsonl(records, args.out / "downstream.jsonl")]
    tokens = sum(len(s) for s in sentences)
    print(f"{len(sentences):,} sentences, {tokens:,} tokens in {elapsed:.1f} s "
          f"({args.domain}, {args.lang}, seed {args.seed}) -> {args.out}")
    for fmt, paths in written.items():
        shown = ", ".join(str(p) for p in paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")
        print(f"  {fmt}: {shown}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from probekit.data.load import read_corpus
    from probekit.data.records import Sentence
    from probekit.data.stats import describe, format_description
    from probekit.data.synthetic import restore_layers

    path = args.path
    if path.is_dir() and (path / "corpus.conllu").is_file():
        path = path / "corpus.conllu"  # a `data generate` folder: describe its main corpus
        print(f"(describing {path})")
    data = read_corpus(path)
    if data and isinstance(data[0], Sentence):
        for sent in data:
            restore_layers(sent)  # layers of generated corpora travel in comments
    from probekit.tasks import TASKS

    print(format_description(describe(data, tasks=None if args.no_tasks else TASKS), top=args.top))
    return 0
