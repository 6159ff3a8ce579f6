"""``coordinator cron``: the command line of the crontab line that runs ``daemon --once``.

Parsing only, like ``coordinator.cli``, which adds this group to its own.
"""

from __future__ import annotations

from pathlib import Path

import click

from coordinator.cli_options import repo_option
from coordinator.commands import cron as cron_mod
from coordinator.io.gitrepo import GitRepo


@click.group()
def cron() -> None:
    """Install, show or remove the crontab line that runs `daemon --once`."""


@cron.command("install")
@repo_option
@click.option("--every", default="15m", show_default=True, help="Interval (1m..30m, 1h..24h).")
@click.option("--dry-run", is_flag=True, help="Print the crontab it would write.")
def cron_install(repo_path: Path | None, every: str, dry_run: bool) -> int:
    with GitRepo.discover(repo_path or Path.cwd()) as repo:
        change = cron_mod.install(repo.root, repo.git_dir, every, dry_run=dry_run)
    click.echo(change.after if dry_run else f"installed: {change.line}", nl=not dry_run)
    return 0


@cron.command("remove")
@repo_option
@click.option("--dry-run", is_flag=True, help="Print the crontab it would write.")
def cron_remove(repo_path: Path | None, dry_run: bool) -> int:
    with GitRepo.discover(repo_path or Path.cwd()) as repo:
        change = cron_mod.remove(repo.root, dry_run=dry_run)
    if dry_run:
        click.echo(change.after, nl=False)
    else:
        click.echo("removed" if change.after != change.before else "no line was installed")
    return 0


@cron.command("show")
@repo_option
def cron_show(repo_path: Path | None) -> int:
    with GitRepo.discover(repo_path or Path.cwd()) as repo:
        line = cron_mod.show(repo.root)
    click.echo(line or "no crontab line for this repository")
    return 0
