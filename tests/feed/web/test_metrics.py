"""GET /metrics in the Prometheus text format."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import deliver

SHA = "ab" * 20


def samples(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_events_jobs_and_webhook_answers(client) -> None:
    push = {
        "ref": "refs/heads/main",
        "after": SHA,
        "repository": {"full_name": "acme/api"},
        "commits": [
            {
                "id": SHA,
                "message": "Fix",
                "timestamp": "2026-11-20T10:00:00Z",
                "added": [],
                "removed": [],
                "modified": ["a.py"],
            }
        ],
    }
    assert deliver(client, "push", push).status_code == 200
    assert deliver(client, "push", push, secret="wrong").status_code == 401
    assert deliver(client, "push", b"{nope").status_code == 400
    found = samples(client)
    assert found[("shiplog_events", (("kind", "commit"),))] == 1
    assert found[("shiplog_jobs", (("kind", "patches"), ("state", "due")))] == 1
    assert found[("shiplog_job_oldest_due_seconds", (("kind", "patches"),))] >= 0
    for status in ("200", "401", "400"):
        assert found[("shiplog_webhook_responses_total", (("status", status),))] == 1
    assert found[("shiplog_chat_channels_failing", ())] == 0


def test_metrics_name_no_secret(client) -> None:
    text = client.get("/metrics").get_data(as_text=True)
    assert not re.search(r"test-webhook-secret", text)
