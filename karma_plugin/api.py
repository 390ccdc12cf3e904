"""The library: the functions a Python user calls, and the ones the `karma-build` commands
call (a command only parses its options, calls one of these and prints what it returns).

Each joins the adapters below it (``outputs`` knows the dataset folder, ``hub`` talks to the
Hub) and decides nothing a command would have to decide again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from karma_plugin.hub.faults import DEFAULT_RETRIES

if TYPE_CHECKING:  # the Hub client and pyarrow load when a function runs, not at import
    from karma_plugin.hub.push import PushPlan, PushResult
    from karma_plugin.outputs.hub_folder import PullReport


def push_dataset(
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
    """Push a folder that `binarize` wrote to the Hub dataset repo ``repo_id``, in one commit.

    Every file but the hidden ones is sent, the card rendered again with ``repo_id`` in its
    snippets, and files an earlier push left under the config folders are deleted. A repo
    (or ``revision`` branch) that holds files already is replaced only with ``overwrite``
    (``create_pr`` opens a pull request instead). With ``dry_run``, nothing is sent: the
    ``PushPlan`` is returned (``plan.describe()`` says it). ``echo`` hears progress lines.
    The token comes from ``HF_TOKEN`` or the saved login.
    """
    from karma_plugin.hub.push import check_repo_id, push_upload
    from karma_plugin.outputs.hub_folder import upload

    check_repo_id(repo_id)
    return push_upload(
        upload(folder, repo_id),  # a folder that is not one fails before any Hub call
        repo_id,
        private=private,
        revision=revision,
        create_pr=create_pr,
        overwrite=overwrite,
        dry_run=dry_run,
        message=message,
        retries=retries,
        echo=echo,
    )


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
