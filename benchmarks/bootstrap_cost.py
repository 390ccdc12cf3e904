"""What does `--bootstrap 1000` cost `karma-build binarize --strategy all`? (issue 18)

On the authors' table and the 64k synthetic pool of benchmarks/binarize_speed.py (generated
once, cached), times in fresh processes, alternately, `binarize --strategy all` without and with
`--bootstrap N` and prints the best wall time of --repeat runs, rows/s and the highest peak RSS
of each, the share the bootstrap adds, and the stability per config it measured.
Then, in this process, the bootstrap's own work alone (the draws and the pairing of every
instruction on each), which a busy machine's noise in the end-to-end figures can hide.

Targets: at most 30% more wall time and at most 200 MB more peak RSS.

Usage: python benchmarks/bootstrap_cost.py [--draws 1000] [--rows 64000] [--repeat 3] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_cache import bench_cache
from binarize_speed import cached_pool

# Wall seconds, CPU seconds (user + system: less sensitive than wall to other jobs on a shared
# machine) and peak RSS of a command, measured by a fresh parent of its own.
_MEASURE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "w = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(w, u.ru_utime + u.ru_stime, u.ru_maxrss); sys.exit(rc)"
)


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of ``cmd``."""
    import subprocess

    proc = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stderr}")
    wall, cpu, rss_kib = proc.stdout.split()
    return float(wall), float(cpu), int(rss_kib) / 1024


def own_work(pool_path: Path, draws: int, spill: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the bootstrap's part of binarize, in process (best of 3)."""
    from karma_plugin.core import uncertainty
    from karma_plugin.core.binarize import Options, binarize
    from karma_plugin.kinship_inputs import kinship_from_options, noise_from_options
    from karma_plugin.pools.reader import read_pool

    kin = kinship_from_options()
    pool = read_pool(str(pool_path), split="train", spill_dir=spill)
    resample = uncertainty.Resample(noise_from_options(kin), draws, 42)
    walls, cpus = [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        binarize(pool, kin, Options())
        plain, plain_cpu = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        binarize(pool, kin, Options(), resample)
        walls.append(time.perf_counter() - t - plain)
        cpus.append(time.process_time() - c - plain_cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=64_000)
    parser.add_argument("--repeat", type=int, default=3, help="best wall time of N runs")
    parser.add_argument("--cache", type=Path, default=bench_cache(), help="default: %(default)s")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    pool = cached_pool(args.cache, args.rows)
    cli = shutil.which("karma-build") or str(Path(sys.executable).with_name("karma-build"))
    work = Path(tempfile.mkdtemp(dir=args.cache))
    base = [cli, "binarize", "--dataset", str(pool), "--strategy", "all"]
    runs = {
        "binarize --strategy all": [*base, "--out", str(work / "plain")],
        f"  with --bootstrap {args.draws}": [
            *base,
            "--bootstrap",
            str(args.draws),
            "--out",
            str(work / "drawn"),
        ],
    }
    try:
        walls: dict[str, list[float]] = {name: [] for name in runs}
        cpus: dict[str, list[float]] = {name: [] for name in runs}
        peaks: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, cmd in runs.items():  # alternately: a busy spell hits both alike
                shutil.rmtree(cmd[-1], ignore_errors=True)
                wall, cpu, rss = timed(cmd)
                walls[name].append(wall)
                cpus[name].append(cpu)
                peaks[name].append(rss)
        print(f"pool: {pool} ({args.rows} rows); scores: the authors' table")
        print(
            f"{'run (best of ' + str(args.repeat) + ')':<34} {'wall s':>8} {'CPU s':>7} "
            f"{'rows/s':>10} {'peak RSS MiB':>13}"
        )
        for name in runs:
            wall, cpu, rss = min(walls[name]), min(cpus[name]), max(peaks[name])
            print(f"{name:<34} {wall:>8.2f} {cpu:>7.2f} {args.rows / wall:>10.0f} {rss:>13.0f}")
        plain, drawn = (min(walls[n]) for n in runs)
        cpu_plain, cpu_drawn = (min(cpus[n]) for n in runs)
        rss_plain, rss_drawn = (max(peaks[n]) for n in runs)
        print(
            f"--bootstrap {args.draws} adds {drawn / plain - 1:.0%} wall time (target <= 30%), "
            f"{cpu_drawn / cpu_plain - 1:.0%} CPU time, and {rss_drawn - rss_plain:.0f} MiB "
            "peak RSS (target <= 200 MB)"
        )
        unc = json.loads((work / "drawn" / "kinship.json").read_text())["uncertainty"]
        for config, share in unc["stability"].items():
            print(
                f"  {config:<12} stability {share:.3f}, sure pairs {unc['sure_pairs'][config]:.3f}"
            )
        spill = work / "spill"
        spill.mkdir()
        wall, cpu = own_work(pool, args.draws, spill)
        print(
            f"the bootstrap's own work in process (draws + pairing, best of 3): "
            f"{wall:.2f} s wall, {cpu:.2f} s CPU"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
