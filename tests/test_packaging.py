"""A non-editable `pip install .` must carry the tasks, configs, cards and data."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # As scripts/_venv.sh builds: from an empty ./build (setuptools would ship a stale file
    # left there), holding the tree's lock against another build of it (an xdist worker).
    tree = os.open(ROOT, os.O_RDONLY)
    try:
        fcntl.flock(tree, fcntl.LOCK_EX)
        shutil.rmtree(ROOT / "build", ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "-q",
                "-w",
                str(out),
                str(ROOT),
            ],
            check=True,
            capture_output=True,
        )
    finally:
        os.close(tree)  # releases the lock
    (path,) = out.glob("karma_plugin-*.whl")
    return zipfile.ZipFile(path)


@pytest.fixture(scope="module")
def wheel_names(wheel) -> set[str]:
    return set(wheel.namelist())


def _shipped(folder: str, suffixes: tuple[str, ...]) -> list[str]:
    return sorted(
        str(p.relative_to(ROOT / folder))
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and p.name.endswith(suffixes) and "__pycache__" not in p.parts
    )


@pytest.mark.parametrize(
    ("folder", "package", "suffixes"),
    [
        ("lm_eval_tasks", "karma_plugin/lm_eval_tasks", (".yaml", "_yaml", ".py", ".md")),
        ("axolotl_configs", "karma_plugin/axolotl_configs", (".yml", ".yaml", ".json")),
        ("hub_cards", "karma_plugin/hub_cards", (".md",)),
    ],
)
def test_top_level_folders_ship_inside_the_package(wheel_names, folder, package, suffixes):
    files = _shipped(folder, suffixes)
    assert files, f"{folder}/ has nothing to ship"
    missing = [f for f in files if f"{package}/{f}" not in wheel_names]
    assert not missing, f"not in the wheel: {missing}"


def test_data_and_console_scripts_ship(wheel, wheel_names):
    assert "karma_plugin/data/zebra_benchmark.csv" in wheel_names
    assert "karma_plugin/data/ultrafeedback_sample.jsonl" in wheel_names
    name = next(n for n in wheel_names if n.endswith("entry_points.txt"))
    scripts = wheel.read(name).decode()
    assert "karma-build = karma_plugin.cli:main" in scripts
    assert "karma-lm-eval = karma_plugin.lmeval.wrapper:main" in scripts


def _imported_modules() -> dict[str, set[str]]:
    """Top-level modules the shipped Python imports (anywhere, lazily too) -> files."""
    import ast

    found: dict[str, set[str]] = {}
    for folder in ("karma_plugin", "lm_eval_tasks", "axolotl_configs"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_import_is_a_declared_dependency():
    """A module the package imports must come from a distribution pyproject.toml names (in the
    dependencies or an extra), not from whatever another package happens to pull in: that is
    how `import httpx` broke on huggingface_hub 2.x, which ships httpx2 instead."""
    import tomllib
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]

    def norm(name: str) -> str:
        return name.lower().replace("-", "_").replace(".", "_")

    declared = {norm(Requirement(s).name) for s in specs}
    installed = packages_distributions()
    third_party = {
        module: paths
        for module, paths in _imported_modules().items()
        if module not in sys.stdlib_module_names
        and module not in {"karma_plugin", "__future__", "lm_eval_tasks", "axolotl_configs"}
    }
    undeclared = {
        module: sorted(paths)
        for module, paths in third_party.items()
        if not {norm(d) for d in installed.get(module, [module])} & declared
    }
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
