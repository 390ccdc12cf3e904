"""Read a dataset repo from the Hub at one commit (transport only).

The revision is resolved first (which is also where an unreachable Hub, a refused token or a
missing repo is told, before any download), and every later read names that commit: a file
downloaded, a config loaded with ``datasets.load_dataset(repo_id, config)`` exactly as a user
or a trainer would, the repo's file list. A pinned commit also keeps ``datasets`` from asking
the dataset viewer for its parquet export, which it does only for ``main``: nothing global is
switched. What a pull checks and writes back is ``outputs.hub_folder``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from karma_plugin.hub.faults import DEFAULT_RETRIES, offline, with_retries
from karma_plugin.hub.push import REPO_TYPE, check_repo_id


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


@dataclass(frozen=True)
class RepoAtCommit:
    """A dataset repo read at one commit: every read below names it."""

    repo_id: str
    commit: str

    def download(self, filename: str) -> str | None:
        """The local path of ``filename`` at the commit (huggingface_hub's cache), or None
        when the repo has no such file."""
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import RemoteEntryNotFoundError

        def get() -> str | None:
            try:
                return hf_hub_download(
                    self.repo_id, filename, repo_type=REPO_TYPE, revision=self.commit
                )
            except RemoteEntryNotFoundError:
                # The Hub said the file is not there. (LocalEntryNotFoundError, its sibling, is
                # a download that failed with nothing in the cache: a Hub fault, told as one.)
                return None

        return with_retries(get, f"downloading {filename}", self.repo_id)

    def load(self, config: str) -> Any:
        """``datasets.load_dataset(repo_id, config)`` at the commit: every split."""
        import datasets

        return with_retries(
            lambda: datasets.load_dataset(self.repo_id, config, revision=self.commit),
            f"loading {self.repo_id} ({config})",
            self.repo_id,
        )

    def files(self) -> list[str]:
        """Every file of the repo at the commit."""
        from huggingface_hub import HfApi

        return with_retries(
            lambda: HfApi().list_repo_files(
                self.repo_id, repo_type=REPO_TYPE, revision=self.commit
            ),
            f"listing {self.repo_id}",
            self.repo_id,
        )


def at_commit(repo_id: str, revision: str | None = None) -> RepoAtCommit:
    """``repo_id`` at the commit ``revision`` (default: main) points at now."""
    check_repo_id(repo_id)
    return RepoAtCommit(repo_id, resolve_revision(repo_id, revision))
