"""The report opened in a real browser (headless Chromium): every figure loads, no console error,
nothing fetched from outside the file, and a screenshot to look at.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it when missing). Without it the
tests skip locally and fail in CI (``CI=true``). The screenshot is written outside the repository:
``$PROBEKIT_SCREENSHOTS`` (default: the system temp folder) / ``probekit-report.png``.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from probekit.report import write_report

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Injected first in <head>: records errors (page errors, failed resources, console.error/warn,
# unhandled rejections) and, at the load event, every image's state, into an attribute that
# --dump-dom prints.
CHECKER = """<script>
window.__pk = [];
window.addEventListener('error', e => __pk.push('error: ' + (e.message || (e.target && (e.target.src || e.target.href)) || e.type)), true);
window.addEventListener('unhandledrejection', e => __pk.push('unhandled rejection: ' + e.reason));
for (const level of ['error', 'warn']) {
  const original = console[level];
  console[level] = (...args) => { __pk.push('console.' + level + ': ' + args.join(' ')); original.apply(console, args); };
}
window.addEventListener('load', () => document.documentElement.setAttribute('data-pk-check', JSON.stringify({
  errors: __pk,
  images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,
                                          height: i.naturalHeight, inline: i.src.startsWith('data:image/')})),
})));
</script>"""


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is required in CI (CI=true) but not installed; .ci/run installs it with apt-get")
    pytest.skip("chromium not installed (apt-get install chromium); CI installs it and runs this test")


def _run_browser(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               "--hide-scrollbars", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
               "--virtual-time-budget=10000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def browser_check(page: Path, workdir: Path) -> dict:
    """Open ``page`` headless; returns ``errors`` (page, resource and console errors, plus any
    console line the browser logged), ``images`` (per <img>: loaded, size, inline) and ``dom``."""
    browser = _browser()
    source = page.read_text("utf-8")
    probe = page.with_name(f".check-{page.name}")  # beside the page, so relative references behave alike
    probe.write_text(source.replace("<head>", "<head>" + CHECKER, 1), "utf-8")
    try:
        done = _run_browser(browser, workdir / "profile", "--dump-dom", probe.resolve().as_uri())
    finally:
        probe.unlink()
    match = re.search(r'data-pk-check="([^"]*)"', done.stdout)
    assert match, f"the page never reached its load event (exit {done.returncode}): {done.stderr[-2000:]}"
    result = json.loads(html.unescape(match.group(1)))
    result["errors"] += [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    result["dom"] = done.stdout
    return result


def _scores() -> pd.DataFrame:
    """Two tasks with a control, and a CKA matrix: every figure kind the report draws."""
    rng = np.random.default_rng(0)
    rows = []
    for task, peak in (("pos", 1), ("deps", 3)):
        for control in (False, True):
            for layer in range(5):
                value = 0.9 - 0.1 * abs(layer - peak) - 0.3 * control + rng.normal(0, 0.01)
                rows.append(dict(model="m", checkpoint="", task=task, control=control, probe="linear", layer=layer,
                                 seed=0, split="eval", metric="accuracy", value=value, ci_low=value - 0.02,
                                 ci_high=value + 0.02, n_train=100, n_eval=50))
    for i in range(5):
        for j in range(5):
            rows.append(dict(model="m", checkpoint="", task="pos", control=False, probe="cka", layer=i, seed=0,
                             split="eval", metric=f"cka_l{j}", value=1.0 - 0.1 * abs(i - j)))
    return pd.DataFrame(rows)


def test_report_opens_in_a_browser(tmp_path):
    page = write_report(_scores(), tmp_path / "report", config={"name": "browser"}, title="browser test",
                        description="every figure must load")
    figures = len(re.findall(r"<img ", page.read_text("utf-8")))
    assert figures == 3  # layer curves, task x layer heatmap, CKA

    result = browser_check(page, tmp_path)
    assert result["errors"] == []
    assert len(result["images"]) == figures
    for image in result["images"]:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100 and image["inline"], image
    dom = result["dom"]
    assert "every figure must load" in dom
    # Self-contained: nothing is fetched from elsewhere (no scripts, styles, fonts or images by URL).
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", dom) and "@import" not in dom and "url(" not in dom

    shots = Path(os.environ.get("PROBEKIT_SCREENSHOTS", tempfile.gettempdir()))
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "probekit-report.png"
    shot.unlink(missing_ok=True)
    done = _run_browser(_browser(), tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}",
                        page.resolve().as_uri())
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", done.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a rendered page with figures, not a blank canvas
    print(f"screenshot: {shot}")


def test_browser_check_catches_a_broken_figure_and_a_console_error(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><html><head><meta charset='utf-8'></head><body>"
                    "<img alt='broken' src='data:image/png;base64,AAAA'>"
                    "<script>console.error('boom')</script></body></html>")
    result = browser_check(page, tmp_path)
    assert result["images"] == [{"alt": "broken", "complete": True, "width": 0, "height": 0, "inline": True}]
    assert any("console.error: boom" in e for e in result["errors"])
    assert any(e.startswith("error: data:image/png") for e in result["errors"])
