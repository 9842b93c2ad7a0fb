"""Imports go one way: data < tasks < extract < probes < scoring < analysis < pipeline < commands.

Every module of ``probekit`` is parsed (``ast``, so function-local imports count too) and each
``probekit`` import is checked against :data:`LEVELS`: a module may import its own level and the
levels below it, never one above. Within a level, the top-level units (``probekit.report``,
``probekit.selection`` ...) must not import each other in a cycle. A module missing from
:data:`LEVELS` fails the test, so a new module gets a place in the order when it is added.
The same table is in README.md ("Layout").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import probekit

PACKAGE_DIR = Path(probekit.__file__).resolve().parent

# Lowest level first. A module belongs to the entry with the longest matching prefix
# ("probekit" alone is the package's own __init__).
LEVELS: list[tuple[str, tuple[str, ...]]] = [
    # errors, atomic writes, TOML reading, where data and cache live, the content-addressed cache:
    # used by every level, and import nothing but each other.
    ("foundation", ("probekit", "probekit.errors", "probekit.io", "probekit.paths", "probekit.cache")),
    ("data", ("probekit.data",)),
    ("tasks", ("probekit.tasks",)),
    # the model side: transfer/ trains checkpoints, extract/ reads their layers; neither knows
    # about probes or scores (transfer identifies models through extract.models).
    ("extract", ("probekit.extract", "probekit.transfer")),
    ("probes", ("probekit.probes",)),
    ("scoring", ("probekit.scoring",)),
    # pure DataFrame functions on the scores table, layer selection, and rendering them.
    ("analysis", ("probekit.analysis", "probekit.selection", "probekit.report")),
    # orchestration: one task on every layer, suites (the demo is one), comparisons, cross-lingual analyses.
    ("pipeline", ("probekit.run_probes", "probekit.compare", "probekit.suite", "probekit.workers", "probekit.pipeline",
                  "probekit.crosslingual")),
    ("commands", ("probekit.commands", "probekit.cli", "probekit.__main__")),
]

# (importer, imported unit) -> why it is tolerated for now. The test fails once an entry is no
# longer needed, so the list only shrinks.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("probekit.data.synthetic.export", "probekit.tasks"):
        "export() writes jiant JSONL per task; owned by the generator's branch, to move to the tasks "
        "level (e.g. the caller passes the tasks, as data.stats.describe does)",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def unit_of(module: str) -> tuple[int, str] | None:
    """(level index, unit prefix) of ``module``; ``None`` if no entry of :data:`LEVELS` covers it."""
    best = None
    for index, (_, prefixes) in enumerate(LEVELS):
        for prefix in prefixes:
            covers = module == prefix if prefix == "probekit" else (
                module == prefix or module.startswith(prefix + "."))
            if covers and (best is None or len(prefix) > len(best[1])):
                best = (index, prefix)
    return best


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> list[tuple[str, int]]:
    """Every ``probekit`` module imported anywhere in ``source`` (with its line); ``from pkg import
    sub`` counts as importing ``pkg.sub`` when that is a module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in known else target, node.lineno))
    return [(name, line) for name, line in found if name == "probekit" or name.startswith("probekit.")]


def violations(modules: dict[str, Path]) -> tuple[list[str], set[tuple[str, str]], dict]:
    """(messages, exceptions used, same-level unit graph) over ``modules``."""
    known = set(modules)
    messages, used, graph = [], set(), {}
    for module, path in modules.items():
        here = unit_of(module)
        for target, line in imports_of(path.read_text("utf-8"), module, path.name == "__init__.py", known):
            there = unit_of(target)
            if here is None or there is None:
                continue  # reported by test_every_module_has_a_level
            if there[0] > here[0]:
                if (module, there[1]) in KNOWN_EXCEPTIONS:
                    used.add((module, there[1]))
                    continue
                messages.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line}: {module} "
                                f"({LEVELS[here[0]][0]}) imports {target} ({LEVELS[there[0]][0]}), a level above")
            elif there[0] == here[0] and there[1] != here[1]:
                graph.setdefault(here[1], {}).setdefault(there[1], f"{path.relative_to(PACKAGE_DIR.parent)}:{line}")
    return list(dict.fromkeys(messages)), used, graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """One cycle of ``graph`` (as a closed list of nodes), or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, {}):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_every_module_has_a_level():
    missing = [m for m in all_modules() if unit_of(m) is None]
    assert not missing, f"modules without a level in LEVELS (tests/test_layering.py): {missing}"


def test_imports_go_one_way():
    messages, used, _ = violations(all_modules())
    assert not messages, "imports against the layer order:\n" + "\n".join(messages)
    stale = set(KNOWN_EXCEPTIONS) - used
    assert not stale, f"KNOWN_EXCEPTIONS entries no longer needed, remove them: {sorted(stale)}"


def test_no_import_cycles_within_a_level():
    _, _, graph = violations(all_modules())
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(
        f"{a} ({graph[a][b]})" for a, b in zip(cycle, cycle[1:]))


def test_checker_catches_planted_violations(tmp_path):
    """The checks above can fail: a data module importing scoring (function-local), and two
    analysis units importing each other."""
    pkg = tmp_path / "probekit"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "data" / "bad.py").write_text("def f():\n    from probekit import scoring\n")
    (pkg / "scoring.py").write_text("")
    (pkg / "report.py").write_text("from probekit.selection import x\n")
    (pkg / "selection.py").write_text("from .report import y\n")
    global PACKAGE_DIR
    saved, PACKAGE_DIR = PACKAGE_DIR, pkg
    try:
        modules = all_modules()
        messages, _, graph = violations(modules)
    finally:
        PACKAGE_DIR = saved
    assert len(messages) == 1 and "probekit/data/bad.py:2" in messages[0] and "(scoring)" in messages[0]
    assert find_cycle(graph) in (["probekit.report", "probekit.selection", "probekit.report"],
                                 ["probekit.selection", "probekit.report", "probekit.selection"])


@pytest.mark.parametrize("module, level", [("probekit.data.synthetic.grammar", "data"),
                                           ("probekit.transfer.chain", "extract"),
                                           ("probekit.selection", "analysis"), ("probekit", "foundation"),
                                           ("probekit.cli", "commands")])
def test_level_lookup(module, level):
    assert LEVELS[unit_of(module)[0]][0] == level
