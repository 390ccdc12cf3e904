"""One module per `karma-build` command, each exposing a click ``command``."""
