"""Output files: refused when they must not be replaced, then written whole or not at all.

The rules of every file a command writes (``kinship --json`` and the matrix beside it,
``scores -o``, ``pool -o``), in ``check_file_output``:

- never a folder, and never an input of the run (the same path once links are resolved, the
  same inode, or an existing file inside an input folder), even with ``--overwrite``;
- an existing file only with ``--overwrite``, or when karma-build wrote it, which the writer's
  ``ours`` predicate tells from the file's content (docs/design.md §9);
- written beside the target and renamed over it (``write_file``), and only if the target is
  still the file that was checked.

Output folders have their own home: ``fs.staging``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from karma_plugin.errors import InputError

# What ``check_file_output`` found at the target: None (nothing there) or (device, inode).
Found = tuple[int, int] | None
UNCHECKED = (-1, -1)  # write_file without a check: replace whatever is there


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _found(path: Path) -> Found:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def _is_input(target: Path, given: str | os.PathLike[str]) -> bool:
    """``target`` (which exists) is the input ``given``, one of its links, or a file inside
    it when ``given`` is a folder."""
    try:
        mine, theirs = os.stat(target), os.stat(given)
    except OSError:
        return False  # not a local path (a Hub id, `paper`), or gone
    if (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino):
        return True
    real, folder = Path(os.path.realpath(target)), Path(os.path.realpath(given))
    return stat.S_ISDIR(theirs.st_mode) and folder in real.parents


def check_file_output(
    path: str | os.PathLike[str],
    option: str,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
    ours: Callable[[Path], bool] | None = None,
) -> Found:
    """Refuse (``InputError``, before any work) a file output that must not be written at
    ``path``; return what is there now, for ``write_file(..., found=...)``.

    ``option`` names the output in the message (``--json``, ``-o``); ``ours`` tells whether
    an existing file is one karma-build wrote (replaced without ``--overwrite``).
    """
    target = Path(path)
    shown = f"{option} {str(path)!r}"
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a file where a parent folder should be, no permission...
        raise InputError(f"cannot write {shown}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode) or (stat.S_ISLNK(info.st_mode) and target.is_dir()):
        raise InputError(f"{shown} is a folder; name a file inside it")
    for given in inputs:
        if _is_input(target, given):
            raise InputError(
                f"{shown} is an input of this run ({str(given)!r}): --overwrite never "
                "replaces it; pick another file"
            )
    if not overwrite and not (stat.S_ISREG(info.st_mode) and ours is not None and ours(target)):
        raise InputError(
            f"{shown} already exists and karma-build did not write it (use --overwrite to "
            "replace it, or pick another file)"
        )
    return info.st_dev, info.st_ino


def write_text(
    path: str | os.PathLike[str], text: str, found: Found | tuple[int, int] = UNCHECKED
) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, renamed)."""
    return write_file(
        path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""), found=found
    )


def write_file(
    path: str | os.PathLike[str],
    write: Callable[[Path], object],
    found: Found | tuple[int, int] = UNCHECKED,
) -> Path:
    """Let ``write`` fill a temporary file in the folder of ``path``, then rename it to
    ``path``; on any error the temporary file is removed and ``path`` is left as it was.

    ``found`` is what ``check_file_output`` saw at ``path``: if something else is there by
    now (a file appeared, or was replaced), nothing is replaced and the run fails.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        if found != UNCHECKED and _found(target) != found:
            raise InputError(
                f"{str(path)!r} changed while this run worked (it is not the file checked at "
                "the start): it was left as it is and this run's output discarded"
            )
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target
