"""The preference check of the authors' table against AlpacaEval (issue 18 item 6).

Takes AlpacaEval's leaderboards out of the alpaca-eval 0.6.6 wheel (`pip download --no-deps`,
once, cached; the package is never installed), then runs `karma-build binarize --strategy all
--preference ...` on the authors' table and the 64k synthetic pool of
benchmarks/binarize_speed.py (generated once, cached) for each judge column, and prints the
figures as a Markdown table (the README's).

The intervals come from the check's own 1,000 draws (no --bootstrap: the pairs' stability is
not what is measured here).

Usage: python benchmarks/preference_check.py [--rows 64000] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench_cache import bench_cache
from binarize_speed import cached_pool

BOARDS = {
    "AlpacaEval 2": "alpaca_eval/leaderboards/data_AlpacaEval_2/"
    "weighted_alpaca_eval_gpt4_turbo_leaderboard.csv",
    "AlpacaEval 1": "alpaca_eval/leaderboards/data_AlpacaEval/alpaca_eval_gpt4_leaderboard.csv",
}
# (board, win-rate column): AlpacaEval 2's length-controlled and raw win rate, AlpacaEval 1's.
RUNS = [
    ("AlpacaEval 2", "length_controlled_winrate"),
    ("AlpacaEval 2", "win_rate"),
    ("AlpacaEval 1", "win_rate"),
]
CONFIGS = ("k_score", "k_sim", "k_score_sim", "rlaif")


def leaderboards(cache: Path) -> dict[str, Path]:
    wheels = sorted(cache.glob("alpaca_eval-0.6.6-*.whl"))
    if not wheels:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "alpaca-eval==0.6.6",
                "-d",
                str(cache),
            ],
            check=True,
        )
        wheels = sorted(cache.glob("alpaca_eval-0.6.6-*.whl"))
    out = {}
    with zipfile.ZipFile(wheels[0]) as archive:
        for board, member in BOARDS.items():
            out[board] = cache / f"{board.replace(' ', '_')}.csv"
            out[board].write_bytes(archive.read(member))
    return out


def cell(fig: dict, percent: bool = True) -> str:
    if fig.get("value") is None:
        return "–"
    f = (lambda v: f"{100 * v:.1f}%") if percent else (lambda v: f"{v:.3f}")
    lo, hi = fig["interval"]
    return f"{f(fig['value'])} [{f(lo)}, {f(hi)}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64_000)
    parser.add_argument("--cache", type=Path, default=bench_cache(), help="default: %(default)s")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    pool = cached_pool(args.cache, args.rows)
    boards = leaderboards(args.cache)
    header = ["judge", "win rate (stderr: standard_error)", "models", "Spearman", "pairwise"]
    rows = []
    for board, column in RUNS:
        out = Path(tempfile.mkdtemp(dir=args.cache)) / "out"
        subprocess.run(
            [
                "karma-build",
                "binarize",
                "--dataset",
                str(pool),
                "--strategy",
                "all",
                "--preference",
                str(boards[board]),
                "--preference-columns",
                f"win_rate={column},stderr=standard_error",
                "--out",
                str(out),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        check = json.loads((out / "kinship.json").read_text(encoding="utf-8"))["preference_check"]
        rows.append(
            [
                board,
                f"`{column}`",
                str(len(check["matched"])),
                cell(check["spearman"], percent=False),
                cell(check["pairwise_agreement"]),
                *(cell(check["configs"][c]) for c in CONFIGS),
            ]
        )
    print("| " + " | ".join([*header, *(f"`{c}`" for c in CONFIGS)]) + " |")
    print("|" + "---|" * (len(header) + len(CONFIGS)))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
