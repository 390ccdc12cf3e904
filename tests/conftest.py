"""Shared fixtures. Test helper modules live beside this file (tests/ is on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def write_jsonl(tmp_path: Path):
    """Write rows to a .jsonl file under tmp_path and return its path."""

    def write(rows: list[dict], name: str = "pool.jsonl") -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    return write
