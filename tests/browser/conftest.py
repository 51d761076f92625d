"""One `shiplog run` (and one private one) and one Chromium for all the browser tests.

Session fixtures: each pytest process starts them once, whichever test modules it runs.
Chromium is Debian's (`CHROMIUM`); the tests skip where it or Playwright is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SECRET, assert_no_secrets, sign, subprocess_secrets_env

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHIPLOG = str(Path(sys.executable).with_name("shiplog"))
PREVIEWED = """
[[subscriptions]]
name = "leap-day-digest"
channel = "scanned"
mode = "digest"
schedule = "0 9 29 2 *"
"""


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`shiplog run` on a free port, with the demo timeline, a webhook secret and an admin
    token (`ADMIN_TOKEN`)."""
    yield from serve(tmp_path_factory.mktemp("browser"), {})


@pytest.fixture(scope="session")
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The same, private, with one person; (its URL, their access token)."""
    folder = tmp_path_factory.mktemp("private")
    added = subprocess.run(
        [SHIPLOG, "people", "add", "mara"],
        env=environment(folder, {}),
        check=True,
        capture_output=True,
        text=True,
    )
    token = added.stdout.split("access token ")[1].strip()
    for url in serve(folder, {"SHIPLOG_PRIVATE": "true", "SHIPLOG_SECRET_KEY": "k" * 32}):
        yield url, token


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server):
    """A fresh context and page at 1280 px that fails the test on any console error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors = watch_errors(opened)
    yield opened
    context.close()
    assert errors == [], errors


def watch_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The page's console errors and uncaught exceptions, as they happen."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def sign_in(page, url: str, token: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in through the form, as a person would."""
    page.goto(f"{url}/signin")
    page.fill("input[name=token]", token)
    page.click("form.panel button[type=submit]")
    page.wait_for_url(f"{url}/")


def deliver(server: str, event: str, payload: dict, delivery: str) -> None:
    """A signed GitHub delivery to the server."""
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{server}/webhooks/github",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(body),
        },
    )
    urllib.request.urlopen(request).close()


def environment(folder: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLOG_")}
    env.update(
        SHIPLOG_DATABASE_URL=f"sqlite:///{folder / 'shiplog.db'}", SHIPLOG_LIVE_POLL_MS="300"
    )
    return env | extra


def serve(folder: Path, extra: dict[str, str]) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = environment(folder, extra | subprocess_secrets_env(folder, github=False))
    with Path(env["SHIPLOG_CONFIG"]).open("a") as config:  # a digest to preview, never due
        config.write(PREVIEWED)
    subprocess.run([SHIPLOG, "demo"], env=env, check=True, capture_output=True)
    env["SHIPLOG_GITHUB_WEBHOOK_SECRET"] = SECRET
    log = folder / "shiplog-run.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SHIPLOG, "run", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)
    assert_no_secrets("shiplog run (browser tests)", log.read_bytes())
