"""`karma-build binarize`: a response pool plus kinship to a Hub-ready preference dataset."""

from __future__ import annotations

import os
import sys

import click

from karma_plugin.commands._options import (
    bootstrap_options,
    counted,
    echo_push,
    echo_redacted,
    kinship_options,
    out_options,
    preference_options,
    warn,
)
from karma_plugin.core.defaults import DEFAULT_SEED, DEFAULT_TEST_SIZE
from karma_plugin.core.pairing import STRATEGIES
from karma_plugin.kinship_inputs import KinshipOptions
from karma_plugin.pools import DEFAULT_RATING, RATINGS, SAMPLE
from karma_plugin.pools.layout import BETTER, COLUMN_KEYS, FORMATS


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
    type=click.IntRange(0, 2**64 - 1),
    default=DEFAULT_SEED,
    show_default=True,
    help="Seeds the split, RLAIF and --bootstrap's draws (0 to 2**64 - 1).",
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
@preference_options
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
    kinship: KinshipOptions,
    strategy: str,
    default_config_name: str | None,
    with_report: bool,
    test_size: float,
    seed: int,
    bootstrap: int | None,
    items: dict[str, int],
    rating: str,
    better_rating: str,
    exclude_source: tuple[str, ...],
    preference: str | None,
    preference_columns: str | None,
    preference_names: tuple[tuple[str, str], ...],
    out: str,
    overwrite: bool,
    push_to: str | None,
    private: bool,
) -> None:
    """Re-binarize a response pool into KARMA preference pairs (no annotation)."""
    from karma_plugin.api import build_dataset, push_dataset

    if push_to:
        from karma_plugin.hub.push import check_repo_id, require_token

        check_repo_id(push_to)  # before the work, not after it
        require_token()
    built = build_dataset(
        out,
        dataset,
        kinship=kinship,
        strategies=strategy,
        default_config=default_config_name,
        split=split,
        pool_format=pool_format,
        columns=columns,
        rating=rating,
        better_rating=better_rating,
        test_size=test_size,
        seed=seed,
        exclude_sources=exclude_source,
        bootstrap=bootstrap,
        items=items,
        preference=preference,
        preference_columns=preference_columns,
        preference_names=dict(preference_names),
        report=with_report,
        overwrite=overwrite,
        # The arguments as typed, from `karma-build` or `python -m karma_plugin`; a caller
        # that is neither (a test runner) records the bare command.
        command=sys.argv[1:]
        if sys.argv and sys.argv[0].endswith(("karma-build", "__main__.py"))
        else None,
        warn=warn,
    )
    _summary(built.manifest, out)
    if built.report is not None:
        click.echo(f"Wrote {os.path.join(out, built.report)} and its figures")
    if push_to:
        from karma_plugin.hub.push import PushOptions

        options = PushOptions(private=private)
        echo_push(push_dataset(out, push_to, options, echo_redacted), push_to)


def _summary(doc: dict, out: str) -> None:
    read = counted(doc["rows"], "instruction")
    click.echo(f"Read {read} from {doc['dataset']} ({doc['format']} layout).")
    dropped = doc["dropped_completions"]
    unknown = sum(dropped["unknown_model"].values())
    click.echo(
        f"Completions left out: {unknown} of unknown models "
        f"({', '.join(dropped['unknown_model']) or 'none'}), {dropped['empty_response']} empty, "
        f"{counted(dropped['duplicate_model'], 'repeat')} (a model answering an instruction "
        "again)."
    )
    for config, count in doc["counts"].items():
        skipped = ", ".join(f"{k} {v}" for k, v in count["skipped"].items() if v) or "none"
        agree = doc["agreement"].get(config)
        agree_text = "" if agree is None else f"; agrees with instance ratings {agree:.1%}"
        splits = doc["splits"][config]
        click.echo(
            f"  {config:<12} {counted(count['pairs'], 'pair', 'pairs'):>12} "
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
    if "preference_check" in doc:
        from karma_plugin.preference_inputs import summary_line

        click.echo(summary_line(doc["preference_check"]))
    click.echo(f"Wrote {out}")
