"""The Hub-ready folder as a dataset repo holds it: which files a push sends and which remote
files it replaces, the card it sends, and what a pull checks and writes back.

The knowledge of the dataset's files lives here; the Hub calls are ``hub/``'s (``hub.push``
commits an ``Upload``, ``hub.pull`` reads a repo at one commit). ``karma_plugin.api`` joins
the two.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from karma_plugin.core.pairing import STRATEGIES
from karma_plugin.errors import InputError

# A config name becomes a folder of --out: one plain path component, nothing hidden.
CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# kinship.json entries keyed by config: a folder holding some configs lists only those.
PER_CONFIG = ("files", "splits", "bytes", "counts", "agreement")


# --- push: what is sent -------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A folder's files as one commit sends them (``hub.push.push_upload`` commits it)."""

    root: Path
    files: list[str]  # relative POSIX paths, as in the repo
    contents: dict[str, bytes]  # files sent not as they are on disk (the card for the repo)
    replaces: tuple[str, ...]  # repo folders the commit makes hold exactly ``files``
    notes: tuple[str, ...]  # what the dry run says of it, line by line


def folder_files(folder: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """The files of a Hub-ready folder (relative POSIX paths) and its config folders.

    Refuses anything that is not one: README.md, kinship.json and at least one config folder of
    parquet files are required; hidden files (staging leftovers) are never pushed.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{str(root)!r} is not a folder (make one with `karma-build binarize`)")
    for name in ("README.md", "kinship.json"):
        if not (root / name).is_file():
            raise InputError(f"{str(root)!r} is not a Hub-ready folder: {name} is missing")
    paths = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    configs = sorted({p.split("/")[0] for p in paths if "/" in p and p.endswith(".parquet")})
    if not configs:
        raise InputError(f"{str(root)!r} is not a Hub-ready folder: no <config>/*.parquet files")
    return paths, configs


def card_for_repo(folder: str | os.PathLike[str], repo_id: str) -> bytes | None:
    """The card with ``repo_id`` in its loading snippets, when README.md is the card that
    `binarize` rendered from kinship.json, untouched; ``None`` (push it as it is) otherwise."""
    from karma_plugin.outputs.card import render_card

    root = Path(folder)
    try:
        doc = json.loads((root / "kinship.json").read_text(encoding="utf-8"))
        if (root / "README.md").read_text(encoding="utf-8") != render_card(doc):
            return None
        return render_card({**doc, "repo_id": repo_id}).encode("utf-8")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # an older or hand-made folder: its card is pushed unchanged


def upload(folder: str | os.PathLike[str], repo_id: str) -> Upload:
    """What pushing ``folder`` to ``repo_id`` sends: every file but the hidden ones, the card
    rendered again for the repo, and the config folders (those of every strategy, so that a
    config an earlier push left is removed) and the report's figures folder (figures of earlier
    data would describe other models) made to hold exactly these files."""
    from karma_plugin.outputs.card import FIGURES_FOLDER

    files, configs = folder_files(folder)
    card = card_for_repo(folder, repo_id)
    return Upload(
        root=Path(folder),
        files=files,
        contents={"README.md": card} if card is not None else {},
        replaces=tuple(sorted(set(configs) | set(STRATEGIES) | {FIGURES_FOLDER})),
        notes=(
            f"configs: {', '.join(configs)}",
            "card: README.md, "
            + ("rendered again with this repo id" if card else "pushed as it is (edited by hand)"),
        ),
    )


# --- pull: what is checked and written back ------------------------------------------------------


class Repo(Protocol):
    """A dataset repo read at one commit (``hub.pull.at_commit``)."""

    @property
    def repo_id(self) -> str: ...

    @property
    def commit(self) -> str: ...

    def download(self, filename: str) -> str | None: ...

    def load(self, config: str) -> Any: ...

    def files(self) -> list[str]: ...


@dataclass
class PullReport:
    repo_id: str
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # config -> split -> rows
    problems: list[str] = field(default_factory=list)
    checked: bool = False
    commit: str | None = None
    written: bool = False


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


def pull_folder(
    repo: Repo,
    configs: list[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    check: bool = True,
) -> PullReport:
    """Load ``configs`` of ``repo`` (default: every config in the card); with ``check``,
    compare every split with the repo's files; then, if nothing differs, write them into
    ``out`` (an empty staging folder from ``fs.staging.staged``) as a Hub-ready folder holding
    those configs only."""
    repo_id = repo.repo_id
    readme = repo.download("README.md")
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
    doc_path = repo.download("kinship.json")
    try:
        doc = json.loads(Path(doc_path).read_text(encoding="utf-8")) if doc_path else {}
    except ValueError as exc:
        raise InputError(f"kinship.json of {repo_id} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InputError(f"kinship.json of {repo_id} is not a JSON object")
    report = PullReport(repo_id, checked=check, commit=repo.commit)
    loaded = {config: repo.load(config) for config in wanted}
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
            raw = [repo.download(f) for f in files]
            missing = [f for f, p in zip(files, raw, strict=True) if p is None]
            if missing:
                report.problems.append(f"{config}/{split}: missing in the repo: {missing}")
                continue
            report.problems += _compare(ds, [p for p in raw if p], f"{config}/{split}")
    if out is not None and not report.problems:
        _write_folder(out, repo, wanted, card, doc_path)
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
    repo: Repo,
    configs: list[str],
    card: str,
    doc_path: str | None,
) -> None:
    """The repo's own files of ``configs``, byte for byte, in the layout `binarize` writes,
    with a card and kinship.json that list those configs only, so
    ``load_dataset(out, config)`` works offline for each of them. ``out`` is an empty staging
    folder (``fs.staging.staged`` publishes it)."""
    from karma_plugin.outputs.card import report_files

    shards = [
        p
        for p in repo.files()
        if p.split("/")[0] in configs and re.fullmatch(r"[^/]+/[^/.][^/]*\.parquet", p)
    ]
    doc = json.loads(Path(doc_path).read_text(encoding="utf-8")) if doc_path else {}
    # A large score table's full kinship matrix lies beside kinship.json, which names it.
    matrix = (doc.get("all_models") or {}).get("kinship_matrix")
    if isinstance(matrix, str) and re.fullmatch(r"[A-Za-z0-9][\w.-]*\.parquet", matrix):
        shards.append(matrix)
    # The kinship report (`binarize --report`) lies in a folder the card links to.
    shards += report_files(doc).values()
    sources = {p: repo.download(p) for p in shards}
    # A config of no rows is in kinship.json only (see `card.loadable_splits`): a folder
    # without it lists only the configs it holds.
    everything = doc.get("files") if isinstance(doc.get("files"), dict) else None
    whole = set(configs) == set(everything or config_names(card, repo.repo_id))
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
    (stage / "README.md").write_text(
        subset_card(card, doc, repo.repo_id, configs), encoding="utf-8"
    )
