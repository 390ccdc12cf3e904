"""The library: the functions a Python user calls, and the ones the `karma-build` commands
call (a command only parses its options, calls one of these and prints what it returns)::

    import karma_plugin

    built = karma_plugin.build_dataset("out/karma", strategies="k_sim,rlaif")
    built.manifest["counts"]["k_sim"]["pairs"]
    karma_plugin.push_dataset("out/karma", "ORG/NAME", karma_plugin.PushOptions(private=True))

Each joins the adapters below it (``pools`` reads the pool, ``core`` pairs, ``outputs`` writes
the dataset folder, ``hub`` talks to the Hub) and decides nothing a command would have to
decide again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from karma_plugin.core.defaults import DEFAULT_SEED, DEFAULT_TEST_SIZE
from karma_plugin.kinship_inputs import KinshipOptions, excluded_messages
from karma_plugin.pools import DEFAULT_RATING, SAMPLE

if TYPE_CHECKING:  # pyarrow, the Hub client and the writers load when a function runs
    from karma_plugin.core.kinship import Kinship
    from karma_plugin.hub.push import PushOptions, PushPlan, PushResult
    from karma_plugin.outputs.hub_folder import PullReport


def _unmatched_models(
    unknown: Mapping[str, int], in_pool: int, excluded: Mapping[str, str]
) -> str | None:
    """One warning naming the pool's models that the score table lacks (their answers are
    left out): a leaderboard's names seldom match a pool's exactly. A model the table has but
    left out (a missing score) already has its own warning."""
    lowered = {name.strip().lower() for name in excluded}
    unknown = {m: n for m, n in unknown.items() if m.strip().lower() not in lowered}
    if not unknown:
        return None
    shown = ", ".join(f"{m} ({n})" for m, n in list(unknown.items())[:10])
    more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    return (
        f"{len(unknown)} of the pool's {in_pool} models are not in the score table, so their "
        f"answers are left out (answers per model): {shown}{more}; --name POOL_MODEL=TABLE_MODEL "
        "matches a model the table names otherwise"
    )


@dataclass(frozen=True)
class BuiltDataset:
    """What ``build_dataset`` wrote."""

    folder: Path  # the Hub-ready folder, published in place
    manifest: dict[str, Any]  # its kinship.json (counts, splits, files, agreement, ...)
    kinship: Kinship  # the kinship the pairs were chosen with (``excluded``: models left out)
    report: str | None  # with ``report=True``: report.md, relative to ``folder``


def build_dataset(
    out: str | os.PathLike[str],
    dataset: str = SAMPLE,
    *,
    kinship: KinshipOptions | None = None,
    strategies: str | Sequence[str] = "all",
    default_config: str | None = None,
    split: str = "train",
    pool_format: str = "auto",
    columns: str | Mapping[str, str] | None = None,
    rating: str = DEFAULT_RATING,
    better_rating: str = "higher",
    test_size: float = DEFAULT_TEST_SIZE,
    seed: int = DEFAULT_SEED,
    exclude_sources: Sequence[str] = (),
    bootstrap: int | None = None,
    items: Mapping[str, int] | None = None,
    preference: str | None = None,
    preference_columns: str | None = None,
    preference_names: Mapping[str, str] | None = None,
    report: bool = False,
    overwrite: bool = False,
    command: Sequence[str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> BuiltDataset:
    """Re-binarize a response pool into KARMA preference pairs and write the Hub-ready folder
    ``out`` (docs/design.md §7): parquet per config and split, kinship.json, the card.

    ``dataset``: a Hub id, a local json/jsonl/parquet file or folder, or ``"sample"`` (the
    small pool shipped in the package); ``split``, ``pool_format`` (``ultrafeedback``,
    ``long`` or ``auto``), ``columns`` (``{"instruction": "prompt", ...}`` or
    ``"instruction=prompt,..."``), ``rating`` and ``better_rating`` say how to read it.
    ``kinship``: the score table, benchmarks, tau and samples (default: the authors' table,
    every benchmark, tau 0.1). ``strategies``: ``"all"`` or names among k_score, k_sim,
    k_score_sim, rlaif (rlaif is left out, with the reason in kinship.json, when ``"all"`` is
    asked of a pool without instance ratings); ``default_config``: the config the card marks
    default. ``test_size`` and ``seed`` set the test split (the same prompts in every config)
    and RLAIF's draw; ``exclude_sources`` drops instructions of those sources. ``bootstrap``
    N (with ``items``): error bars over N draws of the scores. ``preference``: a judge's
    table of win rates (a .csv/.parquet file or a Hub dataset) to check S_pref against, read
    through ``preference_columns`` (``model=COL,win_rate=COL[,stderr=COL]``), its models named
    in the score table's words by ``preference_names``. ``report``: also draw the
    kinship report into ``out/figures``. ``overwrite``: replace a folder karma-build wrote
    (never anything else). ``command``: the arguments as typed, recorded (local paths
    relative) in kinship.json and the card. ``warn`` hears what is left out on the way (the
    models of the table without a score, the pool's models the table lacks).

    The folder is staged beside ``out`` and renamed into place only when complete: a failure
    leaves ``out`` as it was. Raises ``InputError`` for bad input, ``RemoteError`` when the
    Hub fails.
    """
    from karma_plugin import preference_inputs as judged
    from karma_plugin.core import uncertainty
    from karma_plugin.core.binarize import (
        Options,
        binarize,
        parse_strategies,
        refuse_empty,
        without_unrated_rlaif,
    )
    from karma_plugin.core.defaults import default_config as choose_default
    from karma_plugin.core.kinship import list_models
    from karma_plugin.fs import staging
    from karma_plugin.outputs.card import FIGURES_FOLDER
    from karma_plugin.outputs.dataset_folder import write_hub_folder, write_manifest
    from karma_plugin.outputs.manifest import (
        binarize_manifest,
        published_command,
        published_path,
        published_provenance,
    )
    from karma_plugin.outputs.preference_table import (
        PREFERENCE_SCHEMA,
        SFT_OF,
        preference_tables,
        split_sizes,
    )
    from karma_plugin.pools import sample_pool_path
    from karma_plugin.pools.layout import Request, parse_columns
    from karma_plugin.pools.reader import read_pool
    from karma_plugin.report.document import render_report

    say = warn or (lambda message: None)
    kinship = kinship or KinshipOptions()
    judge_names = dict(preference_names or {})
    spec = strategies if isinstance(strategies, str) else ",".join(strategies)
    chosen = parse_strategies(spec)
    if columns is not None and not isinstance(columns, str):  # checked as --columns is
        columns = ",".join(f"{key}={name}" for key, name in columns.items())
    request = Request(pool_format, parse_columns(columns), rating, better_rating)
    default = choose_default(chosen, default_config)  # checked before the work
    out = os.fspath(out)
    pool_spec = sample_pool_path() if dataset == SAMPLE else dataset
    judge = judged.judge_from_options(preference, preference_columns, tuple(judge_names.items()))
    inputs = [pool_spec, *kinship.inputs(), *judged.local_inputs(preference)]
    # Reserved before any work: a refusal or an unwritable parent costs nothing.
    with staging.staged(out, overwrite, inputs) as stage:
        kin = kinship.kinship(warn=warn, bootstrap=bool(bootstrap))
        # The noise is settled before the pool is read: a benchmark without one fails at once.
        resample = (
            uncertainty.Resample(kinship.noise(kin, items), bootstrap, seed) if bootstrap else None
        )
        check_noise = None
        if judge is not None:  # the models and the noise settled before the pool is read
            judged.match_models(kin.models, judge, judge_names)
            check_noise = resample.source if resample else judged.noise_for_check(
                kin, str(kinship.scores), tuple(map(str, kinship.samples)), items, kinship.names
            )  # fmt: skip
        # The text spills beside the output (on its disk, and cleaned up with its staging).
        pool = read_pool(pool_spec, split=split, request=request, spill_dir=stage)
        if kinship.names:  # --name POOL_MODEL=TABLE_MODEL: the pool's name for a table model
            renamed = kinship.names
            pool = replace(pool, model_names=[renamed.get(m, m) for m in pool.model_names])
        for message in excluded_messages(kin.excluded, pool.model_names):
            say(message)  # only the models the pool has matter
        chosen, not_built = without_unrated_rlaif(chosen, spec, pool, request.rating_field)
        if not_built:  # the default may have been the config left out
            default = choose_default(chosen, default_config)
        options = Options(chosen, test_size, seed, tuple(exclude_sources))
        result = binarize(pool, kin, options, resample)
        refuse_empty(result, kin)  # before anything is written: no folder that cannot load
        unmatched = _unmatched_models(
            result.dropped["unknown_model"], len(pool.model_names), kin.excluded
        )
        if unmatched:
            say(unmatched)

        # A large table lists the models of the pool; its full matrix goes beside kinship.json.
        listing = list_models(kin, in_pool=result.in_pool)
        unc = None
        if resample is not None:
            unc = uncertainty.bootstrap(
                kin, resample.draws, resample.seed, resample.source, listing
            ).with_pairs(result.stability, result.sure_pairs)
        check = None
        if preference is not None and judge is not None and check_noise is not None:
            # A local table as the card shows paths (relative), a Hub one at its commit.
            shown = published_path(preference, out) if judged.local_inputs(preference) else None
            check = judged.preference_check_doc(
                kin, judge, check_noise, bootstrap or judged.DEFAULT_DRAWS, seed,
                judge_names, result=result, table=shown, warn=warn,
            )  # fmt: skip
        written = write_hub_folder(
            stage,
            {config: split_sizes(pool, result, config) for config in result.pairs},
            preference_tables(pool, kin, result, pool.store.windows()),
            PREFERENCE_SCHEMA,
            None if listing.complete else kin,
            copies=SFT_OF,
        )
        drawn: dict[str, Any] | None = None
        if report:
            # Inside the folder, so that `push` publishes the figures the card embeds.
            figures = render_report(
                kinship.score_table(),
                kin,
                stage / FIGURES_FOLDER,
                listing=listing,
                uncertainty=unc,
                preference=check,
            )
            drawn = {
                "markdown": f"{FIGURES_FOLDER}/report.md",
                "figures": [f"{FIGURES_FOLDER}/{name}" for name in figures.figures],
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
            pool_provenance=published_provenance(pool.provenance, out) if pool.provenance else None,
            command=published_command(command, out)
            if command is not None
            else "karma-build binarize",
            report=drawn,
            uncertainty=unc,
            preference=check,
        )
        write_manifest(stage, doc)
    return BuiltDataset(Path(out), doc, kin, drawn["markdown"] if drawn else None)


def push_dataset(
    folder: str | os.PathLike[str],
    repo_id: str,
    options: PushOptions | None = None,
    echo: Callable[[str], None] = print,
) -> PushPlan | PushResult:
    """Push a folder that `binarize` wrote to the Hub dataset repo ``repo_id``, in one commit.

    Every file but the hidden ones is sent, the card rendered again with ``repo_id`` in its
    snippets, and files an earlier push left under the config folders are deleted. A repo
    (or ``options.revision`` branch) that holds files already is replaced only with
    ``options.overwrite`` (``create_pr`` opens a pull request instead). With
    ``options.dry_run``, nothing is sent: the ``PushPlan`` is returned (``plan.describe()``
    says it). ``echo`` hears progress lines. The token comes from ``HF_TOKEN`` or the saved
    login.
    """
    from karma_plugin.hub.push import check_repo_id, push_upload
    from karma_plugin.outputs.hub_folder import upload

    check_repo_id(repo_id)
    # A folder that is not one fails here, before any Hub call.
    return push_upload(upload(folder, repo_id), repo_id, options, echo)


def pull_dataset(
    repo_id: str,
    configs: list[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    check: bool = True,
) -> PullReport:
    """Load a pushed KARMA dataset back with ``datasets``, config by config, at one commit.

    ``configs``: default every config of the card. With ``check``, every split is compared
    with the repo's parquet files and kinship.json's row counts (``report.problems`` lists
    what differs). ``out``: an empty folder (``karma_plugin.fs.staging.staged`` gives one)
    that receives the repo's files of those configs, byte for byte, when nothing differs.
    """
    from karma_plugin.hub.pull import at_commit
    from karma_plugin.outputs.hub_folder import pull_folder

    return pull_folder(at_commit(repo_id, revision), configs, out, check)
