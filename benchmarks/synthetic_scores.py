"""Leaderboard-sized score tables in the authors' CSV layout, for the many-models benchmark and
tests.

The 17 rows of the authors' table (so the shipped sample pool's models are present and pairs
are formed) among synthetic models whose six scores follow one latent ability with
benchmark-specific noise, on the authors' scales: IFEval as a plain percentage, MMLU,
HellaSwag and ARC as "64.10%" strings, MMLU-Pro as a fraction. Seeded: the same arguments give
the same text.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from karma_plugin.core.score_table import paper_csv_path

# (low, high, format) per column of the authors' table: the ranges of open leaderboards.
RANGES = (
    (15.0, 90.0, "{:.2f}"),
    (25.0, 88.0, "{:.2f}%"),
    (0.10, 0.72, "{:.4f}"),
    (25.0, 96.0, "{:.2f}%"),
    (25.0, 97.0, "{:.2f}%"),
    (20.0, 96.0, "{:.2f}%"),
)
FAMILIES = ("llama-3", "qwen2.5", "mistral", "gemma-2", "phi-3", "falcon", "olmo", "yi", "smollm")
SIZES = ("0.5b", "1.5b", "3b", "7b", "8b", "9b", "14b", "32b", "70b")
VARIANTS = ("instruct", "chat", "dpo", "sft", "merge", "ties", "slerp", "orpo", "base")


def paper_rows() -> tuple[list[str], list[list[str]]]:
    """The header and the model rows of the authors' table, as text."""
    text = paper_csv_path().read_text(encoding="utf-8-sig")
    header, *rows = [row for row in csv.reader(io.StringIO(text)) if row]
    return header, rows


def synthetic_score_csv(models: int, seed: int = 0, inside_paper_range: bool = False) -> str:
    """A CSV of ``models`` rows, the authors' 17 among them, in a seeded random order.

    ``inside_paper_range``: every synthetic score lies strictly between the lowest and the
    highest score of the authors' models on that benchmark, so min-max normalisation (and with
    it S_pref and kinship) of the authors' models is the same as in their table alone.
    """
    rng = np.random.default_rng(seed)
    header, paper = paper_rows()
    n = models - len(paper)
    if n < 0:
        raise ValueError(f"a table needs at least the authors' {len(paper)} rows")
    ranges = list(RANGES)
    if inside_paper_range:
        columns = np.array(
            [[_number(cell) for cell in row[1:]] for row in paper if all(row[1:])], dtype=float
        )
        lo, hi = columns.min(axis=0), columns.max(axis=0)
        # Scaled to the printed unit ("%" cells print 100 x the fraction).
        unit = np.array([100.0 if "%" in fmt else 1.0 for _, _, fmt in RANGES])
        margin = 0.05 * (hi - lo)
        ranges = [
            ((a + m) * u, (b - m) * u, fmt)
            for a, b, m, u, (_, _, fmt) in zip(lo, hi, margin, unit, RANGES, strict=True)
        ]
    ability = rng.beta(2.0, 2.5, n)
    rows = []
    for i in range(n):
        name = (
            f"org-{rng.integers(0, 900):03d}/{rng.choice(FAMILIES)}-{rng.choice(SIZES)}-"
            f"{rng.choice(VARIANTS)}-{i:05d}"
        )
        cells = []
        for low, high, fmt in ranges:
            share = float(np.clip(ability[i] + rng.normal(0.0, 0.08), 0.0, 1.0))
            cells.append(fmt.format(low + (high - low) * share))
        rows.append([name, *cells])
    rows += paper
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows[i] for i in rng.permutation(len(rows)))
    return out.getvalue()


def _number(cell: str) -> float:
    """A cell as the number printed (percent strings without the sign, on their own scale)."""
    return float(cell.rstrip("%")) / (100.0 if cell.endswith("%") else 1.0)
