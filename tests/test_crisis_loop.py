"""The crisis loop, `bench/alerts.py` and `bench/fanout.py` scaled down to seconds, on each
database: incidents opened while a push's patch fetches crawl through a slow API reach every
healthy channel at once and once, though one channel hangs; that channel is put aside, and
once it answers again gets each of its alerts once; and with one send in ten failing, many
channels get everything once. Through `shiplog run` on SQLite, gunicorn and two `shiplog
worker`s on PostgreSQL, with the subprocess secret scan.

The servers wait two seconds for a chat answer instead of five (the hanging channel is
scaled down with the rest), and time is moved on for the hanging channel's retries and
circuit instead of waited out, as tests/integrations/chat/test_circuits.py does. Half a
second was too little: on a busy machine an answer the chat server gave at once sometimes
came later than that, and the message taken but not known to be went again (the
duplicates' messages below name the sends that timed out).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench import alerts, fanout
from tests.conftest import WATCHED_SECRETS, subprocess_secrets_env

CRISIS = alerts.Crisis(
    commits=200,
    api_latency=0.05,
    channels=3,  # two healthy, one hanging
    incidents=10,
    every=0.1,
    hang=5.0,
    patience=15.0,
    circuit_patience=20.0,
    read_timeout=2.0,
    hurry=True,
)
# The old first-in-first-out worker sent the first alert after every patch fetch queued
# before it (about 80 s at the bench's scale, 10 s at this one); a noisy machine takes well
# under a second.
BOUND = 5.0
FANOUT = fanout.Fanout(
    channels=30,
    events=5,  # 150 alerts
    hang=1.0,
    read_timeout=0.5,
    in_a_row=False,  # no channel fails three times running: no circuit's 15 s in a test
    patience=60.0,
)


def postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


def test_alerts_reach_every_healthy_channel_at_once_while_one_hangs(
    database_url: str, tmp_path: Path, isolated_env: None
) -> None:
    servers = "gunicorn" if postgres(database_url) else "run"
    result = alerts.run(
        database_url,
        tmp_path,
        CRISIS,
        servers=servers,
        extra=subprocess_secrets_env(None),
        secrets=WATCHED_SECRETS,
    )
    assert result["secrets_seen"] == []  # in no answer, and in no process's output
    assert result["webhook_statuses"] == {200: CRISIS.incidents}
    shown = [round(seconds, 3) for seconds in result["latencies"]]
    assert result["alerts_received"] == result["alerts_expected"] == 20, shown
    assert result["duplicates"] == 0, result["timed_out"]
    assert result["alerts_unexpected"] == []
    assert result["max"] < BOUND, shown
    assert result["hanging_received"] == 0

    assert result["circuit_open"]  # put aside by the end
    assert result["recovered"] == CRISIS.incidents  # then everything it missed,
    assert result["recovered_duplicates"] == 0, result["timed_out"]  # once each,
    assert result["hanging_dead"] == 0
    assert not result["circuit_open_after_recovery"]  # and it is back


def test_many_channels_with_one_send_in_ten_failing_get_everything_once(
    database_url: str, tmp_path: Path, isolated_env: None
) -> None:
    scaled = replace(FANOUT, workers=2 if postgres(database_url) else 1)
    result = fanout.run(
        database_url,
        tmp_path,
        scaled,
        extra=subprocess_secrets_env(None),
        secrets=WATCHED_SECRETS,
    )
    assert result["secrets_seen"] == []
    assert result["jobs"] == {"due": 0, "done": scaled.messages, "dead": 0}
    assert result["delivered"] == scaled.messages and result["unexpected"] == []
    assert result["duplicates"] == 0, [key for key, n in result["counts"].items() if n > 1]
    failed = {kind: n for kind, n in result["outcomes"].items() if kind != "ok"}
    assert set(failed) == {"500", "429", "timeout"}, result["outcomes"]
    assert result["outcomes"]["ok"] == scaled.messages
    assert result["sends"] == scaled.messages + sum(failed.values())
