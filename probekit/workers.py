"""``probekit run --jobs N``: a suite's independent work in N worker processes.

One process with two threads keeps a 2-core CPU only about 1.4 cores busy on the small matrices of
probes and small models, so the demo's work is split into processes instead. What is independent:

1. the ``[transfer]`` chain (one worker: its stages depend on each other) beside the units of every
   model that is not one of its checkpoints;
2. once both are done, the chain's checkpoints' units beside ``[selection]``;
3. last, the checkpoints' layer-similarity units, which read the other checkpoints' features (in
   one worker: two of them may need the same checkpoint's features).

All the units of one model run in the same worker, in plan order, because they share that model's
extraction cache entries (two processes never build the same entry; :mod:`probekit.cache` refuses
that). Every unit is the same computation as in :func:`probekit.suite.run_suite`, saved the same
way, so a run resumes from either; workers use ``cores // N`` torch threads each and show no
progress bars (the parent shows one over units).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from probekit.suite import (Suite, Unit, check_suite, collect_scores, plan_units, run_selection, run_transfer,
                            run_unit)


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
    planned = plan_units(suite, out)
    bar = tqdm(total=len(planned), initial=sum(u.cached for u in planned), desc=f"suite {suite.name}",
               disable=not progress)

    def submit_groups(pool, units: list[Unit], *, one_group: bool = False) -> list:
        groups: dict[str, list[Unit]] = defaultdict(list)
        for unit in units:
            if not unit.cached and unit.file not in submitted:
                groups["all" if one_group else unit.model["id"]].append(unit)
                submitted.add(unit.file)
        return [pool.submit(_run_units, suite, group, threads) for group in groups.values()]

    def finish(futures: list) -> None:
        for future in futures:
            bar.update(future.result())

    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_exit_with_parent,
                             initargs=(os.getpid(),)) as pool:
        chain = pool.submit(_run_transfer, suite, threads) if suite.config.get("transfer") else None
        finish(submit_groups(pool, [u for u in planned if u.key]))  # not a checkpoint still to train
        if chain is not None:
            chain.result()
        planned = plan_units(suite, out)
        checkpoint_cka = [u for u in planned if u.task is None and u.model.get("stage")]
        second = submit_groups(pool, [u for u in planned if u not in checkpoint_cka])
        selection = pool.submit(_run_selection, suite, out, threads)
        finish(second)
        comparisons = selection.result()
        finish(submit_groups(pool, checkpoint_cka, one_group=True))
    bar.close()
    return collect_scores(plan_units(suite, out), out), comparisons


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


def _run_units(suite: Suite, units: list[Unit], threads: int) -> int:
    _threads(threads)
    generated: dict = {}
    for unit in units:
        run_unit(suite, unit, generated, progress=False)
    return len(units)


def _run_selection(suite: Suite, out: Path, threads: int) -> list:
    _threads(threads)
    return run_selection(suite, out, progress=False)
