"""Comment commands and the incident state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feed.incidents import IncidentRules, fold, is_overdue, parse_note
from feed.models import Event, Incident

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
RULES = IncidentRules()


def event(kind: str, minutes: int, body: str = "", **data) -> Event:
    when = T0 + timedelta(minutes=minutes)
    return Event(kind=kind, occurred_at=when, updated_at=when, body=body, data=data, title="t")


def test_commands_at_the_start_then_the_note() -> None:
    note = parse_note(
        "/status identified\n/severity SEV2\n/components api, db\n/next-update 1h30m\n"
        "/postmortem https://docs.example/pm/42\n\nRolled back the cache.\n/status monitoring",
        RULES,
    )
    assert [(c.name, c.value, c.applied) for c in note.commands] == [
        ("status", "identified", True),
        ("severity", "sev2", True),
        ("components", "api,db", True),
        ("next-update", "1h30m", True),
        ("postmortem", "https://docs.example/pm/42", True),
    ]
    assert note.text == "Rolled back the cache.\n/status monitoring"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("/status on fire", "use one of investigating"),
        ("/severity p0", "use one of sev1"),
        ("/components <script>", "list component names"),
        ("/next-update soon", "30m, 2h"),
        ("/next-update 30d", "30m, 2h"),
        ("/postmortem javascript:alert(1)", "http(s) link"),
    ],
)
def test_values_it_does_not_understand_are_not_applied(line: str, reason: str) -> None:
    [command] = parse_note(f"{line}\nnote", RULES).commands
    assert not command.applied
    assert reason in command.reason


def test_unknown_slash_words_are_part_of_the_note() -> None:
    note = parse_note("/usr/bin is full\n/status monitoring", RULES)
    assert note.commands == []
    assert note.text.startswith("/usr/bin is full")


def test_the_lifecycle_folds_to_the_latest_state() -> None:
    events = [
        event("incident_opened", 0, labels=["incident", "sev3", "component:api"]),
        event("incident_update", 10, "/status identified\n/severity sev1\nFound it"),
        event("incident_update", 20, "/components api, queue\n/next-update 30m"),
        event("incident_update", 25, "/postmortem https://pm.example/1\n/status wrong"),
    ]
    state = fold(events, [], {}, RULES)
    assert (state.status, state.severity, state.components) == (
        "identified",
        "sev1",
        ["api", "queue"],
    )
    assert state.postmortem_url == "https://pm.example/1"
    assert state.next_update_at is None  # the update at 25 came before the promise ran out
    resolved = fold([*events, event("incident_resolved", 60)], [], {}, RULES)
    assert (resolved.status, resolved.resolved_at) == ("resolved", T0 + timedelta(hours=1))
    reopened = fold(
        [*events, event("incident_resolved", 60), event("incident_update", 70, reopened=True)],
        [],
        {},
        RULES,
    )
    assert (reopened.status, reopened.resolved_at) == ("investigating", None)


def test_labels_added_after_a_command_win_and_before_it_lose() -> None:
    events = [
        event("incident_opened", 0, labels=["incident", "sev3"]),
        event("incident_update", 10, "/severity sev2\n/components api"),
    ]
    later = ["incident", "sev1", "component:db"]

    def added(minutes: int) -> dict:
        return {label: T0 + timedelta(minutes=minutes) for label in later}

    assert fold(events, later, added(20), RULES).severity == "sev1"
    assert fold(events, later, added(5), RULES).severity == "sev2"
    assert fold(events, later, added(20), RULES).components == ["db"]
    assert fold(events, later, added(5), RULES).components == ["api"]


def test_labels_there_before_a_command_lose_to_it_however_late_they_are_seen() -> None:
    events = [
        event("incident_opened", 0, labels=["incident", "sev3", "component:api"]),
        event("incident_update", 10, "/severity sev1\n/components db"),
    ]
    labels = ["incident", "sev3", "component:api"]
    opened = {label: T0 for label in labels}
    state = fold(events, labels, opened, RULES)
    assert (state.severity, state.components) == ("sev1", ["db"])
    # a severity label added later wins, the others stay as they were
    state = fold(events, [*labels, "sev2"], {**opened, "sev2": T0 + timedelta(minutes=30)}, RULES)
    assert (state.severity, state.components) == ("sev2", ["db"])


def test_configured_severities_and_prefix() -> None:
    rules = IncidentRules(severities=("p1", "p2"), component_prefix="area/")
    events = [event("incident_opened", 0, labels=["incident", "P2", "area/payments"])]
    state = fold(events, [], None, rules)
    assert (state.severity, state.components) == ("p2", ["payments"])


def test_a_promised_update_that_does_not_come_is_overdue() -> None:
    state = fold(
        [event("incident_opened", 0), event("incident_update", 5, "/next-update 30m")],
        [],
        {},
        RULES,
    )
    incident = Incident(status=state.status, next_update_at=state.next_update_at)
    assert not is_overdue(incident, T0 + timedelta(minutes=30))
    assert is_overdue(incident, T0 + timedelta(minutes=36))
    incident.status = "resolved"
    assert not is_overdue(incident, T0 + timedelta(hours=5))
