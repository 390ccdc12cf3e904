"""``kinship.json``, built in one place: the kinship part (all that ``kinship --json`` writes)
and the whole manifest of a Hub-ready folder (what ``binarize`` read, chose, counted and
wrote). The dataset card renders from it; nothing else assembles it."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import numpy as np

from karma_plugin.core.kinship import Kinship, Listing, list_models, ranked
from karma_plugin.fs.paths import locate

if TYPE_CHECKING:  # pyarrow and the writers are not needed to describe a kinship
    from karma_plugin.core.binarize import Options, Result
    from karma_plugin.core.uncertainty import Uncertainty
    from karma_plugin.outputs.dataset_folder import Written

# The packages whose versions decide the bytes of a folder.
VERSIONED = ("karma-plugin", "datasets", "pyarrow", "numpy", "huggingface_hub")


def versions() -> dict[str, str]:
    found = {}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


# Options of `binarize` whose values may be local paths (a Hub id or `paper` stays as it is).
PATH_OPTIONS = ("--dataset", "--scores", "--samples", "--out", "--preference")


def published_path(path: str, out: str) -> str:
    """``path`` as a published card shows it: relative to the folder that holds ``out``.

    The card and kinship.json go to the Hub with `push`; an absolute path would publish the
    user's folder layout (and often their user name). Relative to the output folder's parent,
    the recorded command reruns from there. Anything that is not a local path is kept."""
    if locate(path) != "local" and os.path.abspath(path) != os.path.abspath(out):
        return path
    base = os.path.dirname(os.path.abspath(out))
    return os.path.relpath(os.path.abspath(path), base)


def published_command(args: Sequence[str], out: str) -> str:
    """``karma-build ARGS`` with the local paths of ``PATH_OPTIONS`` made relative (see
    ``published_path``)."""
    shown: list[str] = []
    pending: str | None = None
    for arg in args:
        if pending is not None:
            shown.append(published_path(arg, out))
            pending = None
            continue
        name, eq, value = arg.partition("=")
        if name in PATH_OPTIONS and eq:
            shown.append(f"{name}={published_path(value, out)}")
        else:
            shown.append(arg)
            pending = arg if arg in PATH_OPTIONS else None
    return shlex.join(["karma-build", *shown])


# The key by which `kinship --json` marks the file it wrote (a later run may replace it without
# --overwrite); a binarize folder's kinship.json has the folder's marker instead.
WRITTEN_BY = "written_by"


def written_by() -> dict[str, str]:
    from karma_plugin._version import __version__

    return {"tool": "karma-build", "version": __version__}


def is_kinship_json(path: str | os.PathLike[str]) -> bool:
    """``path`` is a kinship.json that `kinship --json` wrote (it holds the ``written_by``
    marker)."""
    import json

    try:
        if os.path.getsize(path) > 1 << 30:
            return False
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
    except (OSError, ValueError):
        return False
    mark = doc.get(WRITTEN_BY) if isinstance(doc, dict) else None
    return isinstance(mark, dict) and mark.get("tool") == "karma-build"


def kinship_document(
    kin: Kinship,
    listing: Listing | None = None,
    matrix_file: str | None = None,
    uncertainty: Uncertainty | None = None,
) -> dict[str, Any]:
    """The kinship part of ``kinship.json`` (docs/design.md contract), with the error bars of
    ``--bootstrap`` under ``uncertainty`` when given (absent otherwise).

    A table of more models than ``MAX_LISTED_MODELS`` keeps only the ``listing`` (default:
    the top ones by S_pref) in the per-model keys; ``all_models`` then says how many there
    are, what was listed, the pairs below tau among all of them, the score ranges that the
    normalisation used, the listed models' S_pref ranks and where the full matrix is.
    """
    listing = listing or list_models(kin)
    idx = listing.indices
    names = tuple(kin.models[i] for i in idx)

    def table(matrix: np.ndarray, cols: tuple[str, ...]) -> dict[str, dict[str, float]]:
        return {
            m: {c: round(float(v), 10) for c, v in zip(cols, row, strict=True)}
            for m, row in zip(names, matrix, strict=True)
        }

    doc: dict[str, Any] = {
        "models": list(names),
        "benchmarks": list(kin.benchmarks),
        "scores": table(kin.scores[idx], kin.benchmarks),
        "normalized": table(kin.normalized[idx], kin.benchmarks),
        "s_pref": {m: round(float(s), 10) for m, s in zip(names, kin.s_pref[idx], strict=True)},
        "kinship": table(kin.kinship[np.ix_(idx, idx)], names),
        "kinship_metric": kin.metric,
        "tau": kin.tau,
        "pairs_below_tau": [
            [a, b, round(v, 10)]
            for a, b, v in kin.pairs_below_tau(None if listing.complete else idx)
        ],
        "excluded": dict(kin.excluded),
    }
    if kin.categories:  # the user's (--category); the paper's three go unsaid, as before
        doc["categories"] = {name: list(members) for name, members in kin.categories.items()}
    if uncertainty is not None:
        doc["uncertainty"] = uncertainty.to_json()
    if listing.complete:
        return doc
    rank = np.empty(len(kin.models), np.int64)
    rank[ranked(kin)] = np.arange(1, len(kin.models) + 1)
    doc["all_models"] = {
        "count": len(kin.models),
        "listed": listing.rule,
        "pairs_below_tau": kin.count_below_tau(),
        "score_range": {
            b: {"min": float(lo), "max": float(hi)}
            for b, lo, hi in zip(
                kin.benchmarks, kin.scores.min(axis=0), kin.scores.max(axis=0), strict=True
            )
        },
        "s_pref_rank": {m: int(rank[i]) for m, i in zip(names, idx, strict=True)},
    }
    if matrix_file:
        doc["all_models"]["kinship_matrix"] = matrix_file
    return doc


# What `karma-build pool` records of each run that only means something on the machine that ran it.
_LOCAL_RUN_KEYS = ("samples_file", "results_file")
# An absolute POSIX path inside a recorded value ("pretrained=/models/x,dtype=float32").
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/[^\s,;=\"'|]+")


def _published_paths(value: Any, out: str) -> Any:
    if isinstance(value, str):
        return _ABSOLUTE_PATH.sub(lambda m: published_path(m.group(0), out), value)
    if isinstance(value, dict):
        return {k: _published_paths(v, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_published_paths(v, out) for v in value]
    return value


def published_provenance(provenance: dict[str, Any], out: str) -> dict[str, Any]:
    """A pool's provenance (``pools.reader.read_provenance``) as kinship.json publishes
    it: without the runs' own files, and with the local paths in it (prompt files, local
    models) relative as ``published_path`` makes them."""
    runs = provenance.get("runs")
    if isinstance(runs, list):
        provenance = {
            **provenance,
            "runs": [
                {k: v for k, v in run.items() if k not in _LOCAL_RUN_KEYS}
                if isinstance(run, dict)
                else run
                for run in runs
            ],
        }
    return _published_paths(provenance, out)


def binarize_manifest(
    kin: Kinship,
    listing: Listing,
    options: Options,
    result: Result,
    written: Written,
    *,
    dataset: str,
    rows: int,
    rating: str,
    default_config: str,
    pool_format: str = "ultrafeedback",
    columns: dict[str, str] | None = None,
    better_rating: str = "higher",
    skipped_configs: dict[str, str] | None = None,
    pool_provenance: dict[str, Any] | None = None,
    command: str = "karma-build binarize",
    report: dict[str, Any] | None = None,
    uncertainty: Uncertainty | None = None,
    preference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole ``kinship.json`` of a folder ``binarize`` wrote: the kinship part, the inputs
    (``dataset`` as the user named it, its ``rows``, its layout (``pool_format``) and the
    ``columns`` mapped, the ``rating`` and which is better, and the ``pool_provenance`` a
    generated pool carries, from ``published_provenance``), the options (with the
    ``default_config`` the card marks default), the counts and agreement of ``result``, the
    configs not built and why (``skipped_configs``), what was dropped, the versions and
    command that made it, the rows, files and bytes of every config and split in
    ``written``, the files of the kinship ``report`` inside the folder (``--report``) and,
    with ``--bootstrap``, the ``uncertainty`` (its per-config stability included); with
    ``--preference``, the ``preference_check`` (``preference_inputs.preference_check_doc``)."""
    provenance = {"pool_provenance": pool_provenance} if pool_provenance else {}
    not_built = {"skipped_configs": dict(skipped_configs)} if skipped_configs else {}
    return {
        **kinship_document(kin, listing, written.matrix, uncertainty),
        "dataset": dataset,
        "rows": rows,
        "format": pool_format,
        "columns": dict(columns or {}),
        "rating": rating,
        "better_rating": better_rating,
        **provenance,
        "options": {
            "strategies": list(options.strategies),
            "default_config": default_config,
            "test_size": options.test_size,
            "seed": options.seed,
            "exclude_sources": list(options.exclude_sources),
        },
        "counts": result.counts,
        **not_built,
        "agreement": result.agreement,
        "dropped_completions": result.dropped,
        "versions": versions(),
        "command": command,
        "splits": written.rows,
        "files": written.files,
        "bytes": written.nbytes,
        **({"report": report} if report else {}),
        **({"preference_check": preference} if preference else {}),
    }
