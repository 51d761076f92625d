"""The GitHub API emulator, running, and apps pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask

from app import create_app
from feed.state import shiplog_state
from integrations.github.client import GitHubClient
from integrations.github.options import client_settings
from tests.github_emulator import Emulator

TOKEN = "test-token"
NO_BACKOFF = 0.0  # 5xx retried at once: the tests count retries, not the pauses between


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(token=TOKEN).running() as running:
        yield running


@pytest.fixture
def gh_app(app_config: dict[str, Any], emulator: Emulator, isolated_env: None) -> Iterator[Flask]:
    app = create_app(
        {**app_config, "GITHUB_API_URL": emulator.url, "GITHUB_TOKEN": TOKEN, "REPOS": "acme/api"}
    )
    yield app
    shiplog_state(app).db.dispose()


@pytest.fixture
def client_for(gh_app: Flask) -> Iterator[Any]:
    """Make GitHub clients for the app; all are closed after the test."""
    made: list[GitHubClient] = []

    def make() -> GitHubClient:
        settings = client_settings(shiplog_state(gh_app).settings)
        made.append(GitHubClient(replace(settings, retry_backoff=NO_BACKOFF)))
        return made[-1]

    yield make
    for client in made:
        client.close()
