"""`karma-build tasks-path`: print the installed karma_* lm-eval task folder."""

from __future__ import annotations

import click

from karma_plugin.lmeval.wrapper import tasks_dir


@click.command("tasks-path")
def command() -> None:
    """Print the folder to pass to lm_eval --include_path for the karma tasks.

    lm_eval --include_path "$(karma-build tasks-path)" --tasks karma ...
    """
    click.echo(tasks_dir())
