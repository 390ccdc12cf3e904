"""The defaults of a binarize run that the CLI shows in its help, kept in a module that loads
nothing (``karma-build --help`` need not import pyarrow to print them)."""

DEFAULT_TEST_SIZE = 0.05  # share of prompts in the test splits
DEFAULT_SEED = 42  # seeds the test split and RLAIF's draw
