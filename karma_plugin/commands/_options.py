"""Options and output helpers shared by several commands."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import click

from karma_plugin.core.benchmarks import (
    BENCHMARKS,
    benchmark_key,
    canonical_benchmark,
    category_key,
)
from karma_plugin.core.defaults import DEFAULT_SEED
from karma_plugin.core.kinship import DEFAULT_TAU
from karma_plugin.errors import InputError, RemoteError, redact
from karma_plugin.kinship_inputs import METRICS, KinshipOptions, excluded_messages

if TYPE_CHECKING:
    from karma_plugin.hub.push import PushPlan, PushResult

scores_option = click.option(
    "--scores",
    "scores_spec",
    default="paper",
    show_default=True,
    metavar="paper|FILE",
    help="Score table: 'paper' (the authors' table, shipped) or a CSV from `karma-build scores`.",
)
benchmarks_option = click.option(
    "--benchmarks",
    default="all",
    show_default=True,
    metavar="KEYS|CATEGORY",
    help="Comma-separated benchmark keys (the score table's columns) or categories "
    "(knowledge, reasoning, instruction_following, or one of --category).",
)


def category_members(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    """Callback of ``--category NAME=B1,B2``: category -> benchmarks, as given (checked
    against the score table once it is read)."""
    categories: dict[str, tuple[str, ...]] = {}
    for name, members in key_value_pairs(ctx, param, values):
        key = category_key(name)
        listed = tuple(m.strip() for m in members.split(",") if m.strip())
        if key in categories:
            raise InputError(f"--category {name} is given twice")
        if not listed or key == "all":
            raise InputError(f"--category expects NAME=B1,B2, got {name}={members}")
        categories[key] = listed
    return categories


category_option = click.option(
    "--category",
    "categories",
    multiple=True,
    metavar="NAME=B1,B2",
    callback=category_members,
    help="A benchmark category for --benchmarks and the report's dendrograms, e.g. "
    "hard=bbh,gpqa; repeatable. The six benchmarks of the paper keep theirs; a name of "
    "the paper's (knowledge, reasoning, instruction_following) is replaced.",
)
tau_option = click.option(
    "--tau",
    type=float,
    default=DEFAULT_TAU,
    show_default=True,
    help="Kinship threshold: pairs below it are never formed.",
)


def key_value_pairs(
    _ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """Callback of a repeatable ``KEY=VALUE`` option (``--name RUN=MODEL``, ``--label
    NAME=PATH``...): the pairs, stripped, in the order given. The value may hold ``=`` itself.

    Raised as our InputError, not click's BadParameter: one line, exit 2, before any work.
    """
    option = max(param.opts, key=len)
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise InputError(f"{option} expects {param.metavar}, got {value!r}")
        pairs.append((key.strip(), rest.strip()))
    return tuple(pairs)


def metric_keys(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """Callback of ``--metric BENCH=METRIC,FILTER``: benchmark key -> lm-eval metric key."""
    metrics = {}
    for bench, metric in key_value_pairs(ctx, param, values):
        key = canonical_benchmark(bench)
        if key is None:
            raise InputError(
                f"--metric: unknown benchmark {bench!r} (choose from: {', '.join(BENCHMARKS)})"
            )
        if "," not in metric:
            raise InputError(f"--metric {bench}: expected METRIC,FILTER, got {metric!r}")
        metrics[key] = metric
    return metrics


def metrics_option(help: str) -> Callable:
    """``--metric BENCH=METRIC,FILTER``, repeatable, as the command's ``metrics`` mapping."""
    return click.option(
        "--metric",
        "metrics",
        multiple=True,
        metavar="BENCH=METRIC,FILTER",
        callback=metric_keys,
        help=help,
    )


samples_option = click.option(
    "--samples",
    multiple=True,
    type=click.Path(),
    metavar="DIR",
    help="lm-eval --log_samples output (folders or samples_*.jsonl files) of the origin models "
    "on the karma_* tasks; repeatable. Per-item agreement replaces the benchmark cosine.",
)
metric_option = click.option(
    "--metric",
    type=click.Choice(METRICS),
    default=None,
    help="Kinship: cosine of normalised scores (default), ec = error consistency (kappa on "
    "right/wrong), capa = chance-adjusted agreement on the chosen letters (lm-sim). "
    "Default with --samples: ec.",
)


def run_names_option(help: str) -> Callable:
    """``--name RUN=MODEL``, repeatable, as the command's ``names`` pairs: the name a run of
    lm-eval goes by (``scores``, ``pool``, the kinship options' samples), RUN being the model
    lm-eval recorded or its results folder."""
    return click.option(
        "--name",
        "names",
        multiple=True,
        metavar="RUN=MODEL",
        callback=key_value_pairs,
        help=help,
    )


names_option = run_names_option(
    "The score-table name MODEL of a model called RUN in the samples (the model lm-eval "
    "recorded, or its folder) or in binarize's pool. Repeatable."
)


def kinship_options(command: Callable) -> Callable:
    """The options every kinship consumer takes, in this order: the scores, the benchmarks
    and their categories, tau, and the sample-level inputs that may replace the benchmark
    cosine; the command gets them as one ``kinship: KinshipOptions``."""

    @functools.wraps(command)
    def with_kinship(
        *args: Any,
        scores_spec: str,
        benchmarks: str,
        categories: dict[str, tuple[str, ...]],
        tau: float,
        samples: tuple[str, ...],
        metric: str | None,
        names: tuple[tuple[str, str], ...],
        **kwargs: Any,
    ) -> Any:
        kinship = KinshipOptions(
            scores_spec, benchmarks, tau, samples, metric, dict(names), dict(categories)
        )
        return command(*args, kinship=kinship, **kwargs)

    options = (scores_option, benchmarks_option, category_option, tau_option)
    decorated: Callable = with_kinship
    for option in reversed((*options, samples_option, metric_option, names_option)):
        decorated = option(decorated)
    return decorated


def _draws(_ctx: click.Context, _param: click.Parameter, value: int | None) -> int | None:
    """``--bootstrap N``: at least 2 draws; refused before any work (exit 2)."""
    if value is not None and value < 2:
        raise InputError(f"--bootstrap needs at least 2 draws, got {value}")
    return value


def item_counts(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, int]:
    """Callback of ``--items BENCH=N``: benchmark key -> number of items (>= 1). Any
    benchmark of a score table may be named (checked against the table where it is used)."""
    counts = {}
    for bench, number in key_value_pairs(ctx, param, values):
        key = benchmark_key(bench)
        if key is None:
            raise InputError(f"--items: {bench!r} is not a benchmark name")
        digits = number.replace(",", "").replace("_", "")
        if not digits.isdigit() or int(digits) < 1:
            raise InputError(f"--items {bench}: expected a whole number of items, got {number!r}")
        counts[key] = int(digits)
    return counts


def bootstrap_options(seed: bool = True) -> Callable:
    """``--bootstrap N`` and ``--items BENCH=N`` (and ``--seed``, unless the command has its
    own): error bars from the scores' sampling noise (core/uncertainty.py)."""
    options = [
        click.option(
            "--bootstrap",
            type=int,
            default=None,
            metavar="N",
            callback=_draws,
            help="Error bars: N draws (N >= 2, e.g. 1000) of the score table from its sampling "
            "noise, the whole pipeline rerun on each (kinship.json 'uncertainty'). Noise from "
            "--samples (paired item bootstrap), else the table's <bench>_stderr columns, else "
            "a proportion of n items.",
        ),
        click.option(
            "--items",
            multiple=True,
            metavar="BENCH=N",
            callback=item_counts,
            help="With --bootstrap: the number of items behind a benchmark's scores "
            "(repeatable; default: the table's n_items row, else the karma task's full size).",
        ),
    ]
    if seed:
        options.append(
            click.option(
                "--seed",
                type=click.IntRange(0, 2**64 - 1),
                default=DEFAULT_SEED,
                show_default=True,
                help="Seeds --bootstrap's draws (0 to 2**64 - 1).",
            )
        )

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def out_options(required: bool = True, help: str = "Output folder.") -> Callable:
    """``--out`` and ``--overwrite``, alike for every command that writes a folder (the rules
    live in ``karma_plugin.fs.staging``)."""
    # No `default=` at all: click 8.5 takes an explicit default of None as a value given, and
    # would let a required --out through as None.
    out = click.option("--out", required=required, type=click.Path(file_okay=False), help=help)
    overwrite = click.option(
        "--overwrite",
        is_flag=True,
        help="Replace the --out folder if karma-build wrote it (never the working or home "
        "folder, nor a folder holding an input of the run).",
    )
    return lambda command: out(overwrite(command))


def in_folder(folder: str, name: str) -> str:
    """``folder/name`` as a user reads it: ``report/`` and ``report`` both give ``report/x``."""
    return os.path.join(folder.rstrip("/") or folder, name)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 prompt``, ``2 prompts`` (``plural`` where adding an s is wrong)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def file_overwrite_option(what: str) -> Callable:
    """``--overwrite`` of a command that writes files (the rules live in
    ``karma_plugin.fs.atomic.check_file_output``)."""
    return click.option(
        "--overwrite",
        is_flag=True,
        help=f"Replace {what} even if karma-build did not write it (a file it wrote is "
        "replaced anyway; never an input of the run).",
    )


def echo_redacted(line: str) -> None:
    """A line on stdout without credentials (commit and PR URLs carry HF_ENDPOINT, and its
    user:password@ too)."""
    click.echo(redact(line))


def echo_push(result: PushPlan | PushResult, repo_id: str, create_pr: bool = False) -> None:
    """What a push did (`push`, `binarize --push-to`): the plan of a dry run, or the commit
    and how to load it. A dry run that could not compare with the Hub fails after its plan."""
    from karma_plugin.hub.push import PushPlan

    echo = echo_redacted
    if isinstance(result, PushPlan):
        echo(result.describe())
        if result.existing:
            echo(
                f"  (the repo holds {len(result.existing)} files now: a real push needs "
                "--overwrite or --create-pr)"
            )
        echo("Dry run: nothing was committed.")
        if result.remote_error:
            # The local plan is printed, the comparison with the Hub is not: exit 1.
            raise RemoteError(
                f"dry run not compared with {repo_id}: {result.remote_error} "
                "(the plan above lists the local files only)"
            )
        return
    plan = result.plan
    if not result.changed:
        no_pr = "; no pull request opened" if create_pr else ""
        echo(
            f"Nothing to commit: {repo_id}@{plan.revision} already holds exactly these files "
            f"({result.commit_url}){no_pr}"
        )
        return
    stale = f", deleted {counted(len(plan.deletions), 'stale file')}" if plan.deletions else ""
    echo(f"Committed {counted(len(plan.additions), 'file')}{stale}: {result.commit_url}")
    if result.pr_url:
        echo(f"Pull request: {result.pr_url}")
    echo(
        f'Load it with: datasets.load_dataset("{repo_id}", "k_sim")'
        + (f', revision="{plan.revision}"' if plan.revision != "main" else "")
    )


_WARNINGS = "karma_plugin.warnings"


def warn(message: str) -> None:
    """Say ``message`` once, when the command has succeeded (see ``flush_warnings``).

    A warning printed as it arises would stand in front of an unrelated error found later
    (the left-out models are known long before a bad pool is), and a failed run must print one
    line only.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        click.echo(f"karma-build: warning: {redact(message)}", err=True)
        return
    ctx.find_root().meta.setdefault(_WARNINGS, {})[message] = None


def flush_warnings(ctx: click.Context) -> None:
    """Print the warnings gathered so far, each once, and forget them."""
    for message in ctx.find_root().meta.pop(_WARNINGS, {}):
        click.echo(f"karma-build: warning: {redact(message)}", err=True)


def drop_warnings(ctx: click.Context) -> None:
    ctx.find_root().meta.pop(_WARNINGS, None)


def report_excluded(excluded: dict[str, str], pool_models: Iterable[str] | None = None) -> None:
    """Warn about the models and benchmarks left out of the kinship
    (``kinship_inputs.excluded_messages``)."""
    for message in excluded_messages(excluded, pool_models):
        warn(message)


def preference_options(command: Callable) -> Callable:
    """``--preference TABLE``, ``--preference-columns`` and ``--preference-name``: the check
    of S_pref against a judge's win rates (karma_plugin.preference_inputs)."""
    options = (
        click.option(
            "--preference",
            "preference",
            default=None,
            metavar="TABLE",
            help="Check S_pref against a judge's win rates: a .csv or .parquet table, or a "
            "Hub dataset ORG/NAME[@REVISION] (e.g. AlpacaEval's leaderboard CSV). Spearman, "
            "pairwise agreement and, in binarize, agreement over each config's pairs, with "
            "95% intervals from both tables' noise.",
        ),
        click.option(
            "--preference-columns",
            "preference_columns",
            default=None,
            metavar="model=COL,win_rate=COL[,stderr=COL]",
            help="The judge table's columns (model defaults to the first; #N names the N-th).",
        ),
        click.option(
            "--preference-name",
            "preference_names",
            multiple=True,
            metavar="TABLE_MODEL=MODEL",
            callback=key_value_pairs,
            help="The score-table name MODEL of the judge table's TABLE_MODEL; repeatable "
            "(AlpacaEval's names of the authors' models are shipped).",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command
