"""The real `shiplog` entry point as a newcomer meets it: its own help and version, and what
stops a command (a database it cannot open, a port in use) said in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from app import cli
from tests.conftest import PG_URL, assert_no_secrets, subprocess_secrets_env

SHIPLOG = str(Path(sys.executable).with_name("shiplog"))


def shiplog(folder: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """`shiplog ARGS` in `folder` with only the given SHIPLOG_ settings and the watched secrets."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPLOG_")}
    env |= subprocess_secrets_env(folder, github=False)
    env.setdefault("SHIPLOG_DATABASE_URL", f"sqlite:///{folder / 'cli.db'}")
    env |= {f"SHIPLOG_{name}": value for name, value in settings.items()}
    env["COLUMNS"] = "80"
    return subprocess.run(
        [SHIPLOG, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )


def one_line_failure(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The single line a failed command printed, checked for `words` and for no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]
    assert_no_secrets(result.stdout + result.stderr)
    return lines[0]


def summaries(help_text: str) -> list[str]:
    """The command summaries of a group's help."""
    return help_text.split("Commands:\n", 1)[1].splitlines()


def test_help_shows_shiplogs_options_and_whole_summaries(
    tmp_path: Path, isolated_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPLOG_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    result = shiplog(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    for flask_option in ("--app", "--env-file", "--debug", "Flask"):
        assert flask_option not in result.stdout
    assert "--version" in result.stdout
    listed = [line.split()[0] for line in summaries(result.stdout)]
    assert listed == ["db", "demo", "digest", "import-git", "people", "run", "sync", "worker"]
    groups = [["--help"], ["db", "--help"], ["digest", "--help"], ["people", "--help"]]
    runner = CliRunner(env={"COLUMNS": "80"})
    for args in groups:  # the subgroups' listings in-process, as the same group prints them
        shown = result.stdout if args == ["--help"] else runner.invoke(cli, args).output
        assert not [line for line in summaries(shown) if line.endswith("...")], shown


def test_version_is_shiplogs(tmp_path: Path) -> None:
    result = shiplog(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "shiplog, version 0.1.0"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://someone@127.0.0.1/shiplog", ["DATABASE_URL", "SQLite or PostgreSQL"]),
        ("postgresql+pg8000://someone@127.0.0.1/shiplog", ["DATABASE_URL", "pg8000"]),
    ],
)
def test_an_unsupported_database_driver_is_one_line(
    tmp_path: Path, url: str, words: list[str]
) -> None:
    one_line_failure(shiplog(tmp_path, "db", "upgrade", DATABASE_URL=url), *words)


def test_a_database_server_that_is_down_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://someone:hunter2@127.0.0.1:{port}/shiplog"
    line = one_line_failure(
        shiplog(tmp_path, "db", "upgrade", DATABASE_URL=url), "SHIPLOG_DATABASE_URL", "running"
    )
    assert "hunter2" not in line


def test_a_sqlite_file_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    url = f"sqlite:///{tmp_path / 'a-file' / 'shiplog.db'}"
    one_line_failure(shiplog(tmp_path, "demo", DATABASE_URL=url), "DATABASE_URL", "folder")


def test_a_database_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    if not PG_URL:
        pytest.skip("PostgreSQL tests need SHIPLOG_TEST_DATABASE_URL")
    url = make_url(PG_URL).set(database="shiplog_no_such_database")
    shown = url.render_as_string(hide_password=False)
    one_line_failure(
        shiplog(tmp_path, "worker", "--once", DATABASE_URL=shown),
        "SHIPLOG_DATABASE_URL",
        "shiplog_no_such_database",
        "createdb shiplog_no_such_database",
    )


def test_a_port_in_use_is_one_line_before_anything_else(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = shiplog(tmp_path, "run", "--port", str(port))
    one_line_failure(result, "--port", str(port))
    assert "serving on" not in result.stdout
    assert "migrat" not in result.stdout + result.stderr
    assert not (tmp_path / "cli.db").exists()  # nothing migrated
