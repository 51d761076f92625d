"""Chat delivery end to end: webhook in, one message out per subscription, faults handled."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, update

from app import create_app
from feed import notify
from feed.commands import load_chat_config
from feed.models import Channel, Job, Subscription
from feed.state import shiplog_state
from feed.worker import run_due
from integrations.chat.options import delivery_handlers
from tests.chat_validators import google_chat_problems, google_chat_query_problems
from tests.conftest import deliver
from tests.fake_chat import Answer, FakeChat
from tests.feed.web.test_metrics import samples
from worker_setup import worker_parts

NOW = datetime.now(UTC).replace(microsecond=0)
SHA = "ab" * 20


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    with FakeChat().running() as fake:
        yield fake


def make_app(app_config, chat, channels, subscriptions):
    app = create_app(
        {
            **app_config,
            "BASE_URL": "https://shiplog.example",
            "CHANNELS": channels,
            "SUBSCRIPTIONS": subscriptions,
        }
    )
    with app.app_context():
        load_chat_config(shiplog_state(app))
    return app


def revert_push(sha: str = SHA) -> dict:
    return {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": sha,
        "forced": False,
        "created": False,
        "deleted": False,
        "head_commit": None,
        "commits": [
            {
                "id": sha,
                "message": f'Revert "Cache"\n\nThis reverts commit {"c" * 40}.',
                "timestamp": NOW.isoformat(),
                "author": {"name": "M", "username": "mara"},
                "added": [],
                "removed": [],
                "modified": ["a.py"],
            }
        ],
        "repository": {"full_name": "acme/api"},
        "pusher": {"name": "mara"},
    }


def work(app, *, ahead: timedelta = timedelta(0)) -> int:
    """Run what is due, the chat handlers' clock `ahead` of the wall clock."""
    shiplog = shiplog_state(app)
    drop_patch_fetches(shiplog)
    handlers, _ = worker_parts(shiplog)
    if ahead:
        handlers |= delivery_handlers(shiplog, clock=lambda: datetime.now(UTC) + ahead)
    return run_due(shiplog.db, handlers)


def drop_patch_fetches(shiplog) -> None:
    """No GitHub API in these tests: a push's patch fetches would try api.github.com."""
    with shiplog.db.write() as session:
        session.execute(delete(Job).where(Job.kind == "patches"))


def jobs(app, kind: str = "deliver") -> list[Job]:
    with shiplog_state(app).db.read() as session:
        return list(session.scalars(select(Job).where(Job.kind == kind)))


def make_due(app) -> None:
    """Move time on: every job due now, and the channels' pacing and circuits long past."""
    past = datetime.now(UTC) - timedelta(minutes=1)
    with shiplog_state(app).db.write() as session:
        session.execute(update(Job).values(due_at=past))
        session.execute(
            update(Channel).where(Channel.last_sent_at.is_not(None)).values(last_sent_at=past)
        )
        session.execute(
            update(Channel).where(Channel.circuit_until.is_not(None)).values(circuit_until=past)
        )


PLATFORMS = ["slack", "discord", "teams", "mattermost", "googlechat", "webhook"]
STATES = ["due", "done", "dead"]


@pytest.fixture
def every_platform(app_config, chat, isolated_env):
    channels = [
        {"name": p, "platform": p, "url": chat.url(f"/{p}"), "secret": "s3cret"} for p in PLATFORMS
    ]
    subscriptions = [{"name": f"{p}-alerts", "channel": p, "mode": "realtime"} for p in PLATFORMS]
    app = make_app(app_config, chat, channels, subscriptions)
    yield app
    shiplog_state(app).db.dispose()


def test_a_revert_alerts_every_platform_once(every_platform, chat) -> None:
    client = every_platform.test_client()
    assert deliver(client, "push", revert_push(), delivery="d1").status_code == 200
    deliver(client, "push", revert_push(), delivery="d1")  # a redelivery
    assert len(jobs(every_platform)) == len(PLATFORMS)
    assert work(every_platform) == len(PLATFORMS)
    for name in PLATFORMS:
        assert len(chat.to(f"/{name}")) == 1, name
    slack = chat.to("/slack")[0].json
    assert slack["blocks"][0]["text"]["text"].startswith("Revert: Revert")
    assert "<https://shiplog.example/events/1|" in slack["blocks"][2]["text"]["text"]
    assert chat.to("/discord")[0].query == {"wait": "true"}
    assert chat.to("/discord")[0].json["allowed_mentions"] == {"parse": []}
    hook = chat.to("/webhook")[0]
    expected = hmac.new(b"s3cret", hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["x-shiplog-signature-256"] == f"sha256={expected}"
    assert work(every_platform) == 0  # nothing is sent twice


def test_metrics_count_deliveries_by_platform_and_state(every_platform, chat) -> None:
    client = every_platform.test_client()
    chat.answer("/discord", Answer(404, "Unknown Webhook"))
    deliver(client, "push", revert_push())

    def deliveries() -> dict[tuple[str, str], float]:
        return {
            (dict(labels)["platform"], dict(labels)["state"]): value
            for (name, labels), value in samples(client).items()
            if name == "shiplog_chat_deliveries"
        }

    assert deliveries() == {(p, s): int(s == "due") for p in PLATFORMS for s in STATES}
    work(every_platform)
    assert deliveries() == {
        (p, s): int(s == ("dead" if p == "discord" else "done")) for p in PLATFORMS for s in STATES
    }
    assert samples(client)[("shiplog_chat_channels_failing", ())] == 1


def test_ordinary_commits_do_not_alert(every_platform, chat) -> None:
    push = revert_push()
    push["commits"][0]["message"] = "Fix typo"
    deliver(every_platform.test_client(), "push", push)
    assert jobs(every_platform) == []


def test_incident_messages_share_a_google_chat_thread(every_platform, chat) -> None:
    issue = {
        "number": 5,
        "title": "Down",
        "state": "open",
        "labels": [{"name": "incident"}],
        "created_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
        "user": {"login": "s"},
    }
    client = every_platform.test_client()
    deliver(
        client,
        "issues",
        {"action": "opened", "issue": issue, "repository": {"full_name": "acme/api"}},
    )
    deliver(
        client,
        "issue_comment",
        {
            "action": "created",
            "issue": issue,
            "repository": {"full_name": "acme/api"},
            "comment": {
                "id": 1,
                "body": "Looking",
                "created_at": NOW.isoformat(),
                "updated_at": NOW.isoformat(),
                "user": {"login": "s"},
            },
        },
    )
    work(every_platform)
    make_due(every_platform)  # past the per-channel pacing
    work(every_platform)
    sent = chat.to("/googlechat")
    assert len(sent) == 2
    assert {r.json["thread"]["threadKey"] for r in sent} == {"incident:acme/api#5"}
    for request in sent:  # in the body, as the API asks now; not the deprecated ?threadKey=
        assert request.query == {"messageReplyOption": "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"}
        assert google_chat_query_problems(request.query) == []
        assert google_chat_problems(request.json) == []


@pytest.fixture
def slack_app(app_config, chat, isolated_env):
    app = make_app(
        app_config,
        chat,
        [{"name": "eng", "platform": "slack", "url": chat.url("/hook")}],
        [{"name": "alerts", "channel": "eng", "mode": "realtime"}],
    )
    yield app
    shiplog_state(app).db.dispose()


def test_429_waits_as_retry_after_says_without_counting_a_failure(slack_app, chat) -> None:
    chat.answer("/hook", Answer(429, "rate_limited", {"Retry-After": "7"}))
    deliver(slack_app.test_client(), "push", revert_push())
    work(slack_app)
    [job] = jobs(slack_app)
    assert job.state == "due" and job.attempts == 0
    assert 5 <= (job.due_at - datetime.now(UTC)).total_seconds() <= 7
    make_due(slack_app)
    work(slack_app)
    assert len(chat.to("/hook")) == 1 and jobs(slack_app)[0].state == "done"


def test_5xx_backs_off_then_delivers_once(slack_app, chat) -> None:
    chat.answer("/hook", Answer(500, "oops"), Answer(503, "busy"))
    deliver(slack_app.test_client(), "push", revert_push())
    for _ in range(3):
        work(slack_app)
        make_due(slack_app)
    [job] = jobs(slack_app)
    assert job.state == "done" and len(chat.to("/hook")) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [(410, "channel_is_archived"), (404, "no_service"), (400, "invalid_payload")],
)
def test_a_permanent_refusal_stops_and_marks_the_channel(slack_app, chat, status, body) -> None:
    chat.answer("/hook", Answer(status, body))
    deliver(slack_app.test_client(), "push", revert_push())
    work(slack_app)
    [job] = jobs(slack_app)
    assert job.state == "dead" and body in job.last_error
    with shiplog_state(slack_app).db.read() as session:
        channel = session.scalars(select(Channel)).one()
    assert channel.failing_reason == f"slack: {status} {body}"
    assert chat.url("/hook") not in job.last_error and "127.0.0.1" not in channel.failing_reason
    make_due(slack_app)
    assert work(slack_app) == 0


def test_a_timeout_is_retried(slack_app, chat, monkeypatch) -> None:
    from integrations.chat import http

    monkeypatch.setattr(http, "TIMEOUT", 0.3)
    chat.answer("/hook", Answer(200, "ok", delay=1.0))
    deliver(slack_app.test_client(), "push", revert_push())
    work(slack_app)
    [job] = jobs(slack_app)
    assert job.state == "due" and "timed out" in job.last_error


def test_messages_to_one_channel_are_paced(slack_app, chat) -> None:
    client = slack_app.test_client()
    deliver(client, "push", revert_push("aa" * 20))
    deliver(client, "push", revert_push("bb" * 20))
    work(slack_app)
    assert len(chat.to("/hook")) == 1
    waiting = [j for j in jobs(slack_app) if j.state == "due"]
    assert len(waiting) == 1 and "pacing" in waiting[0].last_error


def test_a_digest_covers_its_window_and_skips_empty_ones(app_config, chat, isolated_env):
    channels = [{"name": "eng", "platform": "slack", "url": chat.url("/digest")}]
    subscriptions = [
        {
            "name": "morning",
            "channel": "eng",
            "mode": "digest",
            "schedule": "0 9 * * 1-5",
            "timezone": "Europe/Berlin",
            "options": {"max_items": 1},
            "filter": {"repo": ["acme/*"], "kind": ["commit", "revert"]},
        }
    ]
    app = make_app(app_config, chat, channels, subscriptions)
    shiplog = shiplog_state(app)
    _, schedule = worker_parts(shiplog)
    with shiplog.db.write() as session:
        schedule(session)
    [digest_job] = jobs(app, "digest")
    assert digest_job.due_at.astimezone(ZoneInfo("Europe/Berlin")).hour == 9
    make_due(app)
    assert work(app) == 1  # the digest ran; its window was empty, so nothing is sent
    assert jobs(app) == [] and chat.received == []

    with shiplog.db.write() as session:
        session.execute(update(Subscription).values(window_end=NOW - timedelta(hours=1)))
    deliver(app.test_client(), "push", revert_push())
    push = revert_push("cd" * 20)
    push["commits"][0]["message"] = "Add a feature"
    deliver(app.test_client(), "push", push)
    assert jobs(app) == []  # no realtime subscription here: only the digest
    make_due(app)
    # A window ends on a whole second: a clock a second on puts what arrived in this one in it.
    work(app, ahead=timedelta(seconds=1))
    work(app, ahead=timedelta(seconds=1))
    [message] = chat.to("/digest")
    text = str(message.json)
    assert "1 revert, 1 commit" in text
    since = (NOW - timedelta(hours=1)).isoformat().replace("+00:00", "Z").replace(":", "%3A")
    assert "…and 1 more" in text and f"since={since}" in text and "until=" in text
    shiplog.db.dispose()


def test_preview_prints_the_payload_and_send_sends_it_once(app_config, chat, isolated_env):
    import json

    channels = [{"name": "eng", "platform": "discord", "url": chat.url("/d")}]
    subscriptions = [
        {
            "name": "daily",
            "channel": "eng",
            "mode": "digest",
            "schedule": "0 9 * * *",
            "timezone": "UTC",
        }
    ]
    app = make_app(app_config, chat, channels, subscriptions)
    deliver(app.test_client(), "push", revert_push())
    runner = app.test_cli_runner()
    window = [
        "--since",
        (NOW - timedelta(hours=2)).isoformat(),
        "--until",
        (NOW + timedelta(hours=1)).isoformat(),
    ]
    preview = runner.invoke(args=["digest", "preview", "--subscription", "daily", *window])
    assert preview.exit_code == 0, preview.output
    payload = json.loads(preview.output)
    assert payload["allowed_mentions"] == {"parse": []}
    assert "1 revert" in payload["content"]
    assert chat.received == []
    sent = runner.invoke(args=["digest", "send", "--subscription", "daily", *window])
    assert sent.exit_code == 0, sent.output
    assert "sent to eng" in sent.output
    runner.invoke(args=["digest", "send", "--subscription", "daily", *window])
    assert len(chat.to("/d")) == 1
    assert chat.to("/d")[0].json["content"] == payload["content"]
    bad = runner.invoke(args=["digest", "preview", "--subscription", "nope"])
    assert bad.exit_code == 2 and "no subscription 'nope'" in bad.output
    shiplog_state(app).db.dispose()


@pytest.mark.parametrize(
    ("channels", "subscriptions", "message"),
    [
        (
            [{"name": "x", "platform": "irc", "url": "https://irc.example"}],
            [],
            "unknown platform 'irc'",
        ),
        ([{"name": "x", "platform": "slack", "url": "ftp://x"}], [], "must be an https URL"),
        (
            [{"name": "x", "platform": "slack", "url": "https://hooks.slack.com/x"}],
            [{"name": "s", "channel": "y"}],
            "no channel named 'y'",
        ),
        (
            [{"name": "x", "platform": "slack", "url": "https://hooks.slack.com/x"}],
            [{"name": "s", "channel": "x", "mode": "digest", "schedule": "every day"}],
            "schedule must be a cron expression",
        ),
        (
            [{"name": "x", "platform": "slack", "url": "https://hooks.slack.com/x"}],
            [
                {
                    "name": "s",
                    "channel": "x",
                    "mode": "digest",
                    "schedule": "0 9 * * *",
                    "timezone": "Mars/Olympus",
                }
            ],
            "unknown time zone",
        ),
        (
            [{"name": "x", "platform": "slack", "url": "https://hooks.slack.com/x"}],
            [{"name": "s", "channel": "x", "filter": {"kind": ["tweet"]}}],
            "filter: kind",
        ),
    ],
)
def test_bad_chat_config_is_refused_by_name(
    app_config, isolated_env, channels, subscriptions, message
) -> None:
    import click

    app = create_app({**app_config, "CHANNELS": channels, "SUBSCRIPTIONS": subscriptions})
    with app.app_context(), pytest.raises(click.ClickException, match=message) as caught:
        load_chat_config(shiplog_state(app))
    assert "hooks.slack.com" not in str(caught.value.message)
    shiplog_state(app).db.dispose()


def test_an_overdue_update_reminds_realtime_subscribers_once(slack_app, chat) -> None:
    past = NOW - timedelta(hours=2)
    issue = {
        "number": 9,
        "title": "Queue stuck",
        "state": "open",
        "labels": [{"name": "incident"}],
        "created_at": past.isoformat(),
        "updated_at": past.isoformat(),
        "user": {"login": "s"},
    }
    client = slack_app.test_client()
    deliver(
        client,
        "issues",
        {"action": "opened", "issue": issue, "repository": {"full_name": "acme/api"}},
    )
    deliver(
        client,
        "issue_comment",
        {
            "action": "created",
            "issue": issue,
            "repository": {"full_name": "acme/api"},
            "comment": {
                "id": 3,
                "body": "/next-update 30m\nLooking",
                "user": {"login": "s"},
                "created_at": past.isoformat(),
                "updated_at": past.isoformat(),
            },
        },
    )
    work(slack_app)  # the two alerts (paced)
    make_due(slack_app)
    work(slack_app)
    shiplog = shiplog_state(slack_app)
    _, schedule = worker_parts(shiplog)
    for _ in range(2):  # the schedule runs often; the reminder is made once
        with shiplog.db.write() as session:
            schedule(session)
    make_due(slack_app)
    work(slack_app)
    texts = [str(r.json) for r in chat.to("/hook")]
    assert len(texts) == 3
    assert "Update overdue: Queue stuck" in texts[-1]
    assert "https://shiplog.example/incidents/1" in texts[-1]


def test_every_incident_alert_carries_the_incidents_severity(app_config, chat, isolated_env):
    app = make_app(
        app_config,
        chat,
        [{"name": "hook", "platform": "webhook", "url": chat.url("/generic")}],
        [{"name": "alerts", "channel": "hook", "mode": "realtime"}],
    )
    past = NOW - timedelta(hours=2)
    issue = {
        "number": 4,
        "title": "Checkout errors",
        "state": "open",
        "labels": [{"name": "incident"}, {"name": "sev2"}],
        "created_at": past.isoformat(),
        "updated_at": past.isoformat(),
        "user": {"login": "s"},
    }
    repository = {"full_name": "acme/api"}
    client = app.test_client()
    deliver(client, "issues", {"action": "opened", "issue": issue, "repository": repository})
    note = {"id": 5, "body": "/next-update 30m\nRolling back", "user": {"login": "s"}}
    note |= {"created_at": past.isoformat(), "updated_at": past.isoformat()}
    payload = {"action": "created", "issue": issue, "repository": repository, "comment": note}
    deliver(client, "issue_comment", payload)
    work(app)
    make_due(app)
    work(app)
    _, schedule = worker_parts(shiplog_state(app))
    with shiplog_state(app).db.write() as session:
        schedule(session)  # the update is overdue: a reminder
    make_due(app)
    work(app)
    sent = [r.json for r in chat.to("/generic")]
    assert [m["title"].split(":")[0] for m in sent] == [
        "Incident opened",
        "Incident update",
        "Update overdue",
    ]
    assert [m["severity"] for m in sent] == ["sev2"] * 3
    shiplog_state(app).db.dispose()


def test_discords_retry_after_in_the_body_is_honoured(app_config, chat, isolated_env) -> None:
    app = make_app(
        app_config,
        chat,
        [{"name": "d", "platform": "discord", "url": chat.url("/d")}],
        [{"name": "alerts", "channel": "d", "mode": "realtime"}],
    )
    chat.answer("/d", Answer(429, '{"message": "You are being rate limited.", "retry_after": 3.5}'))
    deliver(app.test_client(), "push", revert_push())
    work(app)
    [job] = jobs(app)
    assert 2 <= (job.due_at - datetime.now(UTC)).total_seconds() <= 3.5
    assert "You are being rate limited" in job.last_error
    shiplog_state(app).db.dispose()


def test_failures_past_the_configured_attempts_are_dead(app_config, chat, isolated_env) -> None:
    app = make_app(
        {**app_config, "JOB_MAX_ATTEMPTS": "2"},
        chat,
        [{"name": "eng", "platform": "slack", "url": chat.url("/hook")}],
        [{"name": "alerts", "channel": "eng", "mode": "realtime"}],
    )
    chat.answer("/hook", *[Answer(502, "bad gateway")] * 5)
    deliver(app.test_client(), "push", revert_push())
    shiplog = shiplog_state(app)
    drop_patch_fetches(shiplog)
    handlers, _ = worker_parts(shiplog)
    for _ in range(3):
        run_due(shiplog.db, handlers, max_attempts=shiplog.settings.job_max_attempts)
        make_due(app)
    [job] = jobs(app)
    assert (job.state, job.attempts) == ("dead", 2)
    shiplog.db.dispose()


def test_a_worker_that_dies_holding_messages_loses_none(slack_app, chat) -> None:
    from feed import jobs as job_table

    client = slack_app.test_client()
    for n in range(3):
        deliver(client, "push", revert_push(f"{n:02d}" * 20))
    shiplog = shiplog_state(slack_app)
    with shiplog.db.write() as session:
        session.execute(delete(Job).where(Job.kind == "patches"))
        # One channel's messages go one at a time: the worker took the first, then died.
        assert len(job_table.claim(session, limit=10)) == 1
    assert work(slack_app) == 0  # held by the dead worker's lease, and the rest wait behind it
    with shiplog.db.write() as session:  # the lease runs out
        session.execute(update(Job).values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))
    for _ in range(3):
        work(slack_app)
        make_due(slack_app)
    assert len(chat.to("/hook")) == 3
    assert {job.state for job in jobs(slack_app)} == {"done"}


def test_the_longest_names_still_make_jobs(slack_app, chat) -> None:
    branch = "release/" + "b" * 247  # 255 characters, the most a branch may have here
    push = revert_push()
    push.update(
        ref=f"refs/heads/{branch}",
        forced=True,
        before="f" * 40,
        repository={"full_name": "a" * 39 + "/" + "r" * 100},  # the longest GitHub allows
    )
    response = deliver(slack_app.test_client(), "push", push)
    assert response.status_code == 200, response.json
    keys = [job.key for job in jobs(slack_app, "deliver") + jobs(slack_app, "reconcile")]
    assert max(len(key) for key in keys) > 400


def test_a_commit_pushed_after_its_window_closed_is_in_the_next_digest(
    app_config, chat, isolated_env
):
    """Digests take what arrived since the last one: a commit made before the last digest
    but pushed after it (a laptop offline overnight) is not lost between windows."""
    channels = [{"name": "eng", "platform": "slack", "url": chat.url("/digest")}]
    subscriptions = [
        {
            "name": "daily",
            "channel": "eng",
            "mode": "digest",
            "schedule": "@daily",
            "options": {"max_items": 1},
        }
    ]
    app = make_app(app_config, chat, channels, subscriptions)
    shiplog = shiplog_state(app)
    with shiplog.db.write() as session:
        session.execute(update(Subscription).values(window_end=NOW - timedelta(hours=2)))
        notify.schedule_digests(session, NOW)
    deliver(app.test_client(), "push", revert_push())
    time.sleep(1.1)  # windows end on whole seconds
    make_due(app)
    work(app)
    work(app)
    assert len(chat.to("/digest")) == 1
    late = revert_push("cd" * 20)
    late["commits"][0]["message"] = "Late commit"
    late["commits"][0]["timestamp"] = (NOW - timedelta(minutes=90)).isoformat()
    also = {**late["commits"][0], "id": "ce" * 20, "message": "Late too"}
    late["commits"].append(also | {"timestamp": (NOW - timedelta(minutes=80)).isoformat()})
    deliver(app.test_client(), "push", late)
    time.sleep(1.1)
    make_due(app)
    work(app)
    work(app)
    first, second = chat.to("/digest")
    assert "Late" not in str(first.json)
    assert "2 commits" in str(second.json) and "Late too" in str(second.json)
    assert "Revert" not in str(second.json)  # each event in one digest only
    since = (NOW - timedelta(minutes=90)).isoformat().replace("+00:00", "Z").replace(":", "%3A")
    assert "…and 1 more" in str(second.json) and f"since={since}" in str(second.json)
    shiplog.db.dispose()


def test_the_schedule_wakes_for_the_next_promised_update(slack_app, chat) -> None:
    """The worker runs its schedule again the moment a promise falls due, so the reminder
    is made then, not up to a round of the schedule later."""
    issue = {
        "number": 4,
        "title": "Queue stuck",
        "state": "open",
        "labels": [{"name": "incident"}],
        "created_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
        "user": {"login": "s"},
    }
    client = slack_app.test_client()
    repo = {"full_name": "acme/api"}
    deliver(client, "issues", {"action": "opened", "issue": issue, "repository": repo})
    shiplog = shiplog_state(slack_app)
    _, schedule = worker_parts(shiplog)
    with shiplog.db.write() as session:
        assert schedule(session) is None  # nothing promised
    comment = {
        "id": 7,
        "body": "/next-update 30m\nLooking",
        "user": {"login": "s"},
        "created_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
    }
    deliver(
        client,
        "issue_comment",
        {"action": "created", "issue": issue, "repository": repo, "comment": comment},
    )
    with shiplog.db.write() as session:
        assert schedule(session) == NOW + timedelta(minutes=30)
