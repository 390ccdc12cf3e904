"""The defaults of a binarize run that the CLI shows in its help, kept in a module that loads
nothing (``karma-build --help`` need not import pyarrow to print them)."""

from collections.abc import Sequence

from karma_plugin.errors import InputError

DEFAULT_TEST_SIZE = 0.05  # share of prompts in the test splits
DEFAULT_SEED = 42  # seeds the test split and RLAIF's draw
# The config `datasets.load_dataset(folder_or_repo)` loads when no name is given.
DEFAULT_CONFIG = "k_sim"


def default_config(configs: Sequence[str], requested: str | None = None) -> str:
    """The config marked default in the card: ``requested``, which must be one of ``configs``
    (those written), else k_sim where written, else the first."""
    if requested is not None:
        if requested not in configs:
            raise InputError(
                f"--default-config {requested} is not a config written here "
                f"(choose from: {', '.join(configs)})"
            )
        return requested
    return DEFAULT_CONFIG if DEFAULT_CONFIG in configs else configs[0]
