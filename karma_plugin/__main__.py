"""`python -m karma_plugin` is `karma-build` (and says so in its messages)."""

from karma_plugin.cli import main

main(prog_name="karma-build")
