"""Commit a planned set of files to a Hugging Face dataset repo in one commit (transport only).

What to send is planned elsewhere (``outputs.hub_folder.upload``: a dataset folder's files,
its card for the repo, the folders it replaces); this module only sends it. Everything goes
through ``huggingface_hub.HfApi``: the repo is created if missing, the branch if ``revision``
names a new one, and one ``create_commit`` adds every planned file and deletes the files a
previous push left under the replaced folders (a dataset's config folders and its figures
folder), so the repo never holds a half-updated dataset.
The token comes from ``huggingface_hub`` (``HF_TOKEN`` or the saved login) and is handed to it
only: it never appears in a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from karma_plugin.errors import InputError, KarmaError, RemoteError
from karma_plugin.hub.faults import DEFAULT_RETRIES, status, usable_token, with_retries

REPO_TYPE = "dataset"
KEEP = frozenset({".gitattributes"})  # every Hub repo starts with it; it is not data


class Upload(Protocol):
    """A planned set of files (``outputs.hub_folder.Upload`` is one)."""

    @property
    def root(self) -> Path: ...  # where the files are

    @property
    def files(self) -> list[str]: ...  # paths in the repo, relative to ``root``

    @property
    def contents(self) -> dict[str, bytes]: ...  # files sent not as they are on disk

    @property
    def replaces(self) -> tuple[str, ...]: ...  # folders made to hold exactly ``files``

    @property
    def notes(self) -> tuple[str, ...]: ...  # lines the dry run prints about it


@dataclass
class PushPlan:
    """What a push will do; ``--dry-run`` prints it and stops.

    The local side (files, sizes, the upload's notes) is always known; the remote side
    (``repo_exists`` onwards) is ``None`` or empty until it was read, and stays so when a dry
    run could not read it (``remote_error`` says why).
    """

    repo_id: str
    revision: str
    endpoint: str
    notes: tuple[str, ...]
    additions: list[tuple[str, int]]  # (path in repo, size in bytes)
    contents: dict[str, bytes] = field(default_factory=dict)  # files pushed not as on disk
    repo_exists: bool | None = None
    branch_exists: bool | None = None
    deletions: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)  # files there now (not .gitattributes)
    head: str | None = None  # the revision's commit now, when it exists
    remote_error: str | None = None

    @property
    def compared(self) -> bool:
        return self.repo_exists is not None

    def describe(self) -> str:
        target = f"{self.repo_id}@{self.revision}"
        if self.compared:
            lines = [f"Would commit to {target} ({self.endpoint}):"]
        else:
            lines = [f"Would commit to {target} ({self.endpoint}), not compared with it:"]
        if self.repo_exists is False:
            lines.append(f"  create dataset repo {self.repo_id}")
        elif self.repo_exists and not self.branch_exists:
            lines.append(f"  create branch {self.revision}")
        lines += [f"  {note}" for note in self.notes]
        total = sum(size for _, size in self.additions)
        lines.append(f"  add {len(self.additions)} files ({_human(total)}):")
        lines += [f"    + {path} ({_human(size)})" for path, size in self.additions]
        if self.deletions:
            lines.append(f"  delete {len(self.deletions)} stale files:")
            lines += [f"    - {path}" for path in self.deletions]
        if not self.compared:
            lines.append(
                "  not compared: whether the repo or branch exists, what it holds, and which "
                "stale files a push would delete"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class PushOptions:
    """How to push (`karma-build push`'s options).

    ``private``: create the repo as private (a repo that exists keeps its visibility);
    ``revision``: the branch to commit to (created from main if missing; default main);
    ``create_pr``: open a pull request instead of committing; ``overwrite``: replace a repo
    (or branch) that holds files already; ``dry_run``: only plan, send nothing; ``message``:
    the commit message; ``retries``: on network errors and 5xx answers.
    """

    private: bool = False
    revision: str | None = None
    create_pr: bool = False
    overwrite: bool = False
    dry_run: bool = False
    message: str | None = None
    retries: int = DEFAULT_RETRIES


@dataclass(frozen=True)
class PushResult:
    commit_url: str
    pr_url: str | None
    plan: PushPlan  # the remote as the commit found it
    changed: bool  # False: the revision held exactly these files, no commit was made


# --- pure helpers -------------------------------------------------------------------------------
def stale_paths(remote: list[str], local: list[str], folders: tuple[str, ...]) -> list[str]:
    """Remote files under one of ``folders`` that the new set of files does not have."""
    owned = set(folders)
    keep = set(local)
    return sorted(p for p in remote if p.split("/")[0] in owned and "/" in p and p not in keep)


def summarize_paths(paths: list[str], limit: int = 6) -> str:
    """'README.md, kinship.json, k_sim/ (4 files)': what a repo holds, in one short line."""
    groups: dict[str, int] = {}
    for path in paths:
        top = path.split("/")[0] + "/" if "/" in path else path
        groups[top] = groups.get(top, 0) + 1
    items = [f"{k} ({n} files)" if k.endswith("/") else k for k, n in sorted(groups.items())]
    more = f", and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# --- the push -----------------------------------------------------------------------------------
def require_token() -> str:
    """The token a push sends, or one line (exit 2) before any work: none, or one that no
    HTTP header can carry (``usable_token``)."""
    token = usable_token()
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
        if status(exc) != 404:  # the Hub answers 401 for a repo the token may not see
            raise
        return False, None, []
    try:
        head = api.repo_info(repo_id, repo_type=REPO_TYPE, revision=revision).sha
        return True, head, api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=head)
    except RevisionNotFoundError:
        return True, None, api.list_repo_files(repo_id, repo_type=REPO_TYPE)


def local_plan(upload: Upload, repo_id: str, revision: str, endpoint: str) -> PushPlan:
    """What the upload would add, read from disk alone (no network)."""
    contents = upload.contents
    return PushPlan(
        repo_id=repo_id,
        revision=revision,
        endpoint=endpoint,
        notes=upload.notes,
        additions=[
            (p, len(contents[p]) if p in contents else (upload.root / p).stat().st_size)
            for p in upload.files
        ],
        contents=dict(contents),
    )


def plan_push(
    upload: Upload,
    repo_id: str,
    api: Any,
    revision: str = "main",
    retries: int | None = DEFAULT_RETRIES,
) -> PushPlan:
    """Compare the upload with the remote; ``retries=None`` reads the remote once, unguarded."""
    plan = local_plan(upload, repo_id, revision, api.endpoint)
    if retries is None:
        exists, head, remote = _remote_state(api, repo_id, revision)
    else:
        exists, head, remote = with_retries(
            lambda: _remote_state(api, repo_id, revision),
            "reading the repo",
            repo_id,
            retries,
            access="write",
        )
    plan.repo_exists = exists
    plan.branch_exists = head is not None
    plan.head = head
    plan.deletions = stale_paths(remote, [p for p, _ in plan.additions], upload.replaces)
    plan.existing = [p for p in remote if p not in KEEP] if head else []
    return plan


def check_repo_id(repo_id: str) -> str:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise InputError(f"bad repo id {repo_id!r}: {str(exc).splitlines()[0]}") from exc
    if repo_id.count("/") != 1:
        raise InputError(f"bad repo id {repo_id!r}: use ORG/NAME (or USER/NAME)")
    return repo_id


def push_upload(
    upload: Upload,
    repo_id: str,
    options: PushOptions | None = None,
    echo: Callable[[str], None] = print,
) -> PushPlan | PushResult:
    """Commit ``upload`` to ``repo_id`` in one commit; with ``options.dry_run`` only return
    the plan.

    An existing repo whose revision already holds files is replaced only with ``overwrite``
    (a PR replaces nothing until merged, so ``create_pr`` needs no overwrite).
    """
    from huggingface_hub import HfApi

    check_repo_id(repo_id)
    options = options or PushOptions()
    private, create_pr, message, retries = (
        options.private, options.create_pr, options.message, options.retries
    )  # fmt: skip
    revision, dry_run = options.revision or "main", options.dry_run
    token = None if dry_run else require_token()
    api = HfApi(token=token) if token else HfApi()
    if dry_run:
        try:
            return plan_push(upload, repo_id, api, revision, retries)
        except RemoteError as exc:  # the local side is worth showing without the Hub
            plan = local_plan(upload, repo_id, revision, api.endpoint)
            plan.remote_error = str(exc)
            return plan
    plan = plan_push(upload, repo_id, api, revision, retries)
    if plan.existing and not (options.overwrite or create_pr):
        raise InputError(
            f"{repo_id}@{revision} already holds {len(plan.existing)} files "
            f"({summarize_paths(plan.existing)}); use --overwrite to replace its data, "
            "or --create-pr to propose the change"
        )

    def write(call: Callable[[], Any], what: str) -> Any:
        return with_retries(call, what, repo_id, retries, access="write")

    created = None  # what this push created: a failed commit leaves it, and says so
    if not plan.repo_exists:
        write(
            lambda: api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True),
            "creating the repo",
        )
        echo(f"Created {'private ' if private else ''}dataset repo {repo_id}")
        created = f"the dataset repo {repo_id}"
    elif private:
        echo(f"{repo_id} exists already: its visibility is left as it is (--private ignored)")
    if not plan.branch_exists and revision != "main":
        write(
            lambda: api.create_branch(repo_id, branch=revision, repo_type=REPO_TYPE, exist_ok=True),
            "creating the branch",
        )
        echo(f"Created branch {revision}")
        created = created or f"the branch {revision} of {repo_id}"

    def commit() -> tuple[Any, PushPlan]:
        # Re-read the remote each try: a commit that failed late may still have landed.
        fresh = plan_push(upload, repo_id, api, revision, retries=None)
        summary = f"Upload KARMA preference data ({len(fresh.additions)} files)"
        info = api.create_commit(
            repo_id,
            _operations(upload.root, fresh),
            commit_message=message or summary,
            repo_type=REPO_TYPE,
            revision=revision,
            create_pr=create_pr,
        )
        return info, fresh

    total = _human(sum(size for _, size in plan.additions))
    echo(f"Uploading {len(plan.additions)} files ({total}) to {repo_id}@{revision} ...")
    try:
        info, fresh = write(commit, "the commit")
    except KarmaError as exc:
        if created is None:
            raise
        # Not deleted: a repo is removed only by its owner, who may have pushed to it since.
        raise type(exc)(
            f"{exc}; {created} was created by this push and is left without the data: "
            "push again, or delete it on the Hub"
        ) from exc
    # huggingface_hub skips an empty commit and answers with the current head.
    changed = info.oid != fresh.head
    return PushResult(str(info.commit_url), getattr(info, "pr_url", None), fresh, changed)


def _operations(root: Path, plan: PushPlan) -> list[Any]:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    ops: list[Any] = [CommitOperationDelete(path_in_repo=p) for p in plan.deletions]
    ops += [CommitOperationAdd(p, plan.contents.get(p, root / p)) for p, _ in plan.additions]
    return ops
