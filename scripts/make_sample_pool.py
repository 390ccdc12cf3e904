"""Regenerate karma_plugin/data/ultrafeedback_sample.jsonl (the pool shipped as the default).

300 synthetic rows in UltraFeedback's schema plus hand-written edge cases. Deterministic.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

# The generator lives with the benchmarks, which use it too; it is not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from synthetic_pool import UF_MODELS, make_pool, make_row

OUT = Path(__file__).resolve().parents[1] / "karma_plugin" / "data" / "ultrafeedback_sample.jsonl"


def edge_cases() -> list[dict]:
    rng = random.Random(7)
    rows = []
    # A model that answered twice: the first completion counts.
    row = make_row(rng, index=10_001)
    row["completions"][1] = dict(row["completions"][1], model=row["completions"][0]["model"])
    row["models"][1] = row["models"][0]
    rows.append(row)
    # Every rating "N/A": no RLAIF pair can be made.
    row = make_row(rng, index=10_002, na_rate=1.0)
    for c in row["completions"]:
        c["overall_score"] = None
        c["fine-grained_score"] = None
    rows.append(row)
    # Whitespace-only answers are empty answers.
    row = make_row(rng, index=10_003)
    row["completions"][0]["response"] = "  \n "
    row["completions"][2]["response"] = ""
    rows.append(row)
    # Two of the four models are unknown to the score table.
    row = make_row(rng, index=10_004, models=("ultralm-65b", "gpt-4", "bard"), n_completions=3)
    rows.append(row)
    # Every model, so all 17 names appear at least once.
    for i in range(0, len(UF_MODELS), 4):
        group = UF_MODELS[i : i + 4]
        rows.append(make_row(rng, index=10_100 + i, models=group, n_completions=len(group)))
    return rows


def main() -> None:
    rows = make_pool(300, seed=2025, response_words=60) + edge_cases()
    with OUT.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
