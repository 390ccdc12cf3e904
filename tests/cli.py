"""Drive the real `karma-build` in a subprocess and check how it fails.

What a user sees is the contract: the exit code, one line on stderr (no traceback, no warning in
front of it), and no file of theirs touched. Every fault-path test goes through here.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ERROR_PREFIX = "karma-build: error: "


def karma_build(
    *args: str | os.PathLike[str],
    cwd: str | os.PathLike[str],
    env: dict[str, str | None] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``python -m karma_plugin ARGS`` (the installed package) and capture its output.

    The run is offline (HF_HUB_OFFLINE=1) unless ``env`` says otherwise; a ``None`` value in
    ``env`` unsets that variable."""
    base = {k: v for k, v in os.environ.items() if k != "KARMA_TEST_HUB_TOKEN"}
    merged = {**base, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "karma_plugin", *map(str, args)],
        cwd=cwd,
        env={k: v for k, v in merged.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_fails(result: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    """The run exited with ``code`` and said why in exactly one stderr line holding every
    fragment; returns that line (without the prefix)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{result.stderr}"
    assert lines[0].startswith(ERROR_PREFIX), lines[0]
    message = lines[0][len(ERROR_PREFIX) :]
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def snapshot(*roots: str | os.PathLike[str]) -> dict[str, str]:
    """Every file and folder under ``roots`` with a digest of its bytes (folders: 'dir')."""
    state: dict[str, str] = {}
    for root in map(Path, roots):
        if not root.exists():
            continue
        paths = [root, *root.rglob("*")] if root.is_dir() else [root]
        for path in paths:
            if path.is_symlink():
                state[str(path)] = "link:" + os.readlink(path)
            elif path.is_dir():
                state[str(path)] = "dir"
            else:
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state
