"""How do `binarize` and `kinship --json` scale with the number of models in the score table?

Score tables from a leaderboard hold thousands of models, while a response pool holds answers
of only a handful. This generates (seeded, cached) score tables of 2,000 and 10,000 models in
the authors' CSV layout with benchmarks/synthetic_scores.py: the 17 rows of the authors' table
(so the shipped sample pool's models are present and pairs are formed) among synthetic models
whose six scores follow one latent ability, within the score ranges seen on leaderboards.
Then it times, each in a fresh process,
  1. `karma-build binarize --scores TABLE --out DIR` (the shipped sample pool, all strategies),
  2. `karma-build kinship --scores TABLE --json FILE`,
  3. `karma-build kinship --scores TABLE` (the terminal view),
  4. `karma-build report --scores TABLE --out DIR` (figures and report.md),
and prints the wall time, the peak RSS of that process (os.wait4) and the sizes of
kinship.json, the kinship matrix file and README.md (the card).

Targets on a 2-core machine: 10,000 models within 30 s and 2 GB each for 1 to 3. The peak RSS
is read with os.wait4 from this small parent (a child's peak counts the process it was forked
from).

Run it in the test environment with this tree installed (scripts/benchmark.sh does both):

    bash scripts/benchmark.sh many_models [--models 2000,10000] [--repeat 1] [--timeout 600]

The score tables are generated once and kept for the next run in the project's cache folder,
``~/.cache/karma-plugin/bench`` (``$KARMA_CACHE_DIR/bench``; ``--cache DIR``); ``--clean``
removes the ones this run used. The outputs live in a work folder beside them, removed at the
end whatever happens.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cache import bench_cache
from synthetic_scores import synthetic_score_csv


def timed(cmd: list[str], timeout: float) -> tuple[float, float, int | None]:
    """Wall seconds, peak RSS (MiB) and exit code of ``cmd`` (None: killed at ``timeout``)."""
    # stderr to a file, not a pipe: a full pipe would stall the child.
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                wall = time.perf_counter() - start
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() - start > timeout:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                wall, proc.returncode = time.perf_counter() - start, None
                break
            time.sleep(0.02)
        errors.seek(0)
        err = errors.read().decode(errors="replace")
    if proc.returncode:
        print(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err[-500:]}")
    return wall, usage.ru_maxrss / 1024, proc.returncode


def _size(path: Path) -> str:
    if not path.exists():
        return "-"
    size = path.stat().st_size
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="2000,10000", help="comma-separated table sizes")
    parser.add_argument("--repeat", type=int, default=1, help="best wall time of N runs")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a kill")
    parser.add_argument("--cache", type=Path, default=bench_cache(), help="default: %(default)s")
    parser.add_argument("--clean", action="store_true", help="remove the tables at the end")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    cli = shutil.which("karma-build") or str(Path(sys.executable).with_name("karma-build"))
    work = Path(tempfile.mkdtemp(prefix="work-", dir=args.cache))
    tables: list[Path] = []
    print(
        f"{'models':>7}  {'run':<18} {'wall s':>8} {'peak RSS MiB':>13} "
        f"{'kinship.json':>13} {'matrix file':>12} {'card|report':>13}"
    )
    try:
        for models in (int(m) for m in args.models.split(",")):
            table = args.cache / f"scores-{models}.csv"
            tables.append(table)
            if not table.exists():
                table.write_text(synthetic_score_csv(models), encoding="utf-8")
            out, json_path = work / f"out-{models}", work / f"kinship-{models}.json"
            runs = {
                "binarize": (
                    [cli, "binarize", "--scores", str(table), "--out", str(out)],
                    out / "kinship.json",
                    out / "kinship_matrix.parquet",
                    out / "README.md",
                ),
                "kinship --json": (
                    [cli, "kinship", "--scores", str(table), "--json", str(json_path)],
                    json_path,
                    json_path.with_name(f"{json_path.stem}_matrix.parquet"),
                    work / "no-card",
                ),
                "kinship": ([cli, "kinship", "--scores", str(table)], *(work / "none",) * 3),
                "report": (
                    [cli, "report", "--scores", str(table), "--out", str(work / "report")],
                    *(work / "none",) * 2,
                    work / "report" / "report.md",
                ),
            }
            for name, (cmd, doc, matrix, card) in runs.items():
                walls, peaks, killed = [], [], False
                for _ in range(args.repeat):
                    shutil.rmtree(out, ignore_errors=True)
                    shutil.rmtree(work / "report", ignore_errors=True)
                    wall, rss, code = timed(cmd, args.timeout)
                    walls.append(wall)
                    peaks.append(rss)
                    killed = code is None
                    failed = bool(code)
                wall_text = f">{args.timeout:.0f}" if killed else f"{min(walls):.2f}"
                wall_text += " (failed)" if failed else ""
                print(
                    f"{models:>7}  {name:<18} {wall_text:>8} {max(peaks):>13.0f} "
                    f"{_size(doc):>13} {_size(matrix):>12} {_size(card):>13}",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for table in tables if args.clean else []:
            table.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
