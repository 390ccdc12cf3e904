"""KARMA: kinship-based preference data from origin-model benchmark scores."""

from karma_plugin._version import __version__

__all__ = ["__version__"]
