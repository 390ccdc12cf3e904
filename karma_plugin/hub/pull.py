"""Load a pushed KARMA dataset back from the Hub with `datasets`, and check the round trip.

Each config is read with ``datasets.load_dataset(repo_id, config)``, exactly as a user or a
trainer would. The check compares what was loaded with the raw parquet files of the repo and
with the row counts its ``kinship.json`` records, so a card whose configs point at the wrong
files, or a push that lost rows, is caught.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from karma_plugin.errors import InputError, RemoteError
from karma_plugin.hub.push import REPO_TYPE, check_repo_id, with_retries


@dataclass
class PullReport:
    repo_id: str
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # config -> split -> rows
    problems: list[str] = field(default_factory=list)
    checked: bool = False


def _download(repo_id: str, filename: str, revision: str | None) -> str | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    def get() -> str | None:
        try:
            return hf_hub_download(repo_id, filename, repo_type=REPO_TYPE, revision=revision)
        except EntryNotFoundError:
            return None

    return with_retries(get, f"downloading {filename}", repo_id)


def _config_names(repo_id: str, revision: str | None) -> list[str]:
    from huggingface_hub import DatasetCard

    readme = _download(repo_id, "README.md", revision)
    if readme is None:
        raise InputError(f"{repo_id} has no README.md: it was not pushed by `karma-build push`")
    configs = DatasetCard.load(readme).data.to_dict().get("configs") or []
    names = [c["config_name"] for c in configs if "config_name" in c]
    if not names:
        raise InputError(f"the card of {repo_id} lists no configs")
    return names


def _load(repo_id: str, config: str, revision: str | None) -> Any:
    import datasets

    def load() -> Any:
        try:
            return datasets.load_dataset(repo_id, config, revision=revision)
        except datasets.exceptions.DatasetNotFoundError as exc:
            raise InputError(f"{repo_id}: {exc}") from exc
        except ConnectionError as exc:
            raise RemoteError(f"could not reach the Hub for {repo_id}: {exc}") from exc

    return with_retries(load, f"loading {repo_id} ({config})", repo_id)


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


def pull(
    repo_id: str,
    configs: list[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    check: bool = True,
) -> PullReport:
    """Load ``configs`` (default: every config in the card); write them into ``out`` (an empty
    staging folder from ``staging.staged``) as a Hub-ready folder; with ``check``,
    compare every split with the repo's files."""
    import datasets

    check_repo_id(repo_id)
    # Our card lists the configs; the viewer's parquet export adds nothing and may be absent.
    datasets.config.USE_PARQUET_EXPORT = False
    available = _config_names(repo_id, revision)
    wanted = configs or available
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise InputError(
            f"{repo_id} has no config {', '.join(unknown)} (it has {', '.join(available)})"
        )
    doc_path = _download(repo_id, "kinship.json", revision)
    doc = json.loads(Path(doc_path).read_text(encoding="utf-8")) if doc_path else {}
    report = PullReport(repo_id, checked=check)
    loaded = {config: _load(repo_id, config, revision) for config in wanted}
    for config, dsd in loaded.items():
        report.rows[config] = {split: ds.num_rows for split, ds in dsd.items()}
        if not check:
            continue
        expected = doc.get("splits", {}).get(config)
        if expected is not None and expected != report.rows[config]:
            report.problems.append(
                f"{config}: rows per split {report.rows[config]}, kinship.json says {expected}"
            )
        for split, ds in dsd.items():
            files = doc.get("files", {}).get(config, {}).get(split, [])
            raw = [_download(repo_id, f, revision) for f in files]
            missing = [f for f, p in zip(files, raw, strict=True) if p is None]
            if missing:
                report.problems.append(f"{config}/{split}: missing in the repo: {missing}")
                continue
            report.problems += _compare(ds, [p for p in raw if p], f"{config}/{split}")
    if out is not None:
        _write_folder(out, loaded, doc_path, _download(repo_id, "README.md", revision))
    return report


def _write_folder(
    out: str | os.PathLike[str],
    loaded: dict[str, Any],
    doc_path: str | None,
    readme: str | None,
) -> None:
    """The same layout as `binarize` writes, so `load_dataset(out, config)` works offline."""
    stage = Path(out)
    for config, dsd in loaded.items():
        (stage / config).mkdir()
        for split, ds in dsd.items():
            ds.to_parquet(str(stage / config / f"{split}-00000-of-00001.parquet"))
    for source, name in ((doc_path, "kinship.json"), (readme, "README.md")):
        if source:
            shutil.copyfile(source, stage / name)
