"""Chat messages link back to a shiplog people can open: SHIPLOG_BASE_URL, or else the
address `shiplog run` serves."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask, url_for
from sqlalchemy import select

from app import create_app
from cli import local_url
from feed.filters import Filter
from feed.models import Event, Incident
from feed.state import shiplog_state
from feed.web.listing import listing_url
from integrations.chat.options import chat_links
from integrations.github import demo
from tests.conftest import SECRET, assert_no_secrets, sign
from tests.fake_chat import FakeChat
from tests.integrations.chat.test_delivery import revert_push
from tests.test_app import _free_port, _get, start_run

BASE = "https://shiplog.example"


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 8123, "http://127.0.0.1:8123"),
        ("0.0.0.0", 9000, "http://127.0.0.1:9000"),  # everywhere: the loopback answers too
        ("::", 9000, "http://[::1]:9000"),
        ("::1", 8000, "http://[::1]:8000"),
        ("shiplog.internal", 80, "http://shiplog.internal:80"),
    ],
)
def test_the_address_shiplog_run_serves(host: str, port: int, url: str) -> None:
    assert local_url(host, port) == url


def test_the_base_url_wins_over_the_address_served(tmp_path: Path, isolated_env: None) -> None:
    class Event:
        id = 7

    served = "http://127.0.0.1:8123"
    local = shiplog_state(create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'local.db'}"}))
    assert chat_links(local, served)["event_url"](Event()) == f"{served}/events/7"
    assert chat_links(local)["event_url"](Event()) == "http://127.0.0.1:8000/events/7"
    public = shiplog_state(
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'public.db'}", "BASE_URL": BASE})
    )
    assert chat_links(public, served)["event_url"](Event()) == f"{BASE}/events/7"


def test_chat_links_are_built_from_the_routes_the_pages_answer(app: Flask, client) -> None:
    """A renamed endpoint fails here (the link cannot be built) and a moved route is followed:
    each link is the page's own URL, and the page answers it."""
    shiplog = shiplog_state(app)
    demo.load(shiplog.db, shiplog.settings.incident_label)
    with shiplog.db.read() as session:
        event = session.scalars(select(Event).order_by(Event.id)).first()
        incident = session.scalars(select(Incident)).first()
    rule = Filter.from_dict({"repo": ["acme/*"], "kind": ["commit", "revert"]})
    links = chat_links(shiplog, BASE)
    with app.test_request_context():
        expected = [
            url_for("pages.event", event_id=event.id),
            listing_url("pages.activity", rule),
            url_for("incidents.incident", incident_id=incident.id),
        ]
    built = [links["event_url"](event), links["listing_url"](rule), links["incident_url"](incident)]
    assert built == [BASE + path for path in expected]
    for path in expected:
        assert client.get(path).status_code == 200, path


def test_shiplog_run_on_another_port_links_chat_messages_to_it(tmp_path: Path) -> None:
    with FakeChat().running() as chat:
        config = tmp_path / "chat.toml"
        config.write_text(
            '[security]\nallow_webhook_hosts = ["127.0.0.1"]\n\n'
            f'[[channels]]\nname = "eng"\nplatform = "slack"\nurl = "{chat.url("/hook")}"\n\n'
            '[[subscriptions]]\nname = "alerts"\nchannel = "eng"\nmode = "realtime"\n'
        )
        port = _free_port()
        process = start_run(
            tmp_path,
            port,
            CONFIG=str(config),
            GITHUB_WEBHOOK_SECRET=SECRET,
            WORKER_THREADS="alerts=1,digests=1,github=0",  # no GitHub API here
        )
        try:
            _get(f"http://127.0.0.1:{port}/healthz", deadline=time.monotonic() + 30)
            body = json.dumps(revert_push()).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/webhooks/github",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": "links-1",
                    "X-Hub-Signature-256": sign(body),
                },
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
            deadline = time.monotonic() + 30
            while not chat.to("/hook") and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            process.terminate()
            output, errors = process.communicate(timeout=10)
    assert_no_secrets("shiplog run output", output, errors)
    [message] = chat.to("/hook")
    links = re.findall(r"<(https?://[^|>]+)\|", message.body.decode())
    assert links and all(link.startswith(f"http://127.0.0.1:{port}/") for link in links), links
    assert f"chat messages link to http://127.0.0.1:{port}; set SHIPLOG_BASE_URL" in output
