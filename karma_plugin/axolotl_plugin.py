"""Deprecated path of the Axolotl plugin, kept because configs written for karma-plugin 0.1
name ``karma_plugin.axolotl_plugin.KarmaEvalPlugin``. Use
``karma_plugin.integrations.axolotl.KarmaEvalPlugin``."""

import warnings

from karma_plugin.integrations.axolotl import KarmaEvalPlugin

warnings.warn(
    "karma_plugin.axolotl_plugin is deprecated: name "
    "karma_plugin.integrations.axolotl.KarmaEvalPlugin in the Axolotl config",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["KarmaEvalPlugin"]
