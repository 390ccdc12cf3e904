"""The package version, in a module of its own: `karma-build --version`, the output marker and
a pool's provenance read it here, below every other layer (pyproject.toml reads it too)."""

__version__ = "0.1.0"
