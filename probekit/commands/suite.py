"""``probekit run SUITE`` (a probing study from a suite file, ``--dry-run`` lists its units),
``probekit validate SUITE`` (every check, nothing run) and ``probekit report RESULTS_DIR``
(the report rebuilt from a results folder alone)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def quiet(args: argparse.Namespace) -> None:
    """``--quiet``: also silences bars drawn deep inside stages (tqdm reads TQDM_* overrides)."""
    if args.quiet:
        os.environ["TQDM_DISABLE"] = "1"


def print_summary(scores) -> None:
    from probekit.analysis import summarize

    print(summarize(scores).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _load_checked(args: argparse.Namespace):
    """Load and check a suite; every problem found is printed, the first schema error raised."""
    from probekit.errors import ConfigError
    from probekit.suite import check_suite, load_suite

    suite = load_suite(args.suite, args.set)
    problems = check_suite(suite)
    if problems:
        raise ConfigError(f"{len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return suite


def _out_dir(args: argparse.Namespace, suite) -> Path:
    return Path(args.out or Path("reports") / suite.name)


def run_command(args: argparse.Namespace) -> int:
    """``probekit run`` (also ``probekit demo``, on the shipped demo suite)."""
    from probekit.report import write_report
    from probekit.suite import plan_units, run_selection, run_suite, transfer_headlines, transfer_sections

    quiet(args)
    suite = _load_checked(args)
    out = _out_dir(args, suite)
    if args.dry_run:
        from probekit.suite import stage_complete

        transfer = suite.config.get("transfer") or {}
        for stage in transfer.get("stages", []):
            folder = Path(transfer["out"]) / stage["name"]
            print(f"{'done' if stage_complete(folder) else 'to run':>6}  transfer stage {stage['name']} "
                  f"({stage['kind']})  {folder}")
        units = plan_units(suite, out)
        width = max(len(u.label) for u in units)
        for unit in units:
            status = "cached" if unit.cached else "to run"
            after = "" if unit.key else f"  (after transfer stage {unit.model['stage']})"
            print(f"{status:>6}  {unit.label:<{width}}  {unit.file}{after}")
        done = sum(u.cached for u in units)
        print(f"\n{len(units)} units: {done} cached, {len(units) - done} to run (report: {out / 'report.html'})")
        return 0
    if args.jobs > 1:
        from probekit.workers import run_parallel

        scores, comparisons = run_parallel(suite, out, jobs=args.jobs, progress=not args.quiet)
    else:
        scores = run_suite(suite, out, progress=not args.quiet)
        comparisons = run_selection(suite, out, progress=not args.quiet)
    html = write_report(scores, out, config=suite.config, comparisons=comparisons,
                        extra_sections=transfer_sections(suite), headlines=transfer_headlines(suite),
                        **_report_text(suite.config))
    print_summary(scores)
    print(f"\nreport: {html}")
    return 0


def add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    """``--jobs N``: worker processes (probekit.workers); the same units and files as one process."""
    def jobs(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"--jobs {text!r}: use a number of worker processes, 1 or more")
        return int(text)

    parser.add_argument("--jobs", type=jobs, default=1, metavar="N",
                        help="run independent work (the transfer chain, each model's units, [selection]) in N "
                        "worker processes with cores/N torch threads each (default 1: this process)")


def _report_text(config: dict) -> dict:
    """Title and description of a report from a resolved suite configuration."""
    name = config.get("name") or "probekit"
    return {"title": (config.get("report") or {}).get("title") or f"probekit: {name}",
            "description": config.get("description") or ""}


def _validate(args: argparse.Namespace) -> int:
    from probekit.errors import ConfigError
    from probekit.suite import check_suite, load_suite

    failed = 0
    for path in args.suite:
        try:
            suite = load_suite(path, args.set)
        except ConfigError as err:
            print(f"invalid: {err}", file=sys.stderr)
            failed += 1
            continue
        problems = check_suite(suite)
        for problem in problems:
            print(f"invalid: {problem}", file=sys.stderr)
        if problems:
            failed += 1
            continue
        cfg = suite.config
        layers = {m["id"]: m["layers"] for m in cfg["models"]}
        print(f"ok: {path}: {len(cfg['models'])} model(s) x {len(cfg['tasks'])} task(s) "
              f"({', '.join(t['name'] for t in cfg['tasks'])}), probes {', '.join(cfg['probes'])}, "
              f"seeds {cfg['seeds']}, layers {layers}")
    return 2 if failed else 0


def _report(args: argparse.Namespace) -> int:
    from probekit.report import rebuild_report

    html = rebuild_report(args.results, args.out, title=args.title)
    print(f"report: {html}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run``, ``validate`` and ``report``."""
    run = subparsers.add_parser(
        "run", help="run a probing suite file and write its report",
        description="Probe every model x task x layer of a suite file (TOML, see probes/), then write "
        "scores.csv, summary.csv, plots and report.html. Finished units are reused on re-runs; "
        "--dry-run lists the units and which are cached.",
    )
    run.add_argument("suite", help="suite file, e.g. probes/ewt.toml")
    run.add_argument("--out", help="report folder (default reports/<suite name>)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a suite value, e.g. --set data.root=/data --set models.minilm.layers=[0,6]")
    run.add_argument("--dry-run", action="store_true", help="list the units (cached or to run); run nothing")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    add_jobs_argument(run)
    run.set_defaults(func=run_command)

    validate = subparsers.add_parser(
        "validate", help="check suite files without running them",
        description="Check one or more suite files without running anything: unknown keys, values, "
        "tasks and probes, data files, models. Every message names the suite line. Exit status 2 "
        "if any suite is invalid.",
    )
    validate.add_argument("suite", nargs="+", help="suite file(s), e.g. probes/*.toml")
    validate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="override a suite value before checking (as for run)")
    validate.set_defaults(func=_validate)

    report = subparsers.add_parser(
        "report", help="rebuild a report from a results folder",
        description="Rebuild report.html, report.md, summary.csv and the plots from a results folder alone "
        "(its scores.csv, or the finished units/ of an interrupted run, config.json and report.json): "
        "no model, data or cache is needed.",
    )
    report.add_argument("results", help="a folder written by `probekit run` (e.g. reports/demo)")
    report.add_argument("--out", help="write the report here instead of into RESULTS")
    report.add_argument("--title", help="report title (default: from config.json)")
    report.set_defaults(func=_report)
