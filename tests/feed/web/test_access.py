"""The access log: one JSON line per request, without query strings, quiet for probes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from feed import logs


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the app logs as JSON while the test runs."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logs.configure(logging.INFO, "json", stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def http_lines(stream: io.StringIO) -> list[dict]:
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in parsed if line["logger"] == "shiplog.http"]


def test_each_request_is_one_line_with_method_path_status_and_duration(client, lines) -> None:
    assert client.get("/api/events?limit=5&q=hunter2").status_code == 200
    assert client.get("/api/events?kind=nope").status_code == 400
    assert client.post("/webhooks/github", data=b'{"body": "not-for-logs"}').status_code == 401

    ok, bad, refused = http_lines(lines)
    assert ok["level"] == "INFO"
    assert ok["message"].startswith("http: GET /api/events 200 in ")
    assert {key: ok[key] for key in ("method", "path", "status")} == {
        "method": "GET",
        "path": "/api/events",
        "status": 200,
    }
    assert isinstance(ok["duration_ms"], float) and ok["duration_ms"] >= 0
    assert (bad["path"], bad["status"]) == ("/api/events", 400)
    assert (refused["method"], refused["status"]) == ("POST", 401)
    assert "hunter2" not in lines.getvalue() and "not-for-logs" not in lines.getvalue()


def test_probes_are_logged_only_when_they_fail(client, lines) -> None:
    client.get("/healthz")
    client.get("/metrics")
    client.get("/no/such/page")
    assert [(line["path"], line["status"]) for line in http_lines(lines)] == [
        ("/no/such/page", 404)
    ]


def test_a_path_cannot_forge_a_log_line(client, lines) -> None:
    client.get("/x%0Afake%20line")
    [line] = http_lines(lines)
    assert line["path"] == "/x\\x0afake line"
