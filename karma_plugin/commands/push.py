"""`karma-build push`: a Hub-ready folder to a Hugging Face dataset repo, in one commit."""

from __future__ import annotations

import click

from karma_plugin.commands._options import echo_push, echo_redacted
from karma_plugin.hub.faults import DEFAULT_RETRIES

repo_id_option = click.option(
    "--repo-id", required=True, metavar="ORG/NAME", help="Dataset repo on the Hugging Face Hub."
)
private_option = click.option(
    "--private", is_flag=True, help="Create the repo as private (only when it does not exist)."
)
revision_option = click.option(
    "--revision",
    default=None,
    metavar="BRANCH",
    help="Branch to commit to (created from main if missing). Default: main.",
)
create_pr_option = click.option(
    "--create-pr", is_flag=True, help="Open a pull request with the commit instead of committing."
)
retries_option = click.option(
    "--retries",
    type=click.IntRange(0, 20),
    default=DEFAULT_RETRIES,
    show_default=True,
    help="Retries on network errors and 5xx answers (exponential backoff).",
)


@click.command("push")
@click.argument("folder", type=click.Path(file_okay=False))
@repo_id_option
@private_option
@revision_option
@create_pr_option
@click.option(
    "--overwrite", is_flag=True, help="Replace the data of a repo (or branch) that has files."
)
@click.option(
    "--dry-run", is_flag=True, help="Show what would be committed; change nothing on the Hub."
)
@click.option("-m", "--message", default=None, help="Commit message.")
@retries_option
def command(
    folder: str,
    repo_id: str,
    private: bool,
    revision: str | None,
    create_pr: bool,
    overwrite: bool,
    dry_run: bool,
    message: str | None,
    retries: int,
) -> None:
    """Push FOLDER (made by `karma-build binarize`) to the Hub as one commit.

    The token comes from HF_TOKEN or your saved login (`hf auth login`); it is never printed.
    """
    from karma_plugin.api import push_dataset
    from karma_plugin.hub.push import PushOptions

    options = PushOptions(private, revision, create_pr, overwrite, dry_run, message, retries)
    echo_push(push_dataset(folder, repo_id, options, echo_redacted), repo_id, create_pr=create_pr)
