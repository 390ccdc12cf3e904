"""Where the benchmarks keep what they generate once and reuse (synthetic pools and tables).

Under the project's cache folder, beside the environments scripts/_venv.sh builds, never in the
system temp folder: ``$KARMA_CACHE_DIR/bench`` (default ``~/.cache/karma-plugin/bench``).
``--clean`` on a benchmark removes what it cached there; ``rm -rf`` the folder removes all.
"""

from __future__ import annotations

import os
from pathlib import Path


def bench_cache() -> Path:
    base = os.environ.get("KARMA_CACHE_DIR") or (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "karma-plugin"
    )
    return Path(base) / "bench"
