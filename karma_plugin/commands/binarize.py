"""`karma-build binarize`: a response pool plus kinship to a Hub-ready preference dataset."""

from __future__ import annotations

import shlex
import sys
from contextlib import ExitStack
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files

import click

from karma_plugin.commands._options import (
    out_options,
    report_excluded,
)
from karma_plugin.commands.kinship import (
    kinship_from_options,
    kinship_inputs,
    kinship_options,
)

SAMPLE = "sample"


def sample_pool_path() -> str:
    """The small UltraFeedback-schema pool shipped in the package (the default)."""
    return str(files("karma_plugin.data") / "ultrafeedback_sample.jsonl")


def _versions() -> dict[str, str]:
    found = {}
    for name in ("karma-plugin", "datasets", "pyarrow", "numpy", "huggingface_hub"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


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
@kinship_options
@click.option(
    "--strategy",
    default="all",
    show_default=True,
    metavar="NAME[,NAME]|all",
    help="k_score, k_sim, k_score_sim, rlaif (the instance-rating baseline), or all.",
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
    help="Also write the kinship report (figures and report.md) to the folder OUT-report.",
)
@click.option(
    "--test-size",
    type=float,
    default=0.05,
    show_default=True,
    help="Share of prompts in the test splits (the same prompts in every config).",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Seeds the split and RLAIF.")
@click.option(
    "--rating",
    type=click.Choice(["overall_score", "fine-grained_score", "aspects"]),
    default="overall_score",
    show_default=True,
    help="Instance rating for rlaif and the score_* columns ('aspects': mean of the four).",
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
    scores_spec: str,
    benchmarks: str,
    strategy: str,
    default_config_name: str | None,
    tau: float,
    samples: tuple[str, ...],
    metric: str | None,
    names: tuple[str, ...],
    with_report: bool,
    test_size: float,
    seed: int,
    rating: str,
    exclude_source: tuple[str, ...],
    out: str,
    overwrite: bool,
    push_to: str | None,
    private: bool,
) -> None:
    """Re-binarize a response pool into KARMA preference pairs (no annotation)."""
    from karma_plugin.core.binarize import (
        Options,
        binarize,
        default_config,
        parse_strategies,
        split_tables,
    )
    from karma_plugin.core.kinship import list_models
    from karma_plugin.core.score_table import read_scores
    from karma_plugin.outputs import staging
    from karma_plugin.outputs.dataset_folder import write_hub_folder
    from karma_plugin.outputs.matrix import MATRIX_FILE
    from karma_plugin.pools.reader import read_pool
    from karma_plugin.report.document import render_report

    strategies = parse_strategies(strategy)
    default = default_config(strategies, default_config_name)
    if push_to:
        from karma_plugin.hub.push import check_repo_id

        check_repo_id(push_to)  # before the work, not after it
    pool_spec = sample_pool_path() if dataset == SAMPLE else dataset
    inputs = [pool_spec, *kinship_inputs(scores_spec, samples)]
    report_dir = f"{out.rstrip('/')}-report"
    with ExitStack() as outputs:
        # Reserved before any work: a refusal or an unwritable parent costs nothing.
        stage = outputs.enter_context(staging.staged(out, overwrite, inputs))
        report_stage = (
            outputs.enter_context(staging.staged(report_dir, overwrite, inputs))
            if with_report
            else None
        )
        kin = kinship_from_options(scores_spec, benchmarks, tau, samples, metric, names)
        report_excluded(kin.excluded)
        pool = read_pool(pool_spec, rating, split)
        options = Options(strategies, tau, test_size, seed, tuple(exclude_source))
        result = binarize(pool, kin, options)

        # A large table lists the models of the pool; its full matrix goes beside kinship.json.
        listing = list_models(kin, in_pool=result.in_pool)
        matrix = None if listing.complete else kin
        doc = kin.to_json(listing, None if listing.complete else MATRIX_FILE)
        doc.update(
            {
                "dataset": dataset,
                "rows": pool.n_rows,
                "rating": rating,
                "options": {
                    "strategies": list(strategies),
                    "default_config": default,
                    "test_size": test_size,
                    "seed": seed,
                    "exclude_sources": list(exclude_source),
                },
                "counts": result.counts,
                "agreement": result.agreement,
                "dropped_completions": result.dropped,
                "versions": _versions(),
                "command": shlex.join(["karma-build", *sys.argv[1:]])
                if sys.argv and sys.argv[0].endswith("karma-build")
                else "karma-build binarize",
            }
        )
        tables = ((config, split_tables(pool, kin, result, config)) for config in result.pairs)
        write_hub_folder(stage, tables, doc, matrix)
        if report_stage is not None:
            render_report(read_scores(scores_spec), kin, report_stage, listing=listing)
    _summary(doc, out)
    if with_report:
        click.echo(f"Wrote {report_dir}/report.md")
    if push_to:
        from karma_plugin.commands.push import run_push

        run_push(out, push_to, private=private)


def _summary(doc: dict, out: str) -> None:
    click.echo(f"Read {doc['rows']} instructions from {doc['dataset']}.")
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
    click.echo(f"Wrote {out}")
