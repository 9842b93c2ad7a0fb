"""``probekit select`` / ``compare`` / ``export``: from probe scores to the layers a user feeds
their model, measured against fine-tuning, and shipped as a truncated extractor."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``probekit select``, ``probekit compare`` and ``probekit export``."""
    from probekit.selection import ALIASES, strategy_names

    valid = ", ".join(strategy_names())
    p = subparsers.add_parser(
        "select", help="choose feature layers from a scores table (writes selection.json)",
        description="Read a tidy scores table (probekit probe/run output), take one task's per-layer "
        "curve on the dev split and apply a layer-selection strategy. Writes selection.json: the "
        f"layers, how to combine them, the rows used and the table's fingerprint. Strategies: {valid} "
        f"(topK / windowK take any K; aliases {', '.join(ALIASES)}). Example: probekit select "
        "--scores scores.csv --task pos --strategy cost_aware --out selection.json")
    p.add_argument("--scores", required=True, help="scores CSV with per-layer rows on a dev split")
    p.add_argument("--task", required=True, help="task whose curve chooses")
    p.add_argument("--strategy", default="cost_aware", help=f"one of {valid} (default cost_aware)")
    p.add_argument("--probe", help="probe whose curve chooses (default linear when present)")
    p.add_argument("--model", help="model of the table to use (required if it has several); its folder, "
                   "when it resolves, is fingerprinted into the selection")
    p.add_argument("--split", default="dev", help="evaluation split to read (default dev; test is refused)")
    p.add_argument("--out", default="selection.json", help="where to write (default selection.json)")
    p.set_defaults(func=run_select)

    p = subparsers.add_parser(
        "compare", help="every layer-selection strategy as frozen features vs full fine-tuning",
        description="For one model and task: probe every layer (train -> dev), let every strategy "
        "choose layers from the dev scores, train feature heads (linear/mlp/bilstm) on the frozen "
        "combined layers with early stopping on dev, fully fine-tune the same model with the same "
        "seeds, and score everything on test. Prints a BERT-Table-7-style table (score with CI and "
        "sd over seeds, gap to fine-tuning, trainable parameters, training time, layers run and "
        "tokens/s) and the recommendation; writes compare.csv, runs.csv, selections/ under --out. "
        "Example: probekit compare --model minilm --task pos --train en_ewt-ud-train.conllu --dev "
        "en_ewt-ud-dev.conllu --test en_ewt-ud-test.conllu --max-train 2000 --out reports/compare-pos")
    p.add_argument("--model", default="minilm", help="checkpoint folder, pkg:... or 'minilm' (default)")
    p.add_argument("--task", required=True, help="probing task (pos, deprel, ner, entities, deps, tense ...)")
    p.add_argument("--train", required=True, help="training corpus")
    p.add_argument("--dev", required=True, help="dev corpus: chooses layers, stops training early")
    p.add_argument("--test", required=True, help="test corpus: reported only")
    p.add_argument("--strategies", help=f"comma-separated (default all: {valid})")
    p.add_argument("--heads", default="linear", help="comma-separated: linear, mlp, bilstm (default linear)")
    p.add_argument("--seeds", default="0,1,2", help="seeds of heads and fine-tuning (default 0,1,2)")
    p.add_argument("--max-train", type=int, help="use only the first N training sentences (reported)")
    p.add_argument("--limit-eval", type=int, help="use only the first N dev and test sentences")
    p.add_argument("--no-finetune", action="store_true", help="skip the fine-tuning reference")
    p.add_argument("--finetune-steps", type=int, default=300, help="fine-tuning steps (default 300)")
    p.add_argument("--finetune-lr", type=float, default=5e-5, help="fine-tuning learning rate (default 5e-5)")
    p.add_argument("--out", required=True, help="results folder (fine-tuning checkpoints resume from here)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_compare)

    p = subparsers.add_parser(
        "export", help="write a truncated Hugging Face checkpoint holding only the selected layers",
        description="Cut the selection's model after the deepest selected layer and save a standard "
        "Hugging Face checkpoint (config.json with fewer layers) plus probekit_extractor.json (which "
        "hidden states to read and how to combine them). AutoModel.from_pretrained(OUT) then gives "
        "the full model's vectors at those layers (checked on export); decoders keep one extra block "
        "where their final norm would otherwise change the deepest layer. Reports tokens/s of the "
        "cut model against the full one. Example: probekit export --selection selection.json --out "
        "minilm-pos-extractor")
    p.add_argument("--selection", required=True, help="selection.json from `probekit select` or `compare`")
    p.add_argument("--model", help="model to cut (default: the selection's own model); must match the "
                   "selection's fingerprint")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-speed", action="store_true", help="skip the tokens/s measurement")
    p.set_defaults(func=run_export)


def run_select(args: argparse.Namespace) -> int:
    import pandas as pd

    from probekit.errors import ProbekitError
    from probekit.selection import select

    path = Path(args.scores)
    if not path.is_file():
        raise ProbekitError(f"scores table {path} not found; write one with `probekit probe --out` or `probekit run`")
    scores = pd.read_csv(path)
    fp, source = _model_identity(args.model or _only_model(scores))
    sel = select(scores, args.task, args.strategy, probe=args.probe, model=args.model, split=args.split,
                 model_fingerprint=fp, model_source=source)
    sel.save(args.out)
    curve = ", ".join(f"{r['layer']}: {r['value']:.3f}" for r in sel.score_rows)
    print(f"{args.task} ({sel.probe}, {sel.model}, {sel.split}) per layer: {curve}")
    print(f"{sel.strategy}: {sel.describe()} -> {args.out}")
    return 0


def _only_model(scores) -> str | None:
    models = scores["model"].dropna().unique() if "model" in scores else []
    return str(models[0]) if len(models) == 1 else None


def _model_identity(model: str | None) -> tuple[str | None, str | None]:
    """Fingerprint and folder of a model name from a scores table, when it resolves here."""
    if not model:
        return None, None
    from probekit.cache import fingerprint
    from probekit.errors import ProbekitError
    from probekit.extract.models import folder_identity, resolve_source
    from probekit.extract.models import resolve_model

    try:
        folder = resolve_model(model)
    except ProbekitError:
        return None, None
    return fingerprint(folder_identity(folder)), str(folder)


def run_compare(args: argparse.Namespace) -> int:
    from probekit.compare import compare, format_table
    from probekit.data.load import read_corpus

    train = list(read_corpus(args.train))
    dev, test = list(read_corpus(args.dev)), list(read_corpus(args.test))
    if args.limit_eval:
        dev, test = dev[: args.limit_eval], test[: args.limit_eval]
    result = compare(
        args.model, args.task, train, dev, test,
        strategies=[s for s in (args.strategies or "").split(",") if s.strip()] or None,
        heads=[h.strip() for h in args.heads.split(",") if h.strip()],
        seeds=[int(s) for s in args.seeds.split(",")], finetune=not args.no_finetune,
        finetune_steps=args.finetune_steps, finetune_lr=args.finetune_lr, max_train=args.max_train,
        out_dir=args.out, model_name="all-MiniLM-L6-v2" if args.model == "minilm" else args.model,
        progress=not args.quiet)
    for note in result.notes:
        print(f"note: {note}")
    print(format_table(result.table))
    print()
    print(result.recommendation)
    print(f"\nwrote {args.out}/compare.csv, runs.csv, scores_dev.csv, selections/")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from probekit.cache import fingerprint
    from probekit.errors import ProbekitError
    from probekit.extract.models import folder_identity, load_model, load_tokenizer, resolve_source
    from probekit.extract.truncate import exact_truncation, export_truncated, n_blocks, tokens_per_second
    from probekit.extract.models import resolve_model
    from probekit.selection import load_selection

    raw = load_selection(args.selection)
    source = args.model or raw.model_source
    if source is None:
        raise ProbekitError(f"{args.selection} does not name its model's folder; pass --model")
    folder = resolve_source(resolve_model(source))
    sel = load_selection(args.selection, model_fingerprint=fingerprint(folder_identity(folder)))
    model, tok = load_model(folder), load_tokenizer(folder)
    if sel.depth > n_blocks(model):
        raise ProbekitError(f"{args.selection} reads layer(s) {sel.layers} but {folder} has hidden states "
                            f"0..{n_blocks(model)}: it was made for a deeper model")
    rule = export_truncated(model, tok, args.out, layers=sel.layers, combine=sel.combine, weights=sel.weights,
                            meta={"source_model": str(folder), "source_fingerprint": sel.model_fingerprint,
                                  "strategy": sel.strategy, "task": sel.task, "selection": sel.to_dict()})
    print(f"wrote {args.out}: {rule['blocks_kept']} of {rule['blocks_full']} blocks, reads hidden states "
          f"{rule['read_hidden_states']} ({sel.combine}), max |diff| vs full model {rule['max_abs_diff_vs_full']:.1e}")
    if not args.no_speed:
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        texts = [f"sentence number {i} of the speed check , with a few more words in it ." for i in range(128)]
        cut, _, _ = exact_truncation(model, tok, sel.layers)
        full, short = tokens_per_second(model, tok, texts), tokens_per_second(cut, tok, texts)
        print(f"tokens/s: full {full:,.0f}, truncated {short:,.0f} ({short / full:.2f}x)")
    return 0
