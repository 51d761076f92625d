"""Make docs/health.png: /health over the demo timeline plus one open incident.

Run from the repository: `.venv/bin/python -m docs.screenshot_health`. It uses a throwaway
SQLite database, serves the app on 127.0.0.1 and photographs it with Playwright's Chromium.
"""

from __future__ import annotations

import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from werkzeug.serving import make_server

from app import create_app
from feed.state import shiplog_state
from tests.conftest import deliver

CHROMIUM = "/usr/bin/chromium"
OUT = Path(__file__).resolve().parent / "health.png"


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="shiplog-shot-"))
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'shiplog.db'}",
            "GITHUB_WEBHOOK_SECRET": "test-webhook-secret",
            "SECRET_KEY": "screenshot",
        }
    )
    assert app.test_cli_runner().invoke(args=["demo"]).exit_code == 0
    opened = (datetime.now(UTC) - timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    issue = {
        "number": 57,
        "title": "Status page shows 502 for some visitors",
        "body": "Since the banner deploy.",
        "state": "open",
        "html_url": "https://github.com/acme/web/issues/57",
        "user": {"login": "sam"},
        "labels": [{"name": "incident"}, {"name": "sev2"}],
        "created_at": opened,
        "updated_at": opened,
    }
    repository = {"full_name": "acme/web", "html_url": "https://github.com/acme/web"}
    payload = {"action": "opened", "issue": issue, "repository": repository}
    assert deliver(app.test_client(), "issues", payload).status_code == 200
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        shoot(f"http://127.0.0.1:{server.server_port}/health")
    finally:
        server.shutdown()
        shiplog_state(app).db.dispose()


def shoot(url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(url)
        page.screenshot(path=str(OUT), full_page=True)
        browser.close()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
