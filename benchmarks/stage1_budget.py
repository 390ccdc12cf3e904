"""How many Stage 1 items does KARMA need? The budget study of issue 19 (item 2).

For a score table (default the authors', shipped in the package) and a response pool (default
the 64k UltraFeedback-shaped pool of benchmarks/binarize_speed.py, generated once and cached
in bench_cache.py's folder, ``$KARMA_CACHE_DIR/bench`` or ``~/.cache/karma-plugin/bench``), each
*selection* of items per benchmark is scored under the binomial noise model of
core/uncertainty.py (a score is a proportion of n items, n = the selection's size for that
benchmark) and the whole pipeline is run on ``--draws`` draws of the table. Printed per
selection: the total items, the generated-token bound (items x ``max_gen_toks`` of the shipped
task YAMLs in lm_eval_tasks/), the width of the 95% S_pref intervals (mean and max over the
table's models) and each config's pair stability (core/uncertainty.py's: the share of the
pairs that keep their chosen and rejected models in a draw), with its loss against the full
set. Three kinds of selection:

- ``cap-N``: at most N items per benchmark (all of a smaller one), as a random draw of N items
  gives. ``full`` is every item.
- ``alloc-T``: T items in all, split over the benchmarks where they reduce the noise of the
  normalised scores most (Neyman allocation): n_j proportional to sqrt(sum_i p_ij (1 - p_ij))
  / R_j, p_ij model i's score on benchmark j and R_j the models' range on it (min-max
  normalisation divides by it: a benchmark that separates the models little needs more items),
  at most the benchmark's size (the excess goes to the others). It minimises
  sum_j Var(normalised score) for a fixed total, the noise in every S_pref difference and in
  every kinship cosine alike.
- ``sens-T``: the same allocation with weights the pipeline measures: one probe per benchmark
  (that benchmark alone noisy, at 500 items, the others exact) gives the share of the most
  fragile config's pairs (K_sim's here) its noise changes; n_j is proportional to it (if a
  config's instability grows as the sd of its decisions' margins, this minimises it for a
  fixed total). It puts the items where they change the most pairs, whatever the reason
  (the pool's models, kinship as well as S_pref).

By default one alloc and one sens row at each cap row's total (equal cost) and one at the
goal's total, a fifth of the full set. Every selection sees the same seed, hence the same
standard-normal draws scaled by its own sd: differences between rows are not draw noise.

What the binomial model cannot show: only n enters it, so *which* n items are drawn (random,
stratified by subject, or IRT anchors as in tinyBenchmarks) makes no difference here. A
stratified draw of MMLU-STEM / MMLU-Pro (proportional to subject or category) has a variance
no larger than a simple random draw's, to first order (smaller by the between-subject part):
the binomial figures bound it from above. Showing the gain, or fitting IRT anchors, needs per-item
results of many models, which this table does not have (README, "Stage 1 on a budget").

The goal (issue 19): at least 5x fewer items than the full set with every config's stability
within 3 points of the full set's. ``--sizes-out`` writes the sizes of the selection the study
chooses (the one with the smallest worst loss among those within the 5x budget) as
{benchmark: n_items} with a ``_source`` note, for scripts/make_karmalite_ids.py.

Usage (in the project's test environment: README, Development)::

    nice python benchmarks/stage1_budget.py                       # the study, 1000 draws
    nice python benchmarks/stage1_budget.py --sizes-out lm_eval_tasks/karmalite_sizes.json
    python benchmarks/stage1_budget.py --scores my_scores.csv --dataset pool.parquet \\
        --caps 100,500,full --draws 200 --seed 1 --out-figure budget.png
    python benchmarks/stage1_budget.py --smoke                    # seconds: the sample pool

Flags: --scores (``paper`` or a CSV), --dataset (a pool; default the cached 64k pool),
--caps (comma-separated, ``full`` for every item), --totals (the alloc and sens rows' totals),
--draws (1000), --seed (42), --out-figure (default docs/figures/stage1_budget.png; none
with --smoke unless given), --sizes-out, --smoke (the shipped 309-row sample pool, 200 draws,
caps 100,1000,full: for the test).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from bench_cache import bench_cache  # beside this file; as a script, it is on sys.path

from karma_plugin.core import uncertainty as u
from karma_plugin.core.binarize import Options, binarize, without_unrated_rlaif
from karma_plugin.core.kinship import Kinship
from karma_plugin.core.pairing import STRATEGIES
from karma_plugin.kinship_inputs import kinship_from_options, noise_from_options
from karma_plugin.pools import DEFAULT_RATING
from karma_plugin.pools.reader import Pool, read_pool

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "docs" / "figures" / "stage1_budget.png"
CAPS = "100,250,500,1000,2000,full"
POOL_ROWS = 64_000
GOAL_FACTOR = 5  # at least 5x fewer items than the full set ...
GOAL_POINTS = 3.0  # ... with every config's stability within 3 points of the full set's


def benchmark_pool(rows: int = POOL_ROWS) -> Path:
    """The 64k benchmark pool of binarize_speed.py, generated once under the cache folder."""
    from binarize_speed import cached_pool  # beside this file; as a script, on sys.path

    return cached_pool(bench_cache(), rows)


# --- what a selection costs: items and the generated-token bound -----------------------------


class _TaskLoader(yaml.SafeLoader):
    """Reads lm-eval task YAMLs: their ``!function`` tags are kept as plain strings."""


_TaskLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def max_gen_toks(benchmarks: Sequence[str]) -> dict[str, int | None]:
    """Per benchmark, ``max_gen_toks`` of its shipped ``karma_<benchmark>`` task (its own
    ``generation_kwargs``, else those of the file it includes, as lm-eval merges them: a key of
    the task replaces the included one); None for a benchmark without a shipped task."""
    folder = files("karma_plugin.lm_eval_tasks")

    def load(name: str) -> dict[str, Any]:
        doc = yaml.load(folder.joinpath(name).read_text(encoding="utf-8"), Loader=_TaskLoader)
        if "include" in doc:
            doc = {**load(doc["include"]), **doc}
        return doc

    out: dict[str, int | None] = {}
    for bench in benchmarks:
        name = f"karma_{bench}.yaml"
        if not folder.joinpath(name).is_file():
            out[bench] = None
            continue
        out[bench] = int(load(name)["generation_kwargs"]["max_gen_toks"])
    return out


# --- the selections ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    label: str  # cap-N, full, alloc-T
    kind: str  # "cap" or "alloc" ("full" is a cap)
    items: dict[str, int]  # benchmark -> n

    @property
    def total(self) -> int:
        return sum(self.items.values())


def parse_caps(spec: str, flag: str = "--caps") -> list[int | None]:
    """``100,250,full`` -> [100, 250, None] (None: every item)."""
    caps: list[int | None] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part == "full":
            caps.append(None)
            continue
        try:
            value = int(part.replace("_", ""))
        except ValueError:
            sys.exit(f"{flag}: {part!r} is neither a whole number nor 'full'")
        if value < 1:
            sys.exit(f"{flag}: {value} is not at least 1")
        caps.append(value)
    return caps


def capped(full: Mapping[str, int], cap: int | None) -> Selection:
    if cap is None:
        return Selection("full", "cap", dict(full))
    return Selection(f"cap-{cap}", "cap", {b: min(cap, n) for b, n in full.items()})


def noise_weights(kin: Kinship, scale: np.ndarray) -> np.ndarray:
    """Per benchmark, sqrt(sum_i p_ij (1 - p_ij)) / R_j: the sd that one item adds to the
    models' min-max normalised scores, summed over models (the binomial model's)."""
    p = kin.scores / scale
    spread = p.max(axis=0) - p.min(axis=0)
    return np.sqrt((p * (1 - p)).sum(axis=0)) / spread


def allocate(total: int, weights: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Neyman allocation of ``total`` items: n_j proportional to ``weights``, at most
    ``sizes``, whole numbers summing to ``total`` (largest remainders; ties to the first)."""
    if total >= sizes.sum():
        return sizes.copy()
    n = np.zeros(len(sizes))
    free = np.ones(len(sizes), bool)
    left = float(total)
    while True:  # water-filling: a benchmark that would exceed its size is taken whole
        n[free] = left * weights[free] / weights[free].sum()
        over = free & (n >= sizes)
        if not over.any():
            break
        n[over] = sizes[over]
        free &= ~over
        left = total - n[~free].sum()
    whole = np.minimum(np.floor(n), sizes).astype(np.int64)
    room = (whole < sizes) & free
    order = sorted(np.flatnonzero(room), key=lambda j: (-(n[j] - whole[j]), j))
    for j in order[: total - int(whole.sum())]:
        whole[j] += 1
    return whole


def allocated(
    kind: str, total: int, weights: np.ndarray, benchmarks: Sequence[str], full: Mapping[str, int]
) -> Selection:
    sizes = np.array([full[b] for b in benchmarks], np.int64)
    n = allocate(total, weights, sizes)
    return Selection(
        f"{kind}-{total}", kind, {b: int(x) for b, x in zip(benchmarks, n, strict=True)}
    )


EXACT = 10**12  # items of a benchmark held (practically) noiseless in a probe: sd below 1e-6
PROBE_ITEMS = 500


def probes(full: Mapping[str, int]) -> list[Selection]:
    """One selection per benchmark: that benchmark alone noisy, at a common n (500, or the
    smallest benchmark's size), the others exact."""
    n0 = min(PROBE_ITEMS, *full.values())
    return [
        Selection(f"probe-{b}", "probe", {x: n0 if x == b else EXACT for x in full}) for b in full
    ]


# --- measuring one selection ------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    selection: Selection
    tokens: int | None  # None: a benchmark has no shipped task
    width_mean: float
    width_max: float
    stability: dict[str, float | None]
    seconds: float


def measure(
    kin: Kinship,
    pool: Pool,
    strategies: tuple[str, ...],
    selection: Selection,
    budget: Mapping[str, int | None],
    draws: int,
    seed: int,
) -> Row:
    start = time.perf_counter()
    # The binomial model with n = the selection's size per benchmark (the scores of the table
    # stand for what the models would score on those items).
    source = u.noise_source(kin.scores, kin.benchmarks, n_items=selection.items)
    s_pref = u.s_pref_draws(kin, source, draws, seed)
    lo, hi = u.percentile_interval(s_pref)
    width = hi - lo
    result = binarize(pool, kin, Options(strategies), u.Resample(source, draws, seed))
    known = [budget[b] for b in selection.items]
    tokens = (
        None if None in known else sum(n * int(budget[b] or 0) for b, n in selection.items.items())
    )
    return Row(
        selection,
        tokens,
        float(width.mean()),
        float(width.max()),
        dict(result.stability),
        time.perf_counter() - start,
    )


def fragile_config(full: Row) -> str | None:
    """The config with the most pairs that change at the full set (K_sim here)."""
    known = {c: v for c, v in full.stability.items() if v is not None}
    return min(known, key=lambda c: known[c]) if known else None


def sensitivity_weights(probed: Sequence[Row], config: str | None) -> np.ndarray | None:
    """The ``sens`` allocation's weights: per benchmark, the share of ``config``'s pairs that
    change when that benchmark alone is noisy (at a common n). If a config's instability
    grows as the sd of its decisions' margins, sqrt(sum_j b_j / n_j), then a probe measures
    sqrt(b_j / n0), and the allocation minimising it for a fixed total is n_j ~ sqrt(b_j),
    that is n_j proportional to the probe's instability."""
    if config is None:
        return None
    lost = np.array([1.0 - float(r.stability.get(config) or 1.0) for r in probed])
    return lost if (lost > 0).all() else None


# --- what is printed --------------------------------------------------------------------------


def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _changed(stability: float | None) -> float | None:
    return None if stability is None else 1.0 - stability


def losses(row: Row, full: Row) -> dict[str, float]:
    """Points of stability lost against the full set, per config (positive: a loss)."""
    return {
        c: 100 * (float(full.stability[c] or 0) - float(v or 0))
        for c, v in row.stability.items()
        if v is not None and full.stability.get(c) is not None
    }


def meets_goal(row: Row, full: Row) -> bool:
    small = row.selection.total * GOAL_FACTOR <= full.selection.total
    return small and max(losses(row, full).values(), default=0.0) <= GOAL_POINTS


def table(rows: Sequence[Row], full: Row, strategies: Sequence[str]) -> str:
    head = (
        f"{'selection':<12} {'items':>7} {'gen tokens':>11} {'S_pref width':>12} "
        f"{'max':>6} " + " ".join(f"{c:>11}" for c in strategies) + f" {'worst loss':>10} goal"
    )
    lines = [head]
    for row in rows:
        lost = losses(row, full)
        worst = max(lost.values(), default=0.0)
        tokens = "-" if row.tokens is None else f"{row.tokens / 1e6:.2f}M"
        lines.append(
            f"{row.selection.label:<12} {row.selection.total:>7} {tokens:>11} "
            f"{row.width_mean:>12.3f} {row.width_max:>6.3f} "
            + " ".join(f"{_points(row.stability.get(c)):>11}" for c in strategies)
            + f" {worst:>10.1f} {'yes' if meets_goal(row, full) else 'no'}"
        )
    return "\n".join(lines)


def sizes_table(rows: Sequence[Row], benchmarks: Sequence[str]) -> str:
    lines = [f"{'selection':<12} " + " ".join(f"{b:>13}" for b in benchmarks)]
    for row in rows:
        lines.append(
            f"{row.selection.label:<12} "
            + " ".join(f"{row.selection.items[b]:>13}" for b in benchmarks)
        )
    return "\n".join(lines)


def sensitivity_table(
    probed: Sequence[Row],
    benchmarks: Sequence[str],
    strategies: Sequence[str],
    analytic: np.ndarray,
    measured: np.ndarray | None,
    fragile: str | None,
) -> str:
    n0 = min(probed[0].selection.items.values()) if probed else 0
    lines = [
        f"what each benchmark's noise alone costs ({n0} items of it, the others exact): % of "
        f"pairs changed per draw; the alloc and sens rows' shares (sens: {fragile}'s column)",
        f"{'benchmark':<14} " + " ".join(f"{c:>11}" for c in strategies) + f" {'alloc':>6} "
        f"{'sens':>6}",
    ]
    share = analytic / analytic.sum()
    sens = None if measured is None else measured / measured.sum()
    for j, (bench, row) in enumerate(zip(benchmarks, probed, strict=True)):
        lines.append(
            f"{bench:<14} "
            + " ".join(f"{_points(_changed(row.stability.get(c))):>11}" for c in strategies)
            + f" {share[j]:>6.3f} {'-' if sens is None else f'{sens[j]:.3f}':>6}"
        )
    return "\n".join(lines)


def choose(rows: Sequence[Row], full: Row) -> Row | None:
    """Among the selections within the 5x budget that meet the goal, the one whose worst
    config loses least (the most items the budget allows: stability only grows with n);
    None when none meets it."""
    fit = [r for r in rows if meets_goal(r, full)]
    if not fit:
        return None
    return min(fit, key=lambda r: (max(losses(r, full).values(), default=0.0), r.selection.total))


KINDS: dict[str, tuple[Literal["-", "--", "-."], str, str]] = {  # kind -> style, marker, legend
    "cap": ("-", "o", "at most N items per benchmark"),
    "alloc": ("--", "s", "alloc: Neyman allocation, binomial weights"),
    "sens": ("-.", "^", "sens: Neyman allocation, measured weights"),
}


def figure(
    rows: Sequence[Row], full: Row, strategies: Sequence[str], path: Path, title: str
) -> None:
    """Stability per config (colour) and kind of selection (line style) against total items,
    log x; a dotted line per config at the goal (full set minus 3 points)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(7.5, 5.0), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for c, color in zip(strategies, colors, strict=False):
        if full.stability.get(c) is None:
            continue
        for kind, (style, marker, _) in KINDS.items():
            if kind != "cap" and c == "rlaif":
                continue  # rlaif's pairs barely read the scores: one line says it
            # Every kind of selection ends at the full set.
            picked = {r.selection.total: r for r in rows if r.selection.kind == kind}
            if not picked:
                continue
            picked[full.selection.total] = full
            at = sorted(picked.values(), key=lambda r: r.selection.total)
            xs = [r.selection.total for r in at]
            ys = [100 * float(r.stability.get(c) or 0) for r in at]
            ax.plot(xs, ys, style, marker=marker, color=color, markersize=3.5, linewidth=1.2)
        goal = 100 * float(full.stability[c] or 0) - GOAL_POINTS
        ax.axhline(goal, color=color, linestyle=":", linewidth=0.8)
    ax.axvline(full.selection.total / GOAL_FACTOR, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ticks = sorted({r.selection.total for r in rows if r.selection.kind == "cap"})
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("Stage 1 items in all (log scale); grey: 5x fewer than the full set")
    ax.set_ylabel("pair stability: % of pairs unchanged per draw")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    handles = [
        Line2D([], [], color=color, label=c) for c, color in zip(strategies, colors, strict=False)
    ]
    handles += [
        Line2D([], [], color="black", linestyle=style, marker=marker, markersize=3.5, label=text)
        for style, marker, text in KINDS.values()
    ]
    handles.append(Line2D([], [], color="black", linestyle=":", label="goal: full set - 3 points"))
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    os.replace(tmp, path)


def write_sizes(path: Path, chosen: Row, full: Row, argv: Sequence[str]) -> None:
    """{benchmark: n_items} of the chosen selection and a ``_source`` note (the command, the
    date, what the selection is and what it costs in stability)."""
    command = "python benchmarks/stage1_budget.py " + shlex.join(argv)
    worst = max(losses(chosen, full).values(), default=0.0)
    doc: dict[str, Any] = {
        "_source": (
            f"{command} ({datetime.date.today().isoformat()}): selection "
            f"{chosen.selection.label} ({KINDS[chosen.selection.kind][2]}), "
            f"{chosen.selection.total} of the full set's {full.selection.total} items; the "
            f"worst config loses {worst:.1f} points of pair stability against the full set "
            f"(goal: at most {GOAL_POINTS:g}). README, 'Stage 1 on a budget'."
        ),
        **chosen.selection.items,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scores", default="paper", help="'paper' (default) or a CSV")
    parser.add_argument("--dataset", help="a pool (default: the cached 64k benchmark pool)")
    parser.add_argument("--caps", default=None, help=f"items per benchmark (default {CAPS})")
    parser.add_argument(
        "--totals",
        default=None,
        help="alloc and sens rows' totals (default: each cap row's total, a fifth of the full)",
    )
    parser.add_argument("--draws", type=int, default=None, help="draws per selection (1000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out-figure", type=Path, default=None, help=f"default {FIGURE}")
    parser.add_argument("--sizes-out", type=Path, default=None, help="write the chosen sizes")
    parser.add_argument("--smoke", action="store_true", help="the sample pool, small: seconds")
    args = parser.parse_args(argv)
    draws = args.draws or (200 if args.smoke else 1000)
    caps = parse_caps(args.caps or ("100,1000,full" if args.smoke else CAPS))
    out_figure = args.out_figure or (None if args.smoke else FIGURE)

    kin = kinship_from_options(args.scores)
    # The full size of each benchmark: the table's n_items row, else the karma task's size.
    source = noise_from_options(kin, args.scores)
    unknown = [b for b, n in source.items.items() if n is None]
    if unknown:
        sys.exit(f"the number of items of {', '.join(unknown)} is unknown: add an n_items row")
    full_sizes = {b: int(n or 0) for b, n in source.items.items()}
    full_total = sum(full_sizes.values())
    if args.totals:
        totals = [t for t in parse_caps(args.totals, "--totals") if t is not None]
    else:
        totals = [capped(full_sizes, c).total for c in caps if c is not None]
        totals.append(full_total // GOAL_FACTOR)
    selections = [capped(full_sizes, c) for c in caps if c is not None]
    analytic = noise_weights(kin, source.scale)
    selections += [
        allocated("alloc", t, analytic, kin.benchmarks, full_sizes) for t in sorted(set(totals))
    ]
    full_selection = capped(full_sizes, None)

    if args.smoke:
        from karma_plugin.pools import sample_pool_path

        dataset = args.dataset or sample_pool_path()
    else:
        dataset = args.dataset or str(benchmark_pool())
    budget = max_gen_toks(kin.benchmarks)
    cache = bench_cache()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as spill:
        pool = read_pool(dataset, DEFAULT_RATING, spill_dir=spill)
        try:
            strategies, _ = without_unrated_rlaif(STRATEGIES, "all", pool, DEFAULT_RATING)
            print(
                f"scores: {args.scores} ({len(kin.models)} models); pool: {dataset} "
                f"({pool.n_rows} instructions); {draws} draws, seed {args.seed}; binomial noise "
                "model, n = the selection's items per benchmark",
                flush=True,
            )

            def run(selection: Selection) -> Row:
                return measure(kin, pool, strategies, selection, budget, draws, args.seed)

            full = run(full_selection)
            probed = [run(s) for s in probes(full_sizes)]
            fragile = fragile_config(full)
            measured = sensitivity_weights(probed, fragile)
            if measured is not None:
                selections += [
                    allocated("sens", t, measured, kin.benchmarks, full_sizes)
                    for t in sorted(set(totals))
                ]
            rows = [run(s) for s in selections]
        finally:
            pool.store.close()
    rows.append(full)
    rows.sort(key=lambda r: (list(KINDS).index(r.selection.kind), r.selection.total))
    print()
    print(table(rows, full, strategies))
    print()
    print("items per benchmark:")
    print(sizes_table(rows, kin.benchmarks))
    print()
    print(sensitivity_table(probed, kin.benchmarks, strategies, analytic, measured, fragile))
    print()
    print(
        f"goal: at most {full_total // GOAL_FACTOR} items (the full set's {full_total} / "
        f"{GOAL_FACTOR}) with every config within {GOAL_POINTS:g} points of the full set's "
        f"stability; {sum(r.seconds for r in rows):.0f} s in all"
    )
    chosen = choose(rows, full)
    if chosen is None:
        print("chosen: none of these selections meets the goal")
    else:
        worst = max(losses(chosen, full).values(), default=0.0)
        print(
            f"chosen: {chosen.selection.label} ({chosen.selection.total} items, worst loss "
            f"{worst:.1f} points): " + json.dumps(chosen.selection.items)
        )
    if out_figure is not None:
        title = (
            f"Pair stability vs Stage 1 items: {args.scores} scores, {pool.n_rows} "
            f"instructions, {draws} draws (binomial model)"
        )
        figure(rows, full, strategies, out_figure, title)
        print(f"figure: {out_figure}")
    if args.sizes_out is not None:
        if chosen is None:
            sys.exit("--sizes-out: no selection meets the goal; nothing written")
        write_sizes(args.sizes_out, chosen, full, argv)
        print(f"sizes: {args.sizes_out}")


if __name__ == "__main__":
    main()
