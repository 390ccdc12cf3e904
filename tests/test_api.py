"""The library entry point: `karma_plugin.build_dataset` is what `karma-build binarize` runs, so
a Python caller gets the same folder, byte for byte, and the same refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import karma_plugin
from karma_plugin.cli import main
from karma_plugin.errors import InputError
from karma_plugin.outputs.preference_table import PREFERENCE_SCHEMA


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))
    }


def test_build_dataset_writes_what_binarize_writes(tmp_path, runner):
    cli = tmp_path / "cli"
    args = ["--strategy", "k_sim,rlaif", "--tau", "0.3", "--test-size", "0.2", "--seed", "7"]
    result = runner.invoke(main, ["binarize", *args, "--out", str(cli)])
    assert result.exit_code == 0, result.output
    built = karma_plugin.build_dataset(
        tmp_path / "lib",
        kinship=karma_plugin.KinshipOptions(tau=0.3),
        strategies=["k_sim", "rlaif"],
        test_size=0.2,
        seed=7,
    )
    assert built.folder == tmp_path / "lib"
    assert built.report is None
    cli_files, lib_files = _files(cli), _files(built.folder)
    assert sorted(cli_files) == sorted(lib_files) and len(lib_files) == 8
    assert cli_files == lib_files
    on_disk = json.loads((built.folder / "kinship.json").read_text(encoding="utf-8"))
    assert on_disk == built.manifest
    cli_doc = json.loads((cli / "kinship.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in cli_doc.items() if k != "command"} == {
        k: v for k, v in on_disk.items() if k != "command"
    }
    # The one tau: the pairs were formed with the kinship's, which kinship.json publishes.
    assert on_disk["tau"] == built.kinship.tau == 0.3
    table = pq.read_table(built.folder / on_disk["files"]["k_sim"]["train_prefs"][0])
    assert table.schema.equals(PREFERENCE_SCHEMA)
    assert min(table.column("kinship").to_pylist()) >= 0.3


def test_build_dataset_refuses_as_the_cli_does(tmp_path):
    with pytest.raises(InputError, match="unknown strategy 'k_best'"):
        karma_plugin.build_dataset(tmp_path / "a", strategies="k_best")
    with pytest.raises(InputError, match="--default-config rlaif is not a config written"):
        karma_plugin.build_dataset(tmp_path / "a", strategies="k_sim", default_config="rlaif")
    with pytest.raises(InputError, match="unknown key 'prompt'"):
        karma_plugin.build_dataset(tmp_path / "a", columns={"prompt": "question"})
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
