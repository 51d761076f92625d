"""The app factory, its configuration layers, health, the CLI and `shiplog run`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from app import cli, create_app
from feed.config import ConfigError
from feed.db import Database
from feed.filters import BOTS_INDEX
from feed.migrate import current_revision, upgrade
from feed.models import Base, Event, Repo
from feed.search import is_postgres_index, is_search_table
from feed.state import shiplog_state
from tests.conftest import (
    SECRET,
    answer_text,
    assert_no_secrets,
    make_event,
    subprocess_secrets_env,
)

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_app_module_does_nothing(tmp_path: Path) -> None:
    code = "import app, feed.web, integrations.github.webhooks; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert result.stdout.strip() == "ok"
    assert list(tmp_path.iterdir()) == []


def test_layers_defaults_then_toml_then_environment_then_the_dict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: None
) -> None:
    toml = tmp_path / "shiplog.toml"
    toml.write_text(
        '[github]\nincident_label = "from-toml"\nrepos = ["a/b"]\n'
        '[server]\nbase_url = "https://toml.example"\n'
    )
    monkeypatch.setenv("SHIPLOG_CONFIG", str(toml))
    monkeypatch.setenv("SHIPLOG_BASE_URL", "https://env.example")
    monkeypatch.setenv("SHIPLOG_GITHUB_WEBHOOK_SECRET", "12345")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "REPOS": "c/d"})
    settings = shiplog_state(app).settings
    assert settings.incident_label == "from-toml"
    assert settings.base_url == "https://env.example"
    assert settings.github_webhook_secret == "12345"  # stays text, not the number 12345
    assert settings.repos == ("c/d",)
    shiplog_state(app).db.dispose()


def test_the_default_database_is_sqlite_in_the_instance_folder(isolated_env: None) -> None:
    app = create_app()
    assert shiplog_state(app).settings.database_url == (
        f"sqlite:///{Path(app.instance_path) / 'shiplog.db'}"
    )


def test_bad_configuration_stops_startup_with_a_message(isolated_env: None) -> None:
    with pytest.raises(ConfigError, match="REPOS"):
        create_app({"REPOS": "nonsense"})


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        # Reads map the file (2 GiB at most, SQLite's own ceiling) rather than copy its pages.
        assert connection.exec_driver_sql("PRAGMA mmap_size").scalar() >= 2**30
    db.dispose()


def test_migrations_build_exactly_the_models(database_url: str) -> None:
    db = Database(database_url)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_name": lambda name, kind, _parent: (
                    not (is_search_table(name) or is_postgres_index(name) or name == BOTS_INDEX)
                )
            },
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert current_revision(db.engine) == "0026"
    db.dispose()


def test_analyze_gives_sqlite_planner_statistics(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(db.engine)
    with db.write() as session:
        for _ in range(3):
            make_event(session)
    db.analyze()
    with db.engine.connect() as connection:
        indexes = {row[0] for row in connection.exec_driver_sql("SELECT idx FROM sqlite_stat1")}
    assert "ix_events_timeline" in indexes
    db.dispose()


def test_healthz_is_200_with_the_database(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_the_root_favicon_is_served_for_documents_without_an_icon_link(client) -> None:
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/svg+xml"
        assert response.get_data(as_text=True).lstrip().startswith("<svg")


def test_healthz_is_503_without_it(isolated_env: None) -> None:
    closed_port = _free_port()
    app = create_app({"DATABASE_URL": f"postgresql+psycopg://x@127.0.0.1:{closed_port}/none"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"
    page = app.test_client().get("/")
    assert page.status_code == 503
    assert "database is not answering" in page.get_data(as_text=True)


def test_db_upgrade_and_demo_commands(tmp_path: Path, isolated_env: None) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    app = create_app({"DATABASE_URL": url})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output

    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    db = shiplog_state(app).db
    with db.read() as session:
        kinds = set(session.scalars(select(Event.kind)))
        total = session.scalar(select(func.count()).select_from(Event))
        demo = set(session.scalars(select(Repo.full_name).where(Repo.is_demo)))
    assert kinds == {
        "commit",
        "revert",
        "force_push",
        "release",
        "deployment",
        "incident_opened",
        "incident_update",
        "incident_resolved",
        "build_broken",  # acme/web's ci workflow fails on the banner commit
    }
    assert f"loaded {total} demo events" in result.output
    assert demo == {"acme/api", "acme/web"}

    again = runner.invoke(args=["demo"])
    assert "loaded 0 demo events" in again.output

    cleared = runner.invoke(args=["demo", "--clear"])
    assert f"removed {total} demo events" in cleared.output
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0
    db.dispose()


def test_the_demo_reverts_the_commit_it_names(tmp_path: Path, isolated_env: None) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"})
    app.test_cli_runner().invoke(args=["demo"])
    with shiplog_state(app).db.read() as session:
        revert = session.scalars(select(Event).where(Event.kind == "revert")).one()
        target = session.scalars(
            select(Event).where(Event.kind == "commit", Event.sha == revert.data["reverts"])
        ).one()
    assert target.title == "Cache session lookups in Redis"


def test_the_shiplog_command_group_lists_its_commands() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "db", "demo"):
        assert command in result.output


def start_run(folder: Path, port: int, **settings: str) -> subprocess.Popen[str]:
    """`shiplog run` on `port` over a fresh SQLite file, with only the given SHIPLOG_ settings
    and the watched secrets that do not connect it to GitHub; stdout and stderr come back as
    text, for `assert_no_secrets`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPLOG_")}
    env |= subprocess_secrets_env(folder, github=False)
    env["SHIPLOG_DATABASE_URL"] = f"sqlite:///{folder / 'run.db'}"
    env |= {f"SHIPLOG_{name}": value for name, value in settings.items()}
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("shiplog")), "run", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_shiplog_run_serves_the_demo_on_a_fresh_database(tmp_path: Path) -> None:
    """What `make run` does: migrate, load the demo, serve, at the printed address."""
    port = _free_port()
    process = start_run(tmp_path, port)
    try:
        page = _get(f"http://127.0.0.1:{port}/", deadline=time.monotonic() + 30)
        assert "You are looking at demo data" in page
        assert "Cache session lookups in Redis" in page
        feed = _get(f"http://127.0.0.1:{port}/feed.atom", deadline=time.monotonic() + 5)
        assert "<feed" in feed
    finally:
        process.terminate()
        output, errors = process.communicate(timeout=10)
    assert_no_secrets("shiplog run output", output, errors)
    output += errors
    assert "loaded" in output and "demo events" in output
    assert f"serving on http://127.0.0.1:{port}/" in output


def test_shiplog_run_logs_json_lines_when_asked(tmp_path: Path) -> None:
    port = _free_port()
    process = start_run(tmp_path, port, LOG_FORMAT="json", GITHUB_WEBHOOK_SECRET=SECRET)
    try:
        _get(f"http://127.0.0.1:{port}/feed.json?limit=1", deadline=time.monotonic() + 30)
    finally:
        process.terminate()
        output, errors = process.communicate(timeout=10)
    assert_no_secrets("shiplog run output", output, errors)
    lines = [json.loads(line) for line in errors.splitlines()]
    [request] = [line for line in lines if line["logger"] == "shiplog.http"]
    assert (request["method"], request["path"], request["status"]) == ("GET", "/feed.json", 200)


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'twice.db'}")
    upgrade(db.engine)
    upgrade(db.engine)
    assert current_revision(db.engine) == "0026"
    db.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body = response.read().decode()
                assert_no_secrets(f"answer to {url}", answer_text(response.headers.items(), body))
                return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_demo_commits_show_their_diffs(tmp_path: Path, isolated_env: None) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"})
    app.test_cli_runner().invoke(args=["demo"])
    with shiplog_state(app).db.read() as session:
        commit = session.scalars(
            select(Event).where(Event.title == "Cache session lookups in Redis")
        ).one()
        states = set(session.scalars(select(Event.diff_state).where(Event.kind == "commit")))
    assert states == {"fetched"}
    page = app.test_client().get(f"/events/{commit.id}").get_data(as_text=True)
    assert '<span class="gi">' in page
    assert "Reverted by" in page
    shiplog_state(app).db.dispose()
