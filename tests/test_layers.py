"""The layers of docs/design.md §2 hold: every import inside karma_plugin points down, no two
modules import each other (even through others), and §2 names every module.

Imports are read from the source (ast), the ones inside functions and under TYPE_CHECKING
included: a lazy import is still a dependency, and an upward one is a cycle waiting for the day
someone moves it to the top of the file.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "karma_plugin"

# The parts of karma_plugin (a top-level module or package; "" is karma_plugin/__init__.py),
# bottom first. A module may import its own part and any part of a lower layer.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("base", frozenset({"errors", "_version", "data"})),
    ("file system", frozenset({"fs"})),
    ("method", frozenset({"core"})),
    ("adapters", frozenset({"pools", "lmeval", "outputs", "hub"})),
    # a published table (a leaderboard, a judge's win rates), streamed as pools and hub do
    ("table reader", frozenset({"tables"})),
    ("report", frozenset({"report"})),
    # the kinship a run's options ask for: a score table (core) or lm-eval samples (lmeval)
    ("kinship inputs", frozenset({"kinship_inputs"})),
    # the --preference check's inputs: a judge table, and the score table's noise
    ("preference inputs", frozenset({"preference_inputs"})),
    ("library", frozenset({"api"})),
    ("package", frozenset({""})),  # karma_plugin/__init__.py: the library's names, lazily
    ("front ends", frozenset({"commands", "integrations"})),
    ("cli", frozenset({"cli"})),
    # `python -m karma_plugin` and the deprecated `karma_plugin.axolotl_plugin`: one line each,
    # re-exporting what lies below them
    ("aliases", frozenset({"__main__", "axolotl_plugin"})),
)
# Imports between two parts of one layer are refused unless listed here, with the reason.
SIDEWAYS = {
    ("pools", "hub"): "a Hub pool is streamed through hub's retries and one pinned revision "
    "(pools.streaming); hub knows nothing of pools",
    ("lmeval", "pools"): "a prompt file for responses-task is read and checked as a pool file "
    "is (pools.reader.read_local_table), and `karma-build pool` stores its provenance under "
    "the key the pool reader reads (pools.schema); pools knows nothing of lm-eval",
}
LAYER_OF = {part: n for n, (_, parts) in enumerate(LAYERS) for part in parts}


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: Path) -> dict[str, Path]:
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def part_of(module: str) -> str:
    """``karma_plugin.core.pairing`` -> ``core``; ``karma_plugin`` -> ``""``."""
    return module.split(".")[1] if "." in module else ""


def imports(path: Path, known: set[str]) -> set[tuple[str, int]]:
    """The karma_plugin modules ``path`` imports (anywhere in the file), with a line each."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from a.b import c`: the module a.b.c if there is one, else a.b itself
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in known
                else node.module
                for alias in node.names
            ]
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: a relative import (use the full name)")
        else:
            continue
        found |= {(name, node.lineno) for name in names if name.split(".")[0] == "karma_plugin"}
    return found


def import_graph(package: Path) -> dict[str, set[tuple[str, int]]]:
    found = modules(package)
    return {name: imports(path, set(found)) for name, path in found.items()}


def layer_violations(package: Path) -> list[str]:
    """Every import from a lower layer up, or sideways without a reason in SIDEWAYS, and
    every module of karma_plugin that no layer names."""
    problems = []
    for module, targets in sorted(import_graph(package).items()):
        source = part_of(module)
        if source not in LAYER_OF:
            problems.append(f"{module}: its part {source!r} is in no layer of LAYERS")
            continue
        for target, line in sorted(targets):
            goal = part_of(target)
            if goal == source or goal not in LAYER_OF:
                continue  # the same part; a part in no layer is reported as a source
            if LAYER_OF[goal] > LAYER_OF[source]:
                problems.append(f"{module}:{line} imports {target}: upward")
            elif LAYER_OF[goal] == LAYER_OF[source] and (source, goal) not in SIDEWAYS:
                problems.append(f"{module}:{line} imports {target}: sideways, not allowed")
    return problems


def cycles(package: Path) -> list[list[str]]:
    """Import cycles among the modules (each found once, from its smallest module)."""
    graph = {m: {t for t, _ in targets} for m, targets in import_graph(package).items()}
    found: list[list[str]] = []

    def walk(start: str, node: str, path: list[str], seen: set[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                found.append([*path, start])
            elif nxt > start and nxt not in seen:
                seen.add(nxt)
                walk(start, nxt, [*path, nxt], seen)

    for start in sorted(graph):
        walk(start, start, [start], {start})
    return found


def test_imports_point_down():
    assert layer_violations(PACKAGE) == []


def test_no_import_cycles():
    assert cycles(PACKAGE) == []


def test_every_sideways_edge_is_used():
    """SIDEWAYS names only edges the code has: an unused exception would let one in unseen."""
    used = {
        (part_of(m), part_of(t))
        for m, targets in import_graph(PACKAGE).items()
        for t, _ in targets
        if part_of(m) != part_of(t)
    }
    assert set(SIDEWAYS) <= used


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "karma_plugin"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _plant(path: Path, statement: str) -> None:
    """Add a function holding ``statement`` (an import) at the end of ``path``."""
    code = f"\n\ndef _planted():\n    {statement}\n"
    path.write_text(path.read_text(encoding="utf-8") + code, encoding="utf-8")


def test_an_upward_import_is_found(copy: Path):
    """A function-level import of a command from the method, and a sideways one from the
    transport to the dataset folder: the kind a quick fix adds."""
    _plant(copy / "core" / "kinship.py", "import karma_plugin.cli")
    _plant(copy / "hub" / "push.py", "from karma_plugin.outputs import card")
    problems = set(layer_violations(copy)) - set(layer_violations(PACKAGE))  # the planted ones
    assert len(problems) == 2, problems
    sideways, upward = sorted(problems, key=lambda p: "kinship" in p)
    assert upward.startswith("karma_plugin.core.kinship:")
    assert upward.endswith("imports karma_plugin.cli: upward")
    assert sideways.startswith("karma_plugin.hub.push:")
    assert sideways.endswith("imports karma_plugin.outputs.card: sideways, not allowed")


def test_a_cycle_is_found(copy: Path):
    # kinship imports score_table, which imports benchmarks: benchmarks -> kinship closes it
    _plant(copy / "core" / "benchmarks.py", "import karma_plugin.core.kinship")
    assert [c for c in cycles(copy) if c not in cycles(PACKAGE)] == [
        [
            "karma_plugin.core.benchmarks",
            "karma_plugin.core.kinship",
            "karma_plugin.core.score_table",
            "karma_plugin.core.benchmarks",
        ]
    ]


def test_a_module_in_no_layer_is_found(copy: Path):
    (copy / "helpers.py").write_text("import karma_plugin.cli\n", encoding="utf-8")
    assert set(layer_violations(copy)) - set(layer_violations(PACKAGE)) == {
        "karma_plugin.helpers: its part 'helpers' is in no layer of LAYERS"
    }


# --- docs/design.md §2 names every module -------------------------------------------------------


def layout_entries(design: str) -> dict[str, str]:
    """§2's package tree: each entry under ``karma_plugin/`` (``core/``, ``cli.py``) -> its
    text, continuation lines included."""
    section = design.split("## 2. ", 1)[1].split("\n## 3. ", 1)[0]
    tree = section.split("karma_plugin/\n", 1)[1].split("```", 1)[0]
    entries: dict[str, str] = {}
    current = None
    for line in tree.splitlines():
        if re.match(r"  \S", line):
            current, _, text = line.strip().partition(" ")
            entries[current] = text
        elif line.startswith("    ") and current is not None:
            entries[current] += " " + line.strip()
        else:
            current = None  # back at the clone's top level (lm_eval_tasks/, benchmarks/ ...)
    return entries


def unnamed_modules(package: Path, design: str) -> list[str]:
    """The modules of ``package`` that §2 of ``design`` does not name: a top-level module as an
    entry of its own, any other on the entry of its folder (by file name or stem)."""
    entries = layout_entries(design)
    missing = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.name == "__init__.py" and len(relative.parts) > 1:
            continue  # a package is named by its folder
        if len(relative.parts) == 1:
            if relative.name not in entries:
                missing.append(relative.as_posix())
            continue
        words = set(re.findall(r"[\w.]+", entries.get(f"{relative.parts[0]}/", "")))
        if not {path.stem, path.name} & words:
            missing.append(relative.as_posix())
    return missing


DESIGN = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")


def test_design_names_every_module():
    assert unnamed_modules(PACKAGE, DESIGN) == []


def test_a_module_the_design_leaves_out_is_found(copy: Path):
    (copy / "core" / "shortcuts.py").write_text("", encoding="utf-8")
    (copy / "tools.py").write_text("", encoding="utf-8")
    found = unnamed_modules(copy, DESIGN)
    assert [m for m in found if m not in unnamed_modules(PACKAGE, DESIGN)] == [
        "core/shortcuts.py",
        "tools.py",
    ]
