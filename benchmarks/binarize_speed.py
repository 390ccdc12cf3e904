"""How fast is `karma-build binarize` on a pool of UltraFeedback's size and shape?

Generates (once, cached) a synthetic pool of 64,000 instructions x 4 completions with
realistic response lengths and every annotation field, then times, each in a fresh process:
  1. `karma-build binarize --strategy all` (the four configs),
  2. `karma-build binarize --strategy k_sim`,
  3. a naive per-row baseline: pandas `iterrows` building the K_sim pairs, as the authors'
     scripts do (load, loop, write).
Prints the best wall time of --repeat runs, rows/s and the highest peak RSS of each.
Targets on a 2-core machine: (1) within 10 s
and 1.5 GB; (2) at least 10 times faster than (3).

With --copies N (issue 13: a million rows in bounded memory), the pool is the 64k one repeated
N times with distinct instructions (a copy number appended), written in 10,000-row row groups
(N=16: 1,024,000 rows, 3.4 GB of parquet), and only `--strategy all` is timed, once.
Target: peak RSS at most 2 GB, whatever N, at the whole-pool reader's rows/s or more (it took
108 s and 7.8 GB at N=16 on this project's machine, 2026-12-03).

Run it in the test environment with this tree installed (scripts/benchmark.sh does both):

    bash scripts/benchmark.sh binarize_speed [--rows 64000] [--repeat 3] [--copies 16] [--clean]

The pool is generated once and kept for the next run in the project's cache folder,
``~/.cache/karma-plugin/bench`` (``$KARMA_CACHE_DIR/bench``; ``--cache DIR`` to choose): the 64k
pool is about 330 MB, the 16-copy one 3.4 GB. ``--clean`` removes the pools this run used when
it ends. The outputs and the spill folders of the runs live in a work folder beside them,
removed at the end whatever happens.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from bench_cache import bench_cache
from synthetic_pool import PRINCIPLES, SOURCES, UF_MODELS

WORDS = [
    *("the", "model", "answer", "because", "first", "then", "finally", "important", "idea"),
    *("example", "which", "process", "result", "explains", "simple", "energy", "change"),
    *("system", "people", "often", "however", "therefore", "between", "value", "step"),
]


def _texts(rng: np.random.Generator, n: int, mean_words: int, corpus: str) -> pa.Array:
    """n strings of about mean_words words each, sliced from one corpus (fast)."""
    lengths = np.clip(rng.normal(mean_words, mean_words / 3, n), 1, None).astype(np.int64) * 7
    starts = rng.integers(0, len(corpus) - lengths.max() - 1, n)
    return pa.array([corpus[s : s + n_] for s, n_ in zip(starts, lengths, strict=True)])


def cached_pool(cache: Path, rows: int) -> Path:
    """The synthetic pool of ``rows`` x 4 under ``cache`` (bench_cache()), generated once and
    shared by every benchmark that binarizes it."""
    cache.mkdir(parents=True, exist_ok=True)
    pool = cache / f"pool-{rows}.parquet"
    if not pool.exists():
        print(f"generating {rows} x 4 synthetic pool at {pool} (once) ...", flush=True)
        make_pool(pool, rows)  # written to a temporary name, then renamed
    return pool


def make_pool(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    corpus = " ".join(rng.choice(WORDS, 400_000))
    n = rows * 4
    # 4 distinct models per instruction, drawn from UltraFeedback's 17.
    models = np.array(UF_MODELS)[np.argsort(rng.random((rows, len(UF_MODELS))), axis=1)[:, :4]]

    def aspect(typed: bool) -> pa.StructArray:
        ratings = rng.integers(1, 6, n).astype(str).astype(object)
        ratings[rng.random(n) < 0.03] = "N/A"
        fields = [pa.array(ratings), _texts(rng, n, 25, corpus)]
        names = ["Rating", "Rationale"]
        if typed:
            fields += [
                _texts(rng, n, 20, corpus),
                pa.ListArray.from_arrays(
                    pa.array(np.arange(n + 1, dtype=np.int32)), pa.array(["1"] * n)
                ),
            ]
            names += ["Rationale For Rating", "Type"]
        return pa.StructArray.from_arrays(fields, names=names)

    annotations = pa.StructArray.from_arrays(
        [aspect(True), aspect(False), aspect(False), aspect(True)],
        names=["helpfulness", "honesty", "instruction_following", "truthfulness"],
    )
    completion = pa.StructArray.from_arrays(
        [
            annotations,
            _texts(rng, n, 60, corpus),
            pa.array(["You are a helpful, respectful and honest assistant."] * n),
            pa.array(np.round(rng.uniform(1, 5, n), 2)),
            pa.array(models.reshape(-1)),
            pa.array(rng.choice([1, 2, 3, 4, 5, 6, 6.5, 7, 7.5, 8, 8.5, 9], n).astype(float)),
            pa.array(rng.choice(PRINCIPLES, n)),
            _texts(rng, n, 220, corpus),  # UltraFeedback's responses: about 1,300 characters
        ],
        names=[
            "annotations",
            "critique",
            "custom_system_prompt",
            "fine-grained_score",
            "model",
            "overall_score",
            "principle",
            "response",
        ],
    )
    offsets = pa.array(np.arange(0, n + 1, 4, dtype=np.int32))
    table = pa.table(
        {
            "source": pa.array(rng.choice(SOURCES, rows)),
            "instruction": pa.array(
                [f"Instruction number {i}: explain something." for i in range(rows)]
            ),
            "models": pa.ListArray.from_arrays(offsets, pa.array(models.reshape(-1))),
            "completions": pa.ListArray.from_arrays(offsets, completion),
            "correct_answers": pa.array([[] for _ in range(rows)], pa.list_(pa.string())),
            "incorrect_answers": pa.array([[] for _ in range(rows)], pa.list_(pa.string())),
        }
    )
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, row_group_size=4_000)
    os.replace(tmp, path)


def make_copies(base: Path, path: Path, copies: int, group_rows: int = 10_000) -> None:
    """``base`` repeated ``copies`` times, each copy's instructions made distinct, in row
    groups of ``group_rows``, about one row group of ``base`` in memory at a time."""
    source = pq.ParquetFile(base)
    tmp = path.with_suffix(".tmp")
    pending: list[pa.Table] = []
    with pq.ParquetWriter(tmp, source.schema_arrow) as writer:
        for copy in range(copies):
            for group in range(source.num_row_groups):
                table = source.read_row_group(group)
                index = table.schema.get_field_index("instruction")
                renamed = pc.binary_join_element_wise(
                    table.column(index), pa.scalar(f" (copy {copy})"), pa.scalar("")
                )
                pending.append(table.set_column(index, "instruction", renamed))
                whole = pa.concat_tables(pending)
                while whole.num_rows >= group_rows:
                    writer.write_table(whole.slice(0, group_rows), group_rows)
                    whole = whole.slice(group_rows)
                pending = [whole]
        if pending[0].num_rows:
            writer.write_table(pending[0], group_rows)
    os.replace(tmp, path)


BASELINE = r"""
import sys, itertools, numpy as np, pandas as pd
from karma_plugin.core.kinship import compute_kinship
from karma_plugin.core.score_table import read_scores
kin = compute_kinship(read_scores("paper"))
names = kin.models
sim = {(a, b): kin.kinship[i, j] for i, a in enumerate(names) for j, b in enumerate(names)}
pref = dict(zip(kin.models, kin.s_pref))
df = pd.read_parquet(sys.argv[1], columns=["instruction", "completions"])
out = []
for _, row in df.iterrows():
    comps = [c for c in row["completions"] if c["model"] in pref and c["response"].strip()]
    best, best_sim = None, -2.0
    for a, b in itertools.combinations(comps, 2):
        s = sim[(a["model"], b["model"])]
        if s > best_sim:
            best, best_sim = (a, b), s
    if best is None or best_sim < 0.1:
        continue
    a, b = sorted(best, key=lambda c: -pref[c["model"]])
    out.append({"prompt": row["instruction"], "chosen": a["response"].strip(),
                "rejected": b["response"].strip(), "chosen_model": a["model"],
                "rejected_model": b["model"]})
pd.DataFrame(out).to_parquet(sys.argv[2])
print(len(out))
"""


def selection_only(pool_path: Path, work: Path) -> tuple[float, float]:
    """K_sim pair selection with the pool already in memory: ours, then the per-row loop."""
    import itertools
    import time

    import pandas as pd

    from karma_plugin.core.binarize import Options, binarize
    from karma_plugin.core.kinship import compute_kinship
    from karma_plugin.core.score_table import read_scores
    from karma_plugin.pools.reader import read_pool

    kin = compute_kinship(read_scores("paper"))
    # The text spills into the work folder (not the system temp folder), removed at the end.
    pool = read_pool(str(pool_path), spill_dir=work)
    try:
        start = time.perf_counter()
        binarize(pool, kin, Options(("k_sim",)))
        ours = time.perf_counter() - start
    finally:
        pool.store.close()
    del pool

    sim = {
        (a, b): kin.kinship[i, j]
        for i, a in enumerate(kin.models)
        for j, b in enumerate(kin.models)
    }
    pref = dict(zip(kin.models, kin.s_pref, strict=True))
    frame = pd.read_parquet(pool_path, columns=["instruction", "completions"])
    start = time.perf_counter()
    pairs = 0
    for _, row in frame.iterrows():
        comps = [c for c in row["completions"] if c["model"] in pref and c["response"].strip()]
        best, best_sim = None, -2.0
        for a, b in itertools.combinations(comps, 2):
            if sim[(a["model"], b["model"])] > best_sim:
                best, best_sim = (a, b), sim[(a["model"], b["model"])]
        pairs += best is not None and best_sim >= 0.1
    return ours, time.perf_counter() - start


_MEASURE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "w = time.perf_counter() - t; "
    "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
)


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``cmd``, measured by a fresh parent of its own."""
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stderr}")
    wall, rss_kib = proc.stdout.split()
    return float(wall), int(rss_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64_000)
    parser.add_argument("--repeat", type=int, default=3, help="best wall time of N runs")
    parser.add_argument(
        "--copies", type=int, default=1, help="repeat the pool N times (1M rows: 16)"
    )
    parser.add_argument("--cache", type=Path, default=bench_cache(), help="default: %(default)s")
    parser.add_argument("--clean", action="store_true", help="remove the pools at the end")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    pool = cached_pool(args.cache, args.rows)
    generated = [pool]
    if args.copies > 1:
        base, pool = pool, args.cache / f"pool-{args.rows}x{args.copies}.parquet"
        generated.append(pool)
        if not pool.exists():
            print(f"writing {args.copies} copies of it at {pool} ...", flush=True)
            make_copies(base, pool, args.copies)
        args.rows *= args.copies
    print(f"pool: {pool} ({pool.stat().st_size / 2**20:.0f} MiB parquet, {args.rows} rows)")
    cli = shutil.which("karma-build") or str(Path(sys.executable).with_name("karma-build"))
    work = Path(tempfile.mkdtemp(prefix="work-", dir=args.cache))
    try:
        runs = [
            (
                "binarize --strategy all",
                [
                    cli,
                    "binarize",
                    "--dataset",
                    str(pool),
                    "--strategy",
                    "all",
                    "--out",
                    str(work / "all"),
                ],
            ),
            (
                "binarize --strategy k_sim",
                [
                    cli,
                    "binarize",
                    "--dataset",
                    str(pool),
                    "--strategy",
                    "k_sim",
                    "--out",
                    str(work / "k_sim"),
                ],
            ),
            (
                "baseline: pandas iterrows K_sim",
                [sys.executable, "-c", BASELINE, str(pool), str(work / "baseline.parquet")],
            ),
        ]
        if args.copies > 1:
            runs, args.repeat = runs[:1], 1
        results = {}
        print(f"{'run':<34} {'wall s':>8} {'rows/s':>10} {'peak RSS MiB':>13}")
        for name, cmd in runs:
            walls, peaks = [], []
            for _ in range(args.repeat):
                shutil.rmtree(work / "all", ignore_errors=True)
                shutil.rmtree(work / "k_sim", ignore_errors=True)
                wall, rss = timed(cmd)
                walls.append(wall)
                peaks.append(rss)
            wall, rss = min(walls), max(peaks)
            results[name] = wall
            print(f"{name:<34} {wall:>8.2f} {args.rows / wall:>10.0f} {rss:>13.0f}", flush=True)
        if args.copies > 1:
            return
        speedup = results["baseline: pandas iterrows K_sim"] / results["binarize --strategy k_sim"]
        print(f"K_sim speed-up over the per-row baseline, end to end: {speedup:.1f}x")
        ours, loop = selection_only(pool, work)
        print(
            f"K_sim pair selection alone (pool in memory, no I/O): {ours:.3f} s against "
            f"{loop:.2f} s for the per-row loop: {loop / ours:.0f}x"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.clean:
            for path in generated:
                path.unlink(missing_ok=True)
        else:
            print(f"kept for the next run: {pool} (--clean removes it)")


if __name__ == "__main__":
    main()
