"""Load a pushed KARMA dataset back from the Hub with `datasets`, and check the round trip.

Each config is read with ``datasets.load_dataset(repo_id, config)``, exactly as a user or a
trainer would. The check compares what was loaded with the raw parquet files of the repo and
with the row counts its ``kinship.json`` records, so a card whose configs point at the wrong
files, or a push that lost rows, is caught.

Everything is read at one commit: the revision is resolved first (which is also where an
unreachable Hub, a refused token or a missing repo is told, before any download), and every
later read names that commit. A pinned commit also keeps ``datasets`` from asking the dataset
viewer for its parquet export, which it does only for ``main``: nothing global is switched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from karma_plugin.errors import InputError
from karma_plugin.hub.faults import DEFAULT_RETRIES, offline, with_retries
from karma_plugin.hub.push import REPO_TYPE, check_repo_id

# A config name becomes a folder of --out: one plain path component, nothing hidden.
CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# kinship.json entries keyed by config: a folder holding some configs lists only those.
PER_CONFIG = ("files", "splits", "bytes", "counts", "agreement")


@dataclass
class PullReport:
    repo_id: str
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # config -> split -> rows
    problems: list[str] = field(default_factory=list)
    checked: bool = False
    commit: str | None = None
    written: bool = False


def resolve_revision(
    repo_id: str, revision: str | None = None, retries: int = DEFAULT_RETRIES
) -> str:
    """The commit ``revision`` (default: main) of the dataset repo ``repo_id`` points at."""
    from huggingface_hub import HfApi

    info = with_retries(
        lambda: HfApi().dataset_info(repo_id, revision=revision),
        f"reading {repo_id}",
        repo_id,
        retries,
    )
    return str(info.sha)


def load_hub_dataset(
    repo_id: str,
    config: str | None = None,
    split: str | None = None,
    revision: str | None = None,
    retries: int = DEFAULT_RETRIES,
) -> Any:
    """``datasets.load_dataset(repo_id, config, split=...)`` at one commit, Hub faults as
    one line. Offline (HF_HUB_OFFLINE), ``datasets`` answers from its cache alone."""
    import datasets

    if not offline():  # else datasets answers from its cache, which knows no revision names
        revision = resolve_revision(repo_id, revision, retries)
    where = f"{repo_id} ({config})" if config else repo_id
    return with_retries(
        lambda: datasets.load_dataset(repo_id, config, split=split, revision=revision),
        f"loading {where}",
        repo_id,
        retries,
    )


def _download(repo_id: str, filename: str, commit: str) -> str | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    def get() -> str | None:
        try:
            return hf_hub_download(repo_id, filename, repo_type=REPO_TYPE, revision=commit)
        except RemoteEntryNotFoundError:
            # The Hub said the file is not there. (LocalEntryNotFoundError, its sibling, is a
            # download that failed with nothing in the cache: a Hub fault, told as one.)
            return None

    return with_retries(get, f"downloading {filename}", repo_id)


def config_names(card_text: str, repo_id: str) -> list[str]:
    """The configs a dataset card lists, refused unless each is a plain folder name."""
    from huggingface_hub import DatasetCard

    try:
        configs = DatasetCard(card_text).data.to_dict().get("configs") or []
    except Exception as exc:  # a card is remote input: any parse failure is the card's
        raise InputError(f"the card of {repo_id} cannot be read: {exc}") from exc
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise InputError(f"the card of {repo_id} has a malformed configs list")
    names = [c["config_name"] for c in configs if "config_name" in c]
    bad = [n for n in names if not isinstance(n, str) or not CONFIG_NAME.fullmatch(n)]
    if bad:
        raise InputError(
            f"the card of {repo_id} names a config {bad[0]!r}, which is not a plain folder "
            "name (letters, digits, '_', '-', '.'): refusing to use it"
        )
    if not names:
        raise InputError(f"the card of {repo_id} lists no configs")
    return names


def _config_files(entries: Any, config: str, repo_id: str) -> list[str]:
    """kinship.json's file list of one split, refused unless each lies in the config folder."""
    files = entries if isinstance(entries, list) else []
    for path in files:
        if not isinstance(path, str) or not re.fullmatch(rf"{re.escape(config)}/[^/.][^/]*", path):
            raise InputError(
                f"kinship.json of {repo_id} lists {path!r} for config {config}: "
                "not a file of that config's folder"
            )
    return files


def _load(repo_id: str, config: str, commit: str) -> Any:
    import datasets

    return with_retries(
        lambda: datasets.load_dataset(repo_id, config, revision=commit),
        f"loading {repo_id} ({config})",
        repo_id,
    )


def _compare(loaded: Any, raw_paths: list[str], where: str) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = pa.concat_tables([pq.read_table(p) for p in raw_paths]) if raw_paths else None
    table = loaded.data.table
    if raw is None:
        return [f"{where}: no files listed in kinship.json"]
    if raw.num_rows != table.num_rows:
        return [f"{where}: loaded {table.num_rows} rows, the repo's files hold {raw.num_rows}"]
    if raw.column_names != table.column_names:
        return [f"{where}: columns differ: {table.column_names} vs {raw.column_names}"]
    if raw.to_pylist() != table.to_pylist():
        return [f"{where}: the loaded rows differ from the repo's files"]
    return []


def _with_rows(rows: Any) -> Any:
    return {s: n for s, n in rows.items() if n != 0} if isinstance(rows, dict) else rows


def pull(
    repo_id: str,
    configs: list[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    check: bool = True,
) -> PullReport:
    """Load ``configs`` (default: every config in the card); with ``check``, compare every
    split with the repo's files; then, if nothing differs, write them into ``out`` (an empty
    staging folder from ``staging.staged``) as a Hub-ready folder holding those configs
    only."""
    check_repo_id(repo_id)
    commit = resolve_revision(repo_id, revision)
    readme = _download(repo_id, "README.md", commit)
    if readme is None:
        raise InputError(f"{repo_id} has no README.md: it was not pushed by `karma-build push`")
    card = Path(readme).read_text(encoding="utf-8")
    available = config_names(card, repo_id)
    wanted = list(dict.fromkeys(configs or available))
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise InputError(
            f"{repo_id} has no config {', '.join(unknown)} (it has {', '.join(available)})"
        )
    doc_path = _download(repo_id, "kinship.json", commit)
    try:
        doc = json.loads(Path(doc_path).read_text(encoding="utf-8")) if doc_path else {}
    except ValueError as exc:
        raise InputError(f"kinship.json of {repo_id} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InputError(f"kinship.json of {repo_id} is not a JSON object")
    report = PullReport(repo_id, checked=check, commit=commit)
    loaded = {config: _load(repo_id, config, commit) for config in wanted}
    for config, dsd in loaded.items():
        report.rows[config] = {split: ds.num_rows for split, ds in dsd.items()}
        if not check:
            continue
        expected = doc.get("splits", {}).get(config)
        # A split of no rows is not in the card (`datasets` cannot load one): nothing to load.
        if expected is not None and _with_rows(expected) != _with_rows(report.rows[config]):
            report.problems.append(
                f"{config}: rows per split {report.rows[config]}, kinship.json says {expected}"
            )
        for split, ds in dsd.items():
            entries = doc.get("files", {}).get(config, {}).get(split, [])
            files = _config_files(entries, config, repo_id)
            raw = [_download(repo_id, f, commit) for f in files]
            missing = [f for f, p in zip(files, raw, strict=True) if p is None]
            if missing:
                report.problems.append(f"{config}/{split}: missing in the repo: {missing}")
                continue
            report.problems += _compare(ds, [p for p in raw if p], f"{config}/{split}")
    if out is not None and not report.problems:
        _write_folder(out, repo_id, commit, wanted, card, doc_path)
        report.written = True
    return report


def subset_doc(doc: dict[str, Any], configs: list[str]) -> dict[str, Any]:
    """kinship.json as a folder holding only ``configs`` would have it."""
    subset = dict(doc)
    for key in PER_CONFIG:
        if isinstance(doc.get(key), dict):
            subset[key] = {c: v for c, v in doc[key].items() if c in configs}
    uncertainty = doc.get("uncertainty")  # --bootstrap: its per-config figures too
    if isinstance(uncertainty, dict):
        subset["uncertainty"] = {
            k: {c: x for c, x in v.items() if c in configs}
            if k in ("stability", "sure_pairs") and isinstance(v, dict)
            else v
            for k, v in uncertainty.items()
        }
    check = doc.get("preference_check")  # --preference: its per-config agreement too
    if isinstance(check, dict) and isinstance(check.get("configs"), dict):
        kept = {c: v for c, v in check["configs"].items() if c in configs}
        subset["preference_check"] = {**check, "configs": kept}
    options = doc.get("options")
    if isinstance(options, dict) and isinstance(options.get("strategies"), list):
        subset["options"] = {
            **options,
            "strategies": [s for s in options["strategies"] if s in configs],
        }
    return subset


def subset_card(card: str, doc: dict[str, Any], repo_id: str, configs: list[str]) -> str:
    """The card of a folder holding only ``configs``: rendered again from kinship.json when
    it is the card `push` rendered, untouched; otherwise its YAML lists only those configs."""
    from huggingface_hub import DatasetCard

    from karma_plugin.outputs.card import render_card

    try:
        if card == render_card({**doc, "repo_id": repo_id}):
            return render_card({**subset_doc(doc, configs), "repo_id": repo_id})
    except (KeyError, TypeError, ValueError, AttributeError):
        pass  # an older or hand-made kinship.json: edit the card's YAML instead
    edited = DatasetCard(card)
    meta = edited.data.to_dict()
    meta["configs"] = [c for c in meta.get("configs", []) if c.get("config_name") in configs]
    if isinstance(meta.get("dataset_info"), list):
        infos = [i for i in meta["dataset_info"] if isinstance(i, dict)]
        meta["dataset_info"] = [i for i in infos if i.get("config_name") in configs]
    edited.data = type(edited.data)(**meta)
    return str(edited)


def _write_folder(
    out: str | os.PathLike[str],
    repo_id: str,
    commit: str,
    configs: list[str],
    card: str,
    doc_path: str | None,
) -> None:
    """The repo's own files of ``configs``, byte for byte, in the layout `binarize` writes,
    with a card and kinship.json that list those configs only, so
    ``load_dataset(out, config)`` works offline for each of them. ``out`` is an empty staging
    folder (``staging.staged`` publishes it)."""
    from huggingface_hub import HfApi

    from karma_plugin.outputs.card import report_files

    listed = with_retries(
        lambda: HfApi().list_repo_files(repo_id, repo_type=REPO_TYPE, revision=commit),
        f"listing {repo_id}",
        repo_id,
    )
    shards = [
        p
        for p in listed
        if p.split("/")[0] in configs and re.fullmatch(r"[^/]+/[^/.][^/]*\.parquet", p)
    ]
    doc = json.loads(Path(doc_path).read_text(encoding="utf-8")) if doc_path else {}
    # A large score table's full kinship matrix lies beside kinship.json, which names it.
    matrix = (doc.get("all_models") or {}).get("kinship_matrix")
    if isinstance(matrix, str) and re.fullmatch(r"[A-Za-z0-9][\w.-]*\.parquet", matrix):
        shards.append(matrix)
    # The kinship report (`binarize --report`) lies in a folder the card links to.
    shards += report_files(doc).values()
    sources = {p: _download(repo_id, p, commit) for p in shards}
    # A config of no rows is in kinship.json only (see `card.loadable_splits`): a folder
    # without it lists only the configs it holds.
    everything = doc.get("files") if isinstance(doc.get("files"), dict) else None
    whole = set(configs) == set(everything or config_names(card, repo_id))
    stage = Path(out)
    for path, source in sources.items():
        if source is None:
            continue
        (stage / path).parent.mkdir(exist_ok=True)
        shutil.copyfile(source, stage / path)
    if whole:  # the repo's card and kinship.json as they are
        (stage / "README.md").write_text(card, encoding="utf-8")
        if doc_path:
            shutil.copyfile(doc_path, stage / "kinship.json")
        return
    if doc_path:
        text = json.dumps(subset_doc(doc, configs), indent=2) + "\n"
        (stage / "kinship.json").write_text(text, encoding="utf-8")
    (stage / "README.md").write_text(subset_card(card, doc, repo_id, configs), encoding="utf-8")
