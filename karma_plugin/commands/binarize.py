"""`karma-build binarize`: a response pool plus kinship to a Hub-ready preference dataset."""

from __future__ import annotations

import os
import sys
from importlib.resources import files
from typing import Any

import click

from karma_plugin.commands._options import (
    bootstrap_options,
    kinship_options,
    out_options,
    report_excluded,
    warn,
)
from karma_plugin.core.defaults import DEFAULT_SEED, DEFAULT_TEST_SIZE
from karma_plugin.core.pairing import STRATEGIES
from karma_plugin.kinship_inputs import kinship_from_options, kinship_inputs, noise_from_options
from karma_plugin.pools import DEFAULT_RATING, RATINGS
from karma_plugin.pools.layout import BETTER, COLUMN_KEYS, FORMATS

SAMPLE = "sample"


def sample_pool_path() -> str:
    """The small UltraFeedback-schema pool shipped in the package (the default)."""
    return str(files("karma_plugin.data") / "ultrafeedback_sample.jsonl")


@click.command("binarize")
@click.option(
    "--dataset",
    default=SAMPLE,
    show_default=True,
    metavar="ID|PATH",
    help="Response pool in UltraFeedback's schema: a Hub id (openbmb/UltraFeedback), a local "
    "json/jsonl/parquet file or folder, or 'sample' (the small pool shipped in the package).",
)
@click.option("--split", default="train", show_default=True, help="Split of the pool to read.")
@click.option(
    "--format",
    "pool_format",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="The pool's layout: ultrafeedback (a row per instruction, a list of completions), "
    "long (a row per instruction, model and response), or auto (decided from the columns).",
)
@click.option(
    "--columns",
    default=None,
    metavar="KEY=COLUMN,...",
    help=f"The pool's names for {', '.join(COLUMN_KEYS)}, where they differ from "
    "UltraFeedback's (e.g. Nectar: instruction=prompt,completions=answers,response=answer,"
    "rating=rank); rating= replaces --rating.",
)
@kinship_options
@click.option(
    "--strategy",
    default="all",
    show_default=True,
    metavar="NAME[,NAME]|all",
    help=f"{', '.join(STRATEGIES)} (rlaif: the instance-rating baseline), or all.",
)
@click.option(
    "--default-config",
    "default_config_name",
    default=None,
    metavar="NAME",
    help="The config marked default in the card, which load_dataset(OUT) loads without a "
    "name; one of the strategies written. [default: k_sim, else the first written]",
)
@click.option(
    "--report",
    "with_report",
    is_flag=True,
    help="Also write the kinship report (PNG figures and report.md) into OUT/figures/; the "
    "card embeds the figures and `push` publishes them.",
)
@click.option(
    "--test-size",
    type=float,
    default=DEFAULT_TEST_SIZE,
    show_default=True,
    help="Share of prompts in the test splits (the same prompts in every config).",
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULT_SEED,
    show_default=True,
    help="Seeds the split, RLAIF and --bootstrap's draws.",
)
@bootstrap_options(seed=False)
@click.option(
    "--rating",
    type=click.Choice(RATINGS),
    default=DEFAULT_RATING,
    show_default=True,
    help="Instance rating for rlaif and the score_* columns ('aspects': mean of the four).",
)
@click.option(
    "--better-rating",
    type=click.Choice(BETTER),
    default="higher",
    show_default=True,
    help="Which rating is better (lower: a rank, as Nectar's).",
)
@click.option(
    "--exclude-source",
    multiple=True,
    metavar="SOURCE",
    help="Drop instructions from this source (e.g. truthful_qa); repeatable.",
)
@out_options()
@click.option(
    "--push-to",
    default=None,
    metavar="ORG/NAME",
    help="Then push the folder to this Hub dataset repo (as `karma-build push`; a repo that "
    "holds data already needs `karma-build push --overwrite`).",
)
@click.option("--private", is_flag=True, help="With --push-to: create the repo as private.")
def command(
    dataset: str,
    split: str,
    pool_format: str,
    columns: str | None,
    scores_spec: str,
    benchmarks: str,
    strategy: str,
    default_config_name: str | None,
    tau: float,
    samples: tuple[str, ...],
    metric: str | None,
    names: tuple[tuple[str, str], ...],
    with_report: bool,
    test_size: float,
    seed: int,
    bootstrap: int | None,
    items: dict[str, int],
    rating: str,
    better_rating: str,
    exclude_source: tuple[str, ...],
    out: str,
    overwrite: bool,
    push_to: str | None,
    private: bool,
) -> None:
    """Re-binarize a response pool into KARMA preference pairs (no annotation)."""
    from karma_plugin.core import uncertainty
    from karma_plugin.core.binarize import (
        SFT_OF,
        Options,
        binarize,
        empty_table,
        parse_strategies,
        preference_tables,
        split_sizes,
        without_unrated_rlaif,
    )
    from karma_plugin.core.defaults import default_config
    from karma_plugin.core.kinship import list_models
    from karma_plugin.core.score_table import read_scores
    from karma_plugin.fs import staging
    from karma_plugin.outputs.card import FIGURES_FOLDER
    from karma_plugin.outputs.dataset_folder import write_hub_folder, write_manifest
    from karma_plugin.outputs.manifest import (
        binarize_manifest,
        published_command,
        published_path,
    )
    from karma_plugin.pools.layout import Request, parse_columns
    from karma_plugin.pools.reader import read_pool
    from karma_plugin.report.document import render_report

    strategies = parse_strategies(strategy)
    request = Request(pool_format, parse_columns(columns), rating, better_rating)
    default = default_config(strategies, default_config_name)  # checked before the work
    if push_to:
        from karma_plugin.hub.push import check_repo_id

        check_repo_id(push_to)  # before the work, not after it
    pool_spec = sample_pool_path() if dataset == SAMPLE else dataset
    inputs = [pool_spec, *kinship_inputs(scores_spec, samples)]
    # Reserved before any work: a refusal or an unwritable parent costs nothing.
    with staging.staged(out, overwrite, inputs) as stage:
        kin = kinship_from_options(
            scores_spec, benchmarks, tau, samples, metric, dict(names), warn=warn,
            bootstrap=bool(bootstrap),
        )  # fmt: skip
        report_excluded(kin.excluded)
        # The noise is settled before the pool is read: a benchmark without one fails at once.
        resample = (
            uncertainty.Resample(
                noise_from_options(kin, scores_spec, samples, items, dict(names)), bootstrap, seed
            )
            if bootstrap
            else None
        )
        # The text spills beside the output (on its disk, and cleaned up with its staging).
        pool = read_pool(pool_spec, split=split, request=request, spill_dir=stage)
        strategies, not_built = without_unrated_rlaif(
            strategies, strategy, pool, request.rating_field
        )
        if not_built:  # the default may have been the config left out
            default = default_config(strategies, default_config_name)
        options = Options(strategies, tau, test_size, seed, tuple(exclude_source))
        result = binarize(pool, kin, options, resample)

        # A large table lists the models of the pool; its full matrix goes beside kinship.json.
        listing = list_models(kin, in_pool=result.in_pool)
        unc = None
        if resample is not None:
            unc = uncertainty.bootstrap(
                kin, resample.draws, resample.seed, resample.source, listing
            ).with_pairs(result.stability, result.sure_pairs)
        written = write_hub_folder(
            stage,
            {config: split_sizes(pool, result, config) for config in result.pairs},
            preference_tables(pool, kin, result),
            empty_table(kin).schema,
            None if listing.complete else kin,
            copies=SFT_OF,
        )
        report: dict[str, Any] | None = None
        if with_report:
            # Inside the folder, so that `push` publishes the figures the card embeds.
            drawn = render_report(
                read_scores(scores_spec),
                kin,
                stage / FIGURES_FOLDER,
                listing=listing,
                uncertainty=unc,
            )
            report = {
                "markdown": f"{FIGURES_FOLDER}/report.md",
                "figures": [f"{FIGURES_FOLDER}/{name}" for name in drawn.figures],
            }
        doc = binarize_manifest(
            kin,
            listing,
            options,
            result,
            written,
            default_config=default,
            dataset=published_path(dataset, out),
            rows=pool.n_rows,
            pool_format=pool.layout,
            columns=request.columns,
            rating=request.rating_field,
            better_rating=better_rating,
            skipped_configs=not_built,
            pool_provenance=_pool_provenance(pool_spec, out),
            # The arguments as typed, from `karma-build` or `python -m karma_plugin`; a caller
            # that is neither (a test runner) records the bare command.
            command=published_command(sys.argv[1:], out)
            if sys.argv and sys.argv[0].endswith(("karma-build", "__main__.py"))
            else "karma-build binarize",
            report=report,
            uncertainty=unc,
        )
        write_manifest(stage, doc)
    _summary(doc, out)
    if report is not None:
        click.echo(f"Wrote {os.path.join(out, report['markdown'])} and its figures")
    if push_to:
        from karma_plugin.commands.push import run_push

        run_push(out, push_to, private=private)


def _pool_provenance(pool_spec: str, out: str) -> dict | None:
    """What `karma-build pool` recorded in a pool parquet file about its runs, as published."""
    if not (pool_spec.endswith(".parquet") and os.path.isfile(pool_spec)):
        return None
    from karma_plugin.lmeval.pool import read_provenance
    from karma_plugin.outputs.manifest import published_provenance

    found = read_provenance(pool_spec)
    return published_provenance(found, out) if found else None


def _summary(doc: dict, out: str) -> None:
    click.echo(f"Read {doc['rows']} instructions from {doc['dataset']} ({doc['format']} layout).")
    dropped = doc["dropped_completions"]
    unknown = sum(dropped["unknown_model"].values())
    click.echo(
        f"Completions left out: {unknown} of unknown models "
        f"({', '.join(dropped['unknown_model']) or 'none'}), {dropped['empty_response']} empty, "
        f"{dropped['duplicate_model']} repeated models."
    )
    for config, count in doc["counts"].items():
        skipped = ", ".join(f"{k} {v}" for k, v in count["skipped"].items() if v) or "none"
        agree = doc["agreement"].get(config)
        agree_text = "" if agree is None else f"; agrees with instance ratings {agree:.1%}"
        splits = doc["splits"][config]
        click.echo(
            f"  {config:<12} {count['pairs']:>6} pairs "
            f"(train {splits['train_prefs']}, test {splits['test_prefs']}); "
            f"skipped: {skipped}{agree_text}"
        )
    for config, reason in doc.get("skipped_configs", {}).items():
        click.echo(f"  {config:<12} not built: {reason}")
    unc = doc.get("uncertainty")
    if unc is not None:
        click.echo(
            f"Stability over {unc['draws']} draws of the scores ({unc['method']}; "
            "kinship.json 'uncertainty'):"
        )
        for config, share in unc["stability"].items():
            sure = unc["sure_pairs"][config]
            click.echo(
                f"  {config:<12} "
                + (
                    "no pairs"
                    if share is None
                    else f"{share:.1%} of the pairs unchanged per draw; {sure:.1%} sure "
                    "(chosen model better in >= 95% of draws)"
                )
            )
    click.echo(f"Wrote {out}")
