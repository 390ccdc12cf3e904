"""Outputs appear whole or not at all: write beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from karma_plugin.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, renamed)."""
    return write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


def write_file(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Let ``write`` fill a temporary file in the folder of ``path``, then rename it to
    ``path``; on any error the temporary file is removed and ``path`` is left as it was."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def check_new_dir(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """Refuse an existing output folder unless ``overwrite``; fail before any work is done."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise InputError(
            f"output folder {str(target)!r} already exists (use --overwrite to replace it)"
        )
    if target.exists() and not target.is_dir():
        raise InputError(f"output path {str(target)!r} exists and is not a folder")
    return target


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike[str], overwrite: bool) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``path`` in one rename.

    On any error the staging folder is removed and ``path`` is left as it was.
    """
    target = check_new_dir(path, overwrite).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        # mkdtemp makes the folder private (0700); give it the mode a plain mkdir() would.
        os.chmod(stage, 0o777 & ~_umask())
        yield stage
        if target.exists():
            old = Path(
                tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old")
            )
            os.replace(target, old / "previous")
            os.replace(stage, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, target)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
