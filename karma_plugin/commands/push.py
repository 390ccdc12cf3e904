"""`karma-build push`: a Hub-ready folder to a Hugging Face dataset repo, in one commit."""

from __future__ import annotations

import click

from karma_plugin.errors import RemoteError
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


def run_push(folder: str, repo_id: str, **options: object) -> None:
    """Push and report; shared with `binarize --push-to`."""
    from karma_plugin.api import push_dataset
    from karma_plugin.hub.push import PushPlan

    result = push_dataset(folder, repo_id, echo=click.echo, **options)  # type: ignore[arg-type]
    if isinstance(result, PushPlan):
        click.echo(result.describe())
        if result.existing:
            click.echo(
                f"  (the repo holds {len(result.existing)} files now: a real push needs "
                "--overwrite or --create-pr)"
            )
        click.echo("Dry run: nothing was committed.")
        if result.remote_error:
            # The local plan is printed, the comparison with the Hub is not: exit 1.
            raise RemoteError(
                f"dry run not compared with {repo_id}: {result.remote_error} "
                "(the plan above lists the local files only)"
            )
        return
    plan = result.plan
    if not result.changed:
        no_pr = "; no pull request opened" if options.get("create_pr") else ""
        click.echo(
            f"Nothing to commit: {repo_id}@{plan.revision} already holds exactly these files "
            f"({result.commit_url}){no_pr}"
        )
        return
    stale = f", deleted {len(plan.deletions)} stale files" if plan.deletions else ""
    click.echo(f"Committed {len(plan.additions)} files{stale}: {result.commit_url}")
    if result.pr_url:
        click.echo(f"Pull request: {result.pr_url}")
    click.echo(
        f'Load it with: datasets.load_dataset("{repo_id}", "k_sim")'
        + (f', revision="{plan.revision}"' if plan.revision != "main" else "")
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
    run_push(
        folder,
        repo_id,
        private=private,
        revision=revision,
        create_pr=create_pr,
        overwrite=overwrite,
        dry_run=dry_run,
        message=message,
        retries=retries,
    )
