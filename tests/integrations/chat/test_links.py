"""Chat messages link back to a shiplog people can open: SHIPLOG_BASE_URL, or else the
address `shiplog run` serves."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

from cli import local_url
from feed.config import Settings
from integrations.chat.options import chat_links
from tests.conftest import SECRET, assert_no_secrets, sign
from tests.fake_chat import FakeChat
from tests.integrations.chat.test_delivery import revert_push
from tests.test_app import _free_port, _get, start_run


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


def test_the_base_url_wins_over_the_address_served() -> None:
    class Event:
        id = 7

    served = "http://127.0.0.1:8123"
    settings = Settings.from_mapping({"DATABASE_URL": "sqlite://"})
    assert chat_links(settings, served)["event_url"](Event()) == f"{served}/events/7"
    assert chat_links(settings)["event_url"](Event()) == "http://127.0.0.1:8000/events/7"
    public = Settings.from_mapping(
        {"DATABASE_URL": "sqlite://", "BASE_URL": "https://shiplog.example"}
    )
    assert chat_links(public, served)["event_url"](Event()) == "https://shiplog.example/events/7"


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
