"""Push a Hub-ready folder to a Hugging Face dataset repo in one commit (thin adapter).

Everything goes through ``huggingface_hub.HfApi``: the repo is created if missing, the branch
if ``revision`` names a new one, and one ``create_commit`` adds every file of the folder and
deletes the files a previous push left under the config folders, so the repo never holds a
half-updated dataset. The token comes from ``huggingface_hub`` (``HF_TOKEN`` or the saved
login) and is handed to it only: it never appears in a message.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from karma_plugin.core.pairing import STRATEGIES
from karma_plugin.errors import InputError, RemoteError

REPO_TYPE = "dataset"
KEEP = frozenset({".gitattributes"})  # every Hub repo starts with it; it is not data
DEFAULT_RETRIES = 5
MAX_WAIT_S = 30.0
T = TypeVar("T")


@dataclass
class PushPlan:
    """What a push will do; ``--dry-run`` prints it and stops."""

    repo_id: str
    revision: str
    endpoint: str
    repo_exists: bool
    branch_exists: bool
    additions: list[tuple[str, int]]  # (path in repo, size in bytes)
    deletions: list[str]
    existing: list[str] = field(default_factory=list)  # files there now (not .gitattributes)
    head: str | None = None  # the revision's commit now, when it exists
    contents: dict[str, bytes] = field(default_factory=dict)  # files pushed not as on disk

    def describe(self) -> str:
        target = f"{self.repo_id}@{self.revision}"
        lines = [f"Would commit to {target} ({self.endpoint}):"]
        if not self.repo_exists:
            lines.append(f"  create dataset repo {self.repo_id}")
        elif not self.branch_exists:
            lines.append(f"  create branch {self.revision}")
        total = sum(size for _, size in self.additions)
        lines.append(f"  add {len(self.additions)} files ({_human(total)}):")
        lines += [
            f"    + {path} ({_human(size)})"
            + (" (card rendered for this repo id)" if path in self.contents else "")
            for path, size in self.additions
        ]
        if self.deletions:
            lines.append(f"  delete {len(self.deletions)} stale files:")
            lines += [f"    - {path}" for path in self.deletions]
        return "\n".join(lines)


@dataclass(frozen=True)
class PushResult:
    commit_url: str
    pr_url: str | None
    plan: PushPlan  # the remote as the commit found it
    changed: bool  # False: the revision held exactly these files, no commit was made


# --- pure helpers -------------------------------------------------------------------------------
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


def stale_paths(remote: list[str], local: list[str], configs: list[str]) -> list[str]:
    """Remote files under a config folder that the new data does not have."""
    folders = set(configs) | set(STRATEGIES)
    keep = set(local)
    return sorted(p for p in remote if p.split("/")[0] in folders and "/" in p and p not in keep)


def summarize_paths(paths: list[str], limit: int = 6) -> str:
    """'README.md, kinship.json, k_sim/ (4 files)': what a repo holds, in one short line."""
    groups: dict[str, int] = {}
    for path in paths:
        top = path.split("/")[0] + "/" if "/" in path else path
        groups[top] = groups.get(top, 0) + 1
    items = [f"{k} ({n} files)" if k.endswith("/") else k for k, n in sorted(groups.items())]
    more = f", and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


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


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# --- errors and retries -------------------------------------------------------------------------
def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _is_transient(exc: BaseException) -> bool:
    import httpx

    status = _status(exc)
    if status is not None:
        return status == 429 or status >= 500
    return isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError)


def _reason(exc: BaseException) -> str:
    """One short line, from the status and the server's message; never headers or tokens."""
    status = _status(exc)
    server = getattr(exc, "server_message", None)
    if status is not None:
        detail = (server or "").strip().splitlines()
        return f"HTTP {status}" + (f" ({detail[0]})" if detail else "")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}" + (f": {text[0]}" if text else "")


def _auth_error(exc: BaseException, repo_id: str) -> RemoteError:
    return RemoteError(
        f"the Hub refused the token ({_reason(exc)}): check HF_TOKEN or `hf auth login`; "
        f"pushing to {repo_id} needs a token with write access to {repo_id.split('/')[0]}"
    )


def with_retries(
    call: Callable[[], T],
    what: str,
    repo_id: str,
    retries: int = DEFAULT_RETRIES,
    wait_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; retry network errors, 429 and 5xx with exponential backoff.

    Anything else, and the last transient failure, becomes one ``RemoteError`` line.
    ``KARMA_HUB_RETRY_WAIT`` sets the first wait (seconds; doubled each time, at most 30).
    """
    base = wait_s if wait_s is not None else float(os.environ.get("KARMA_HUB_RETRY_WAIT", "2"))
    for attempt in range(retries + 1):
        try:
            return call()
        except (InputError, RemoteError):  # ours pass through untouched
            raise
        except Exception as exc:
            if type(exc).__name__ == "OfflineModeIsEnabled":  # a setting, not a passing fault
                raise RemoteError(
                    f"{what} failed: HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set; "
                    "unset it to reach the Hub"
                ) from exc
            # huggingface_hub files a 401 under RepositoryNotFoundError; it is the token either way.
            if _status(exc) in (401, 403):
                raise _auth_error(exc, repo_id) from exc
            if not _is_transient(exc):
                raise RemoteError(f"{what} failed: {_reason(exc)}") from exc
            if attempt == retries:
                raise RemoteError(
                    f"{what} failed after {retries + 1} tries: {_reason(exc)}"
                ) from exc
            sleep(min(MAX_WAIT_S, base * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


# --- the push -----------------------------------------------------------------------------------
def _token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise InputError(
            "no Hugging Face token: set HF_TOKEN or run `hf auth login` (a write token is needed)"
        )
    return token


def _remote_state(api: Any, repo_id: str, revision: str) -> tuple[bool, str | None, list[str]]:
    """(repo exists, head commit of the revision if it exists, files there, or at main)."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        api.repo_info(repo_id, repo_type=REPO_TYPE)
    except RepositoryNotFoundError as exc:
        if _status(exc) == 401:
            raise
        return False, None, []
    try:
        head = api.repo_info(repo_id, repo_type=REPO_TYPE, revision=revision).sha
        return True, head, api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=head)
    except RevisionNotFoundError:
        return True, None, api.list_repo_files(repo_id, repo_type=REPO_TYPE)


def plan_push(
    folder: str | os.PathLike[str],
    repo_id: str,
    api: Any,
    revision: str = "main",
    retries: int | None = DEFAULT_RETRIES,
) -> PushPlan:
    """Compare the folder with the remote; ``retries=None`` reads the remote once, unguarded."""
    local, configs = folder_files(folder)
    if retries is None:
        exists, head, remote = _remote_state(api, repo_id, revision)
    else:
        exists, head, remote = with_retries(
            lambda: _remote_state(api, repo_id, revision), "reading the repo", repo_id, retries
        )
    root = Path(folder)
    card = card_for_repo(folder, repo_id)
    contents = {"README.md": card} if card is not None else {}
    return PushPlan(
        repo_id=repo_id,
        revision=revision,
        endpoint=api.endpoint,
        repo_exists=exists,
        branch_exists=head is not None,
        additions=[
            (p, len(contents[p]) if p in contents else (root / p).stat().st_size) for p in local
        ],
        deletions=stale_paths(remote, local, configs),
        existing=[p for p in remote if p not in KEEP] if head else [],
        head=head,
        contents=contents,
    )


def check_repo_id(repo_id: str) -> str:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise InputError(f"bad repo id {repo_id!r}: {str(exc).splitlines()[0]}") from exc
    if repo_id.count("/") != 1:
        raise InputError(f"bad repo id {repo_id!r}: use ORG/NAME (or USER/NAME)")
    return repo_id


def push_folder(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    overwrite: bool = False,
    dry_run: bool = False,
    message: str | None = None,
    retries: int = DEFAULT_RETRIES,
    echo: Callable[[str], None] = print,
) -> PushPlan | PushResult:
    """Push ``folder`` to ``repo_id`` in one commit; with ``dry_run`` only return the plan.

    An existing repo whose ``revision`` already holds files is replaced only with
    ``overwrite`` (a PR replaces nothing until merged, so ``create_pr`` needs no overwrite).
    """
    from huggingface_hub import HfApi

    check_repo_id(repo_id)
    folder_files(folder)  # bad input fails before any token or network is needed
    revision = revision or "main"
    token = None if dry_run else _token()
    api = HfApi(token=token) if token else HfApi()
    plan = plan_push(folder, repo_id, api, revision, retries)
    if dry_run:
        return plan
    if plan.existing and not (overwrite or create_pr):
        raise InputError(
            f"{repo_id}@{revision} already holds {len(plan.existing)} files "
            f"({summarize_paths(plan.existing)}); use --overwrite to replace its data, "
            "or --create-pr to propose the change"
        )
    if not plan.repo_exists:
        with_retries(
            lambda: api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True),
            "creating the repo",
            repo_id,
            retries,
        )
        echo(f"Created {'private ' if private else ''}dataset repo {repo_id}")
    elif private:
        echo(f"{repo_id} exists already: its visibility is left as it is (--private ignored)")
    if not plan.branch_exists and revision != "main":
        with_retries(
            lambda: api.create_branch(repo_id, branch=revision, repo_type=REPO_TYPE, exist_ok=True),
            "creating the branch",
            repo_id,
            retries,
        )
        echo(f"Created branch {revision}")

    def commit() -> tuple[Any, PushPlan]:
        # Re-read the remote each try: a commit that failed late may still have landed.
        fresh = plan_push(folder, repo_id, api, revision, retries=None)
        summary = f"Upload KARMA preference data ({len(fresh.additions)} files)"
        info = api.create_commit(
            repo_id,
            _operations(folder, fresh),
            commit_message=message or summary,
            repo_type=REPO_TYPE,
            revision=revision,
            create_pr=create_pr,
        )
        return info, fresh

    info, fresh = with_retries(commit, "the commit", repo_id, retries)
    # huggingface_hub skips an empty commit and answers with the current head.
    changed = info.oid != fresh.head
    return PushResult(str(info.commit_url), getattr(info, "pr_url", None), fresh, changed)


def _operations(folder: str | os.PathLike[str], plan: PushPlan) -> list[Any]:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    root = Path(folder)
    ops: list[Any] = [CommitOperationDelete(path_in_repo=p) for p in plan.deletions]
    ops += [CommitOperationAdd(p, plan.contents.get(p, root / p)) for p, _ in plan.additions]
    return ops
