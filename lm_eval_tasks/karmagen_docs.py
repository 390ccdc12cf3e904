"""Prompts of the karmagen task: each document becomes {instruction, source}.

Written by `karma-build responses-task`. lm-eval loads this file by path and it imports nothing
from karma_plugin, so the task folder runs wherever lm-eval does. Only the two fields are kept:
the samples files stay small and `karma-build pool` finds the prompt whatever its column.
"""

COLUMN = "instruction"  # the prompt column: the whole user turn
SOURCE = "openbmb/UltraFeedback"  # the pool's `source` where the data has no `source` column


def _is_text(feature) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


def process_docs(dataset):
    names = list(dataset.column_names)
    if COLUMN not in names:
        raise ValueError(f"karmagen: the prompt set has no column {COLUMN!r} (it has: {names})")
    if not _is_text(dataset.features[COLUMN]):
        raise ValueError(f"karmagen: column {COLUMN!r} does not hold text")
    own_source = "source" in names and COLUMN != "source" and _is_text(dataset.features["source"])

    def document(row):
        text = row[COLUMN]
        if not isinstance(text, str):
            raise ValueError(f"karmagen: a prompt in column {COLUMN!r} is empty (null)")
        source = row["source"] if own_source and row["source"] is not None else SOURCE
        return {"instruction": text, "source": source}

    return dataset.map(document, remove_columns=names)
