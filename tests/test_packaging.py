"""A non-editable `pip install .` must carry the tasks, configs, cards and data."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
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
        ("lm_eval_tasks", "karma_plugin/lm_eval_tasks", (".yaml", "_yaml", ".py")),
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
