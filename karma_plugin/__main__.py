"""`python -m karma_plugin` is `karma-build`."""

from karma_plugin.cli import main

main()
