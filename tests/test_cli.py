"""The click group itself: commands it lists, --verbose on either side, the old plugin path."""

from __future__ import annotations

import importlib
import sys
import warnings

import pytest
from cli import karma_build

from karma_plugin.cli import COMMANDS, main


def test_every_command_module_is_registered() -> None:
    assert sorted(main.commands) == sorted(m.command.name for m in COMMANDS)


def test_verbose_is_accepted_after_the_command_too(tmp_path) -> None:
    for args in (["-v", "kinship", "--tau", "7"], ["kinship", "--tau", "7", "--verbose"]):
        result = karma_build(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Traceback" in result.stderr, args  # the detail --verbose promises
        assert result.stderr.strip().splitlines()[-1].startswith("karma-build: error: tau")
    quiet = karma_build("kinship", "--tau", "7", cwd=tmp_path)
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr


def test_the_old_axolotl_plugin_path_still_loads_with_a_deprecation_warning() -> None:
    pytest.importorskip("axolotl", reason="the plugin needs the `train` extra (Axolotl)")
    from karma_plugin.integrations.axolotl import KarmaEvalPlugin

    sys.modules.pop("karma_plugin.axolotl_plugin", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("karma_plugin.axolotl_plugin")
    assert old.KarmaEvalPlugin is KarmaEvalPlugin
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_usage_errors_are_one_line_with_exit_2(tmp_path) -> None:
    from cli import assert_fails

    cases = {
        ("binarize",): ["Missing option '--out'", "see 'karma-build binarize --help'"],
        ("report",): ["Missing option '--out'"],
        ("compare", "--label", "a=b"): ["Missing option '--out'"],
        ("binarize", "--out", "x", "--tau", "high"): ["'high' is not a valid float"],
        ("no-such-command",): ["No such command 'no-such-command'", "see 'karma-build --help'"],
        ("kinship", "--no-such-option"): ["No such option", "--no-such-option"],
    }
    for args, fragments in cases.items():
        assert_fails(karma_build(*args, cwd=tmp_path), 2, *fragments)
    assert list(tmp_path.iterdir()) == []  # nothing written on the way
