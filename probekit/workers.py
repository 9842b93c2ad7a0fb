"""``probekit run --jobs N``: a suite's independent work in N worker processes.

One process with two threads keeps a 2-core CPU only about 1.4 cores busy on the small matrices of
probes and small models, so the demo's work is split into processes instead. What is independent:

1. the ``[transfer]`` chain (one worker: its stages depend on each other) beside the units of every
   model that is not one of its checkpoints, each model's ``[selection]`` right after its units;
2. as soon as the chain is done, its checkpoints' units (and their ``[selection]``, if asked);
3. last, the checkpoints' layer-similarity units, which read the other checkpoints' features (in
   one worker: two of them may need the same checkpoint's features).

All the units of one model and its ``[selection]`` run in the same worker, in plan order, because
they share that model's extraction cache entries (two processes never build the same entry;
:mod:`probekit.cache` refuses that). Every unit is the same computation as in :func:`probekit.suite.run_suite`, saved the same
way, so a run resumes from either; workers use ``cores // N`` torch threads each and show no
progress bars (the parent shows one over units).
"""

from __future__ import annotations

import os
from pathlib import Path

from probekit.suite import (Suite, Unit, check_suite, collect_scores, plan_units, run_selection, run_transfer,
                            run_unit, selection_models)


def run_parallel(suite: Suite, out_dir: str | Path, *, jobs: int, progress: bool = True) -> tuple:
    """Run ``suite`` like :func:`~probekit.suite.run_suite` then :func:`~probekit.suite.run_selection`,
    with ``jobs`` worker processes. Returns ``(scores, comparisons)``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    from probekit.errors import ConfigError

    problems = check_suite(suite)
    if problems:
        raise ConfigError("the suite cannot run:\n  " + "\n  ".join(problems))
    out = Path(out_dir)
    (out / "units").mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    # spawn, not fork: a forked child of a process that has run torch's thread pool can hang.
    context = multiprocessing.get_context("spawn")
    submitted: set[Path] = set()
    selecting: set[str | None] = set()
    to_select = selection_models(suite)
    planned = plan_units(suite, out)
    bar = tqdm(total=len(planned), initial=sum(u.cached for u in planned), desc=f"suite {suite.name}",
               disable=not progress)

    def submit_groups(pool, units: list[Unit], models: list[str], *, one_group: bool = False) -> list:
        """One job per model: its units, then its ``[selection]`` (which reads the same cached
        features, so it must not run beside them in another process)."""
        groups: dict[str, list[Unit]] = {m: [] for m in models if m in to_select and m not in selecting}
        for unit in units:
            if not unit.cached and unit.file not in submitted:
                groups.setdefault("all" if one_group else unit.model["id"], []).append(unit)
                submitted.add(unit.file)
        jobs = []
        for model, group in groups.items():
            select = model if model in to_select and model not in selecting else None
            selecting.add(select)
            jobs.append(pool.submit(_run_units, suite, group, threads, out, select))
        return jobs

    comparisons: dict[str, list] = {}

    def finish(futures: list) -> None:
        for future in futures:
            done, model, results = future.result()
            bar.update(done)
            if model is not None:
                comparisons[model] = results

    checkpoints = [m["id"] for m in suite.config["models"] if m.get("stage")]
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_exit_with_parent,
                             initargs=(os.getpid(),)) as pool:
        chain = pool.submit(_run_transfer, suite, threads) if suite.config.get("transfer") else None
        ready = [u for u in planned if u.key]  # not of a checkpoint still to train
        trained = [m for m in checkpoints if all(u.key for u in planned if u.model["id"] == m)]
        first = submit_groups(pool, ready, [m["id"] for m in suite.config["models"]
                                            if m["id"] not in checkpoints or m["id"] in trained])
        second = []
        if chain is not None:
            chain.result()  # the checkpoints' jobs start now, whether or not the first ones are done
            planned = plan_units(suite, out)
            checkpoint_cka = [u for u in planned if u.task is None and u.model.get("stage")]
            second = submit_groups(pool, [u for u in planned if u not in checkpoint_cka], checkpoints)
        finish(first)
        finish(second)
        if chain is not None:
            finish(submit_groups(pool, checkpoint_cka, [], one_group=True))
    bar.close()
    ordered = [c for model in to_select for c in comparisons.get(model, [])]
    return collect_scores(plan_units(suite, out), out), ordered


ORPHAN_EXIT_CODE = 3


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """Worker initializer: exit as soon as the parent ``probekit run`` is gone.

    A killed parent does not take spawned workers with it; an orphan would go on training and
    writing units and cache entries beside the next run (whose extraction then stops on the
    orphan's cache lock)."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(ORPHAN_EXIT_CODE)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _run_transfer(suite: Suite, threads: int) -> None:
    _threads(threads)
    run_transfer(suite)


def _run_units(suite: Suite, units: list[Unit], threads: int, out: Path, select: str | None) -> tuple:
    """Run ``units``, then ``[selection]`` for model ``select``; returns ``(len(units), select,
    comparisons)``."""
    _threads(threads)
    generated: dict = {}
    for unit in units:
        run_unit(suite, unit, generated, progress=False)
    comparisons = run_selection(suite, out, models=[select], progress=False) if select else []
    return len(units), select, comparisons
