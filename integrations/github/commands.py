"""The GitHub commands: `shiplog sync` (from the API) and `shiplog import-git` (from a clone)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import click

from feed.commands import migrated
from feed.config import REPO_NAME
from feed.filters import Filter, FilterError
from feed.state import Shiplog
from integrations.github import options
from integrations.github.client import GitHubError
from integrations.github.gitlocal import GitError, import_history
from integrations.github.sync import sync_repo


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return Filter.from_dict({"since": value}).since
    except FilterError as exc:
        raise click.BadParameter(str(exc).removeprefix("since: ")) from None


def _repo(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not REPO_NAME.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not owner/name")
    return value


@click.command("sync")
@click.option("--repo", "repos", multiple=True, help="owner/name; default: the configured repos.")
@click.option(
    "--since", callback=_since, help="Bring in commits from this date (YYYY-MM-DD or ISO 8601) on."
)
@migrated(chat=True)
def sync_command(shiplog: Shiplog, repos: tuple[str, ...], since: datetime | None) -> None:
    """Bring repositories up to date from the GitHub API now."""
    repos = repos or shiplog.settings.repos
    if not repos:
        raise click.UsageError("no repositories to sync: set SHIPLOG_REPOS or pass --repo")
    sync = options.sync_options(shiplog.settings, since, intake=shiplog.intake)
    client = options.github_client(shiplog.settings)
    failed = 0
    for repo in repos:
        try:
            report = sync_repo(shiplog.db, client, repo, sync)
        except GitHubError as exc:
            failed += 1
            click.echo(f"shiplog: {repo}: {exc}", err=True)
            continue
        click.echo(
            f"shiplog: {repo}: {report.commits} commits, {report.incident_events} incident "
            f"events, {report.releases} releases"
        )
    click.echo(f"shiplog: {client.requests} API requests, {client.counted} counted")
    client.close()
    if failed:
        raise SystemExit(1)


@click.command("import-git", short_help="Backfill history from a local clone.")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--repo", required=True, callback=_repo, help="owner/name on GitHub, for uids and links."
)
@click.option("--branch", help="Branch to read; default: the one checked out.")
@migrated(chat=True)
def import_git_command(shiplog: Shiplog, path: Path, repo: str, branch: str | None) -> None:
    """Backfill a repository's history from a local clone, at no API cost."""
    started = time.perf_counter()
    try:
        report = import_history(
            shiplog.db,
            path,
            repo,
            branch=branch,
            web_url=options.web_url(shiplog.settings),
            patch_cap=shiplog.settings.sync_patch_cap,
            intake=shiplog.intake,
        )
    except GitError as exc:
        raise click.ClickException(str(exc)) from None
    seconds = time.perf_counter() - started
    click.echo(
        f"shiplog: {repo}: read {report.commits} commits, {report.created} new, "
        f"in {seconds:.1f} s ({report.commits / max(seconds, 1e-9):.0f} commits/s)"
    )
