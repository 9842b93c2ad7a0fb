"""The main job on the embedded default, with no external data.

1. Probe the real all-MiniLM-L6-v2 on every layer for the tasks of ``probes/demo.toml``, on
   probekit's generated corpus: *what does each layer know?*
2. Run the transfer chain (pre-train a small BERT on the generator's ``general`` domain, adapt it
   to ``biomed``, fine-tune on biomed's downstream task, and the same from random init): *does
   transfer help?*
3. Probe every checkpoint of that chain layer by layer: *how did transfer put it there?*
4. Write one report (scores table, layer-utility summary, plots, resolved configuration).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from probekit.errors import ConfigError

DEMO_SUITE = Path(__file__).resolve().parent.parent / "probes" / "demo.toml"
FAST_OVERRIDES = ["data.synthetic.train_sentences=300", "data.synthetic.eval_sentences=100", "scoring.bootstrap=100"]
CHECKPOINT_TASKS = ("pos", "deps")


def probe_checkpoints(stages: dict[str, str], train: list, evaluation: list, *, n_boot: int,
                      progress: bool) -> pd.DataFrame:
    """Linear probes on every layer of every transfer checkpoint (``checkpoint`` = stage name)."""
    from probekit.run_probes import probe_task

    frames = [
        probe_task(path, train, evaluation, task=task, probes=("linear",), mix=False, n_boot=n_boot,
                   model_name="transfer-demo", checkpoint=stage, progress=progress)
        for stage, path in stages.items()
        for task in CHECKPOINT_TASKS
    ]
    return pd.concat(frames, ignore_index=True)


def run_demo(out_dir: str | Path, *, fast: bool = False, transfer: bool = True,
             overrides: list[str] | None = None, progress: bool = True) -> tuple[pd.DataFrame, Path, list]:
    """Run the demo; returns (scores, report path, extra report sections)."""
    from probekit.report import write_report
    from probekit.suite import load_suite, load_task_data, run_suite

    if not DEMO_SUITE.is_file():
        raise ConfigError(f"demo suite {DEMO_SUITE} not found; run the demo from a probekit checkout")
    suite = load_suite(DEMO_SUITE, (FAST_OVERRIDES if fast else []) + list(overrides or []))
    out = Path(out_dir)
    started = time.time()
    scores = run_suite(suite, out, progress=progress)
    sections = []
    config: dict = {"suite": suite.config}
    if transfer:
        from probekit.transfer.chain import format_headline, run_demo_chain

        result = run_demo_chain(out / "transfer", size="fast" if fast else "demo")
        sections.append(("Transfer chain: pre-train, adapt, fine-tune (vs random init)", format_headline(result)))
        config["transfer"] = {k: v for k, v in result.items() if k != "stages"}
        train, evaluation = load_task_data(suite, suite.config["tasks"][0])
        ckpt_scores = probe_checkpoints(result["stages"], train, evaluation,
                                        n_boot=suite.config["scoring"]["bootstrap"], progress=progress)
        scores = pd.concat([scores, ckpt_scores], ignore_index=True)
        sections.append(("How transfer put it there",
                         "Model 'transfer-demo' rows probe every checkpoint of the chain (general pre-training, "
                         "domain-adapted, fine-tuned, fine-tuned from random init) with linear probes on "
                         f"{', '.join(CHECKPOINT_TASKS)}: compare the curves per checkpoint."))
    sections.append(("Run time", f"{time.time() - started:.0f} s"))
    html = write_report(scores, out, config=config,
                        title="probekit demo: what each layer knows, and how transfer put it there",
                        extra_sections=sections)
    return scores, html, sections
