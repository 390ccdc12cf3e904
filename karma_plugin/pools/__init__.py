"""Response pools in: readers that turn a pool (local file, folder, Hub dataset) into the flat
columns the core works on."""

from importlib.resources import files

# The instance ratings a pool offers (for rlaif and the score_* columns); named here, where
# importing costs nothing, so that the CLI can list them.
RATINGS = ("overall_score", "fine-grained_score", "aspects")
DEFAULT_RATING = "overall_score"

SAMPLE = "sample"  # the name of the small pool shipped in the package


def sample_pool_path() -> str:
    """The small UltraFeedback-schema pool shipped in the package (``--dataset sample``)."""
    return str(files("karma_plugin.data") / "ultrafeedback_sample.jsonl")
