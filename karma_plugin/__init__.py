"""KARMA: kinship-based preference data from origin-model benchmark scores."""

__version__ = "0.1.0"
