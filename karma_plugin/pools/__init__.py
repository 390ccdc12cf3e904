"""Response pools in: readers that turn a pool (local file, folder, Hub dataset) into the flat
columns the core works on."""

# The instance ratings a pool offers (for rlaif and the score_* columns); named here, where
# importing costs nothing, so that the CLI can list them.
RATINGS = ("overall_score", "fine-grained_score", "aspects")
DEFAULT_RATING = "overall_score"
