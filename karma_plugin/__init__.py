"""KARMA: kinship-based preference data from origin-model benchmark scores.

The library (``karma_plugin.api``; the `karma-build` commands call the same functions)::

    import karma_plugin

    built = karma_plugin.build_dataset(
        "out/karma", "openbmb/UltraFeedback",
        kinship=karma_plugin.KinshipOptions("scores.csv", tau=0.2),
    )
    karma_plugin.push_dataset("out/karma", "ORG/NAME", karma_plugin.PushOptions(private=True))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from karma_plugin._version import __version__

if TYPE_CHECKING:
    from karma_plugin.api import BuiltDataset, build_dataset, pull_dataset, push_dataset
    from karma_plugin.hub.push import PushOptions
    from karma_plugin.kinship_inputs import KinshipOptions

__all__ = [
    "BuiltDataset",
    "KinshipOptions",
    "PushOptions",
    "__version__",
    "build_dataset",
    "pull_dataset",
    "push_dataset",
]

# Imported on first use, so that `import karma_plugin.fs` (and `karma-build --help`) does not
# load the whole library, and no module below the library imports it through this file.
_LAZY = {
    "BuiltDataset": "karma_plugin.api",
    "build_dataset": "karma_plugin.api",
    "pull_dataset": "karma_plugin.api",
    "push_dataset": "karma_plugin.api",
    "KinshipOptions": "karma_plugin.kinship_inputs",
    "PushOptions": "karma_plugin.hub.push",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'karma_plugin' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
