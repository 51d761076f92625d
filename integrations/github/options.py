"""The GitHub integration's options, read from shiplog's settings."""

from __future__ import annotations

from datetime import datetime, timedelta

from feed.config import DEFAULT_GITHUB_API_URL, Settings
from feed.ingest import Intake
from integrations.github.client import ClientSettings, GitHubClient, RateBudget
from integrations.github.sync import SyncOptions


def sync_options(
    settings: Settings, since: datetime | None = None, *, intake: Intake | None = None
) -> SyncOptions:
    """What the API sync brings in, from the settings, and the intake it goes through (the
    app's, in the commands; without one, an intake that prepares nothing)."""
    return SyncOptions(
        incident_label=settings.incident_label,
        branches=settings.sync_branches,
        since=since,
        backfill=timedelta(days=settings.sync_backfill_days),
        patch_cap=settings.sync_patch_cap,
        intake=intake
        or Intake(rules=settings.incident_rules, build_branches=settings.build_branches),
    )


def github_client(settings: Settings, budget: RateBudget | None = None) -> GitHubClient:
    """A PyGithub-backed client for the configured server and credentials; clients given one
    `budget` keep the rate limit's reserve together."""
    return GitHubClient(client_settings(settings), budget)


def client_settings(settings: Settings) -> ClientSettings:
    """The client's server, credentials and rate-limit reserve."""
    return ClientSettings(
        api_url=settings.github_api_url,
        token=settings.github_token,
        app_id=settings.github_app_id,
        app_private_key_file=settings.github_app_private_key_file,
        app_installation_id=settings.github_app_installation_id,
        reserve=settings.sync_rate_limit_reserve,
    )


def web_url(settings: Settings) -> str:
    """The web address of the GitHub the API URL belongs to (github.com, or an Enterprise host)."""
    if settings.github_api_url == DEFAULT_GITHUB_API_URL:
        return "https://github.com"
    return settings.github_api_url.removesuffix("/api/v3")
