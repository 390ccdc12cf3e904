"""Plugins for other tools' runtimes (Axolotl)."""
