"""Fixtures: an app on a real, migrated database per test (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask, Response, request
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app import create_app
from feed.db import Database
from feed.migrate import upgrade
from feed.models import Base
from feed.state import shiplog_state
from feed.store import EventRecord, FileRecord, upsert_event

SECRET = "test-webhook-secret"
PG_URL = os.environ.get("SHIPLOG_TEST_DATABASE_URL")
# A schema per pytest-xdist worker (`make test` runs two), so they never share tables.
PG_SCHEMA = "_".join(["shiplog_test", *filter(None, [os.environ.get("PYTEST_XDIST_WORKER")])])
SHARED_PAYLOADS = Path(__file__).resolve().parents[2] / "shared" / "github-payloads"
SHARED_VALIDATORS = Path(__file__).resolve().parents[2] / "shared" / "validators"
# Secrets the suite hands to the app. No answer (body or header) and no log line may hold
# one, in any test; chat webhook URLs join the set as tests.fake_chat makes them.
WATCHED_SECRETS: set[str] = {
    SECRET,
    "admin-token-123",
    "test-token",
    "ghs_emulatedinstallationtoken",
}


class _LeakLog(logging.Handler):
    def __init__(self, leaks: list[str]) -> None:
        super().__init__(logging.INFO)
        self.leaks = leaks

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if record.exc_info:
            line += logging.Formatter().formatException(record.exc_info)
        self.leaks.extend(f"log {record.name}: {s!r}" for s in secrets_in(line))


def secrets_in(text: str) -> list[str]:
    """The watched secrets that `text` holds."""
    return [secret for secret in WATCHED_SECRETS if secret in text]


@pytest.fixture(autouse=True)
def no_secret_leaks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Scan every answer any app gives and every log line at INFO and up for the secrets."""
    leaks: list[str] = []
    process_response = Flask.process_response

    def scanning(self: Flask, response: Response) -> Response:
        response = process_response(self, response)
        seen = "".join(f"{name}: {value}\n" for name, value in response.headers.items())
        if not response.direct_passthrough and not response.is_streamed:
            seen += response.get_data(as_text=True)
        leaks.extend(f"answer to {request.path}: {s!r}" for s in secrets_in(seen))
        return response

    monkeypatch.setattr(Flask, "process_response", scanning)
    handler = _LeakLog(leaks)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level or logging.INFO, logging.INFO))
    yield
    root.removeHandler(handler)
    root.setLevel(level)
    assert leaks == [], leaks


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once by Alembic; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "shiplog.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


def _schema(schema: str, *, drop: bool = False) -> str:
    """The URL of `schema` in the test PostgreSQL, made anew and migrated by Alembic (or
    dropped, with `drop`)."""
    assert PG_URL
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        if not drop:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    separator = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{separator}{urlencode({'options': f'-csearch_path={schema}'})}"
    if not drop:
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A schema of its own in the test PostgreSQL, migrated once by Alembic."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need SHIPLOG_TEST_DATABASE_URL")
    return _schema(PG_SCHEMA)


@pytest.fixture(scope="session")
def empty_postgres(postgres_url: str) -> Iterator[Callable[[], None]]:
    """Empties the test schema after a test and restarts its ids: one engine for the whole
    session and one script of DELETEs (TRUNCATE makes every table's files anew, 5-6 times
    as slow for the few rows a test leaves). A new engine and a statement a table took 52 ms
    a test on the 2-core machine, this 8."""
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        sequences = connection.scalars(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
        ).all()
    script = "; ".join(
        [
            *(f'DELETE FROM "{table.name}"' for table in reversed(Base.metadata.sorted_tables)),
            *(f'ALTER SEQUENCE "{sequence}" RESTART' for sequence in sequences),
        ]
    )

    def empty() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql(script)

    yield empty
    engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database for the tests of one module to fill once and then only read: a
    copy of the SQLite template, or a PostgreSQL schema of its own that no other test's
    cleanup empties."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("module") / "shiplog.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    request.getfixturevalue("postgres_url")  # skips without PostgreSQL
    schema = f"{PG_SCHEMA}_{request.module.__name__.rsplit('.', 1)[-1]}"
    yield _schema(schema)
    _schema(schema, drop=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "shiplog.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    empty = request.getfixturevalue("empty_postgres")
    yield url
    empty()


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SHIPLOG_* variable of the machine leaks into the app under test."""
    for name in list(os.environ):
        if name.startswith("SHIPLOG_"):
            monkeypatch.delenv(name)


@pytest.fixture
def app_config(database_url: str) -> dict[str, Any]:
    """The fake chat servers listen on 127.0.0.1 over plain http, so the host is listed."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "SECRET_KEY": "test-secret-key",
        "SECURITY": {"allow_webhook_hosts": ["127.0.0.1"]},
    }


@pytest.fixture
def app(app_config: dict[str, Any], isolated_env: None) -> Iterator[Flask]:
    app = create_app(app_config)
    yield app
    shiplog_state(app).db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db(app: Flask) -> Database:
    return shiplog_state(app).db


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    client: FlaskClient,
    event: str,
    payload: dict[str, Any] | bytes,
    *,
    delivery: str | None = None,
    form: bool = False,
    secret: str = SECRET,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST a delivery the way GitHub does: signed, with its event and delivery headers."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if form:
        raw = urlencode({"payload": raw.decode()}).encode()
    all_headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(raw, secret),
        "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
        **(headers or {}),
    }
    return client.post("/webhooks/github", data=raw, headers=all_headers)


_counter = iter(range(1, 10**9))


def make_record(**overrides: Any) -> EventRecord:
    """An EventRecord with plausible defaults; any field can be overridden."""
    number = next(_counter)
    values: dict[str, Any] = {
        "uid": f"commit:acme/api:{number:040x}",
        "kind": "commit",
        "repo": "acme/api",
        "branch": "main",
        "actor": "mara",
        "sha": f"{number:040x}",
        "title": f"Change number {number}",
        "body": "",
        "url": f"https://github.com/acme/api/commit/{number:040x}",
        "occurred_at": datetime(2026, 11, 1, tzinfo=UTC),
    }
    values.update(overrides)
    if "files" in values:
        values["files"] = [
            FileRecord(path=f, status="modified") if isinstance(f, str) else f
            for f in values["files"]
        ]
    return EventRecord(**values)


def database_rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the schema, in a stable order: equal dumps, equal data."""
    with db.read() as session:
        return {
            table.name: sorted((tuple(row) for row in session.execute(table.select())), key=repr)
            for table in Base.metadata.sorted_tables
        }


def make_event(session: Session, **overrides: Any) -> EventRecord:
    """Store one event made by `make_record`; returns the record."""
    record = make_record(**overrides)
    upsert_event(session, record)
    return record


# --- the same scan for what shiplog run as a subprocess says and answers -------------------

ADMIN_TOKEN = "admin-token-123"
SUBPROCESS_CHAT_URL = "https://hooks.slack.com/services/T0SUBPROC/B0SUBPROC/subprocess-secret"
WATCHED_SECRETS.add(SUBPROCESS_CHAT_URL)


def subprocess_secrets_env(folder: Path | None, *, github: bool = True) -> dict[str, str]:
    """SHIPLOG_* settings that hand a subprocess the watched secrets: the admin token, the
    webhook secret and GitHub token (unless not `github`: they connect shiplog to GitHub)
    and, given a `folder` for its config file, a chat webhook URL; so that a scan of what
    it says means something."""
    env = {"SHIPLOG_ADMIN_TOKEN": ADMIN_TOKEN}
    if github:
        env |= {"SHIPLOG_GITHUB_WEBHOOK_SECRET": SECRET, "SHIPLOG_GITHUB_TOKEN": "test-token"}
    if folder is not None:
        config = folder / "secrets.toml"
        config.write_text(
            f'[[channels]]\nname = "scanned"\nplatform = "slack"\nurl = "{SUBPROCESS_CHAT_URL}"\n'
        )
        env["SHIPLOG_CONFIG"] = str(config)
    return env


def answer_text(headers: Any, body: bytes | str) -> str:
    """An HTTP answer as the scan reads it: each header as `name: value`, then the body.
    `headers` is a mapping or a list of (name, value) pairs."""
    pairs = headers.items() if hasattr(headers, "items") else headers
    seen = "".join(f"{name}: {value}\n" for name, value in pairs)
    return seen + (body.decode("utf-8", "replace") if isinstance(body, bytes) else body)


def assert_no_secrets(where: str, *texts: str | bytes | None, also: tuple[str, ...] = ()) -> None:
    """Fail if a watched secret (or one of `also`) is in any of `texts`: the output of a
    subprocess (stdout, stderr, a log file) or answers it gave (see `answer_text`).
    `no_secret_leaks` cannot see those: they never pass through this process's Flask or
    logging."""
    watched = WATCHED_SECRETS | set(also)
    leaks = []
    for seen in texts:
        if isinstance(seen, bytes):
            seen = seen.decode("utf-8", "replace")
        leaks += [f"{where}: {secret!r}" for secret in sorted(watched) if secret in (seen or "")]
    assert leaks == [], leaks
