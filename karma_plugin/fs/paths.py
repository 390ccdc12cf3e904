"""What a string given for an input names: a path on this machine, or a Hugging Face Hub id.

Decided here only (a pool, a prompt set, the paths a published card shows, the inputs an
output folder must not replace), so that every command reads ``data/pool.jsonl`` as a missing
file rather than a Hub dataset to look for, and ``org/name`` as a Hub id unless a folder of
that name is here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from karma_plugin.errors import InputError

# The local data files a pool or a prompt set may be, and the `datasets` builder of each.
DATA_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
# A Hub dataset repo as a card links to it or a table is read from it: ORG/NAME.
HUB_REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def looks_like_hub_id(spec: str) -> bool:
    """``org/name`` or ``name``: no path separators beyond one slash, not starting like a path
    (``.``, ``/``, ``~``), no data-file suffix. Says nothing of whether the repo exists."""
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        return False
    return Path(spec).suffix.lower() not in DATA_FILE_BUILDERS


def is_hub_repo(spec: str) -> bool:
    """``ORG/NAME`` (or ``ORG/NAME@REVISION``) as a Hub id: one a card can link to and a
    table can be read from (a bare ``name`` is not)."""
    repo = spec.partition("@")[0]
    return looks_like_hub_id(repo) and bool(HUB_REPO.fullmatch(repo))


def locate(spec: str | os.PathLike[str]) -> Literal["local", "hub", "missing"]:
    """``local``: something is at that path here (a file, a folder, a link, even a broken
    one: it names the user's files, not a repo); ``hub``: nothing is, and it reads as a Hub
    id; ``missing``: nothing is, and it reads as a local path (a file or folder not there)."""
    if os.path.lexists(spec):
        return "local"
    return "hub" if looks_like_hub_id(str(spec)) else "missing"


def read_text(path: Path, what: str) -> str:
    """A small text file's contents (UTF-8, a BOM dropped); a missing, unreadable or
    non-UTF-8 file is one line (InputError) naming ``what`` it was to be."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {str(path)!r} is not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from None
