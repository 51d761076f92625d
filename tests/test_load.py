"""A few seconds of `bench/load.py` in CI: webhook senders and readers at once against
gunicorn, on each database. No 5xx, and the timeline holds exactly the accepted commits."""

from __future__ import annotations

from pathlib import Path

from bench import load, web
from tests.conftest import WATCHED_SECRETS, subprocess_secrets_env


def test_concurrent_senders_and_readers_lose_and_double_nothing(
    database_url: str, tmp_path: Path
) -> None:
    env = subprocess_secrets_env(tmp_path)
    env.pop("SHIPLOG_GITHUB_WEBHOOK_SECRET")  # the senders sign with bench's own
    secrets = {*WATCHED_SECRETS, web.SECRET}
    result = load.run(
        database_url, seconds=4, senders=4, readers=4, workers=2, env=env, secrets=secrets
    )
    assert result["secrets_seen"] == []  # in no answer, and not in gunicorn's output
    assert result["server_errors"] == 0, result["statuses"]
    assert result["commits_accepted"] > 0
    assert result["commits_stored"] == result["commits_accepted"]
    assert result["commits_distinct"] == result["commits_accepted"]
    assert set(result["endpoints"]) == {load.PUSH, *load.READS}
