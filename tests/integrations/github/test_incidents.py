"""Incident lifecycles through webhooks and through the API sync, to the same incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from feed.models import Event, Incident
from feed.state import shiplog_state
from tests.conftest import deliver
from tests.github_emulator import make_comment, make_issue

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


def stamp(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def issue(labels=("incident", "sev2", "component:api"), minutes=0, **overrides):
    value = {
        "number": 12,
        "title": "Checkout errors",
        "body": "Customers see 500s",
        "state": "open",
        "html_url": "https://github.com/acme/api/issues/12",
        "user": {"login": "sam"},
        "labels": [{"name": n} for n in labels],
        "created_at": stamp(0),
        "updated_at": stamp(minutes),
        "closed_at": None,
        "comments": 0,
    }
    value.update(overrides)
    return value


def issues_event(action: str, current: dict, **extra) -> dict:
    return {
        "action": action,
        "issue": current,
        "repository": {"full_name": "acme/api"},
        "sender": {"login": "sam"},
        **extra,
    }


def comment_event(
    action: str, ident: int, body: str, minutes: int, current: dict, edited: int | None = None
) -> dict:
    comment = {
        "id": ident,
        "body": body,
        "user": {"login": "mara"},
        "html_url": f"https://github.com/acme/api/issues/12#issuecomment-{ident}",
        "created_at": stamp(minutes),
        "updated_at": stamp(edited or minutes),
    }
    return {
        "action": action,
        "issue": current,
        "comment": comment,
        "repository": {"full_name": "acme/api"},
    }


def the_incident(app) -> Incident:
    with shiplog_state(app).db.read() as session:
        return session.scalars(select(Incident)).one()


def test_a_lifecycle_through_webhooks(client, app) -> None:
    deliver(client, "issues", issues_event("opened", issue()))
    assert (the_incident(app).status, the_incident(app).severity) == ("investigating", "sev2")
    assert the_incident(app).components == ["api"]

    deliver(
        client,
        "issue_comment",
        comment_event(
            "created", 1, "/status identified\n/next-update 30m\nBad cache key", 10, issue()
        ),
    )
    incident = the_incident(app)
    assert incident.status == "identified"
    assert incident.next_update_at == T0 + timedelta(minutes=40)

    relabelled = issue(labels=("incident", "sev1", "component:api", "component:db"), minutes=15)
    deliver(client, "issues", issues_event("labeled", relabelled, label={"name": "sev1"}))
    assert (the_incident(app).severity, the_incident(app).components) == ("sev1", ["api", "db"])

    deliver(
        client,
        "issue_comment",
        comment_event("edited", 1, "/status monitoring\nFixed the key", 10, relabelled, edited=20),
    )
    with shiplog_state(app).db.read() as session:
        assert len(session.scalars(select(Event).where(Event.kind == "incident_update")).all()) == 1
    assert the_incident(app).status == "monitoring"

    deliver(client, "issue_comment", comment_event("created", 2, "/severity sev9", 25, relabelled))
    deliver(client, "issue_comment", comment_event("deleted", 2, "", 25, relabelled))
    closed = issue(
        labels=relabelled and ("incident", "sev1", "component:api", "component:db"),
        minutes=60,
        state="closed",
        closed_at=stamp(60),
    )
    deliver(client, "issues", issues_event("closed", closed))
    incident = the_incident(app)
    assert (incident.status, incident.resolved_at) == ("resolved", T0 + timedelta(hours=1))
    assert incident.updated_at == T0 + timedelta(hours=1)

    deliver(client, "issues", issues_event("reopened", issue(minutes=70, state="open")))
    assert (the_incident(app).status, the_incident(app).resolved_at) == ("investigating", None)


def test_only_a_label_added_after_a_command_wins_over_it(client, app) -> None:
    labels = ("incident", "sev3", "component:api")
    deliver(client, "issues", issues_event("opened", issue(labels)))
    # GitHub moves the issue's updated_at with each comment: the comment's own delivery
    # shows the labels the command is about to override.
    note = "/severity sev1\n/components db\nWorse than we thought"
    deliver(client, "issue_comment", comment_event("created", 1, note, 10, issue(labels, 10)))
    assert (the_incident(app).severity, the_incident(app).components) == ("sev1", ["db"])

    deliver(client, "issues", issues_event("edited", issue(labels, 20, title="Checkout down")))
    closed = issue(labels, 60, state="closed", closed_at=stamp(60))
    deliver(client, "issues", issues_event("closed", closed))
    incident = the_incident(app)
    assert (incident.status, incident.severity, incident.components) == ("resolved", "sev1", ["db"])

    reopened = issue(labels, 70)
    deliver(client, "issues", issues_event("reopened", reopened))
    relabelled = issue((*labels, "sev2"), 80)
    deliver(client, "issues", issues_event("labeled", relabelled, label={"name": "sev2"}))
    assert (the_incident(app).severity, the_incident(app).components) == ("sev2", ["db"])
    added = issue((*labels, "sev2", "component:web"), 90)
    deliver(client, "issues", issues_event("labeled", added, label={"name": "component:web"}))
    assert the_incident(app).components == ["api", "web"]


def test_the_api_sync_folds_to_the_same_incident(
    gh_app, emulator, client_for, app_config, isolated_env
) -> None:
    from app import create_app
    from integrations.github.options import sync_options
    from integrations.github.sync import sync_repo

    now = datetime.now(UTC).replace(microsecond=0)
    opened = make_issue(
        12,
        "Checkout errors",
        labels=("incident", "sev2", "component:api"),
        created=now - timedelta(hours=2),
        state="closed",
        closed=now - timedelta(minutes=30),
    )
    comment = make_comment(1, opened, "/status identified\nBad cache key", now - timedelta(hours=1))
    repo = emulator.repo("acme/api")
    repo.issues.append(opened)
    repo.comments.append(comment)
    sync_repo(
        shiplog_state(gh_app).db,
        client_for(),
        "acme/api",
        sync_options(shiplog_state(gh_app).settings),
    )
    from_api = the_incident(gh_app)

    web = create_app(app_config)  # a second database, fed by webhooks
    client = web.test_client()
    payload = {"repository": {"full_name": "acme/api"}}
    deliver(client, "issues", {**payload, "action": "opened", "issue": opened})
    deliver(
        client,
        "issue_comment",
        {**payload, "action": "created", "issue": opened, "comment": comment},
    )
    deliver(client, "issues", {**payload, "action": "closed", "issue": opened})
    from_webhooks = the_incident(web)
    fields = ("uid", "status", "severity", "components", "opened_at", "resolved_at", "title")
    assert [getattr(from_api, f) for f in fields] == [getattr(from_webhooks, f) for f in fields]
    assert from_api.status == "resolved"
    shiplog_state(web).db.dispose()


def test_a_late_label_opens_then_and_earlier_comments_become_updates(gh_app, emulator) -> None:
    from feed.worker import run_due
    from worker_setup import worker_parts

    plain = issue(labels=("bug",), minutes=0, comments=2)
    repo = emulator.repo("acme/api")
    repo.comments += [
        make_comment(
            1,
            {**plain, "url": "https://api.github.com/repos/acme/api/issues/12"},
            "Seeing errors",
            T0 + timedelta(minutes=5),
        ),
        make_comment(
            2,
            {**plain, "url": "https://api.github.com/repos/acme/api/issues/12"},
            "/severity sev3\nStill failing",
            T0 + timedelta(minutes=8),
        ),
    ]
    client = gh_app.test_client()
    assert (
        deliver(
            client, "issue_comment", comment_event("created", 1, "Seeing errors", 5, plain)
        ).status_code
        == 202
    )
    labelled = issue(labels=("bug", "incident"), minutes=24 * 60, comments=2)
    deliver(client, "issues", issues_event("labeled", labelled, label={"name": "incident"}))
    incident = the_incident(gh_app)
    assert incident.opened_at == T0 + timedelta(days=1)

    shiplog = shiplog_state(gh_app)
    handlers, _ = worker_parts(shiplog)
    assert run_due(shiplog.db, handlers) == 1
    with shiplog.db.read() as session:
        updates = session.scalars(
            select(Event).where(Event.kind == "incident_update").order_by(Event.occurred_at)
        ).all()
    assert [u.body for u in updates] == ["Seeing errors", "/severity sev3\nStill failing"]
    assert the_incident(gh_app).severity == "sev3"


def test_losing_the_label_ends_the_incident_but_keeps_its_history(client, app) -> None:
    deliver(client, "issues", issues_event("opened", issue()))
    deliver(client, "issue_comment", comment_event("created", 1, "Looking", 5, issue()))
    unlabelled = issue(labels=("sev2",), minutes=30)
    response = deliver(
        client, "issues", issues_event("unlabeled", unlabelled, label={"name": "incident"})
    )
    assert response.status_code == 200
    incident = the_incident(app)
    assert (incident.active, incident.inactive_reason) == (False, "the incident label was removed")
    with shiplog_state(app).db.read() as session:
        assert len(session.scalars(select(Event)).all()) == 2
    later = comment_event("created", 2, "after", 40, unlabelled)
    assert deliver(client, "issue_comment", later).status_code == 202
    assert "Checkout errors" not in client.get("/status").get_data(as_text=True)


def test_transferred_and_deleted_issues_stop_being_incidents(client, app) -> None:
    deliver(client, "issues", issues_event("opened", issue()))
    deliver(client, "issues", issues_event("transferred", issue(minutes=5)))
    assert the_incident(app).inactive_reason == "the issue was moved to another repository"
    deliver(client, "issues", issues_event("deleted", issue(minutes=6)))
    assert the_incident(app).inactive_reason == "the issue was deleted on GitHub"
