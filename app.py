"""shiplog's composition root: `create_app` and the `shiplog` command group; nothing runs at
import."""

from __future__ import annotations

import os
import secrets
import time
from functools import partial
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup
from sqlalchemy.exc import OperationalError

import cli as commands
from feed import web
from feed.config import ConfigError, Settings, read_toml
from feed.db import Database, unreachable
from feed.ingest import Intake
from feed.metrics import Metrics
from feed.state import Shiplog, install, shiplog_state
from feed.syndication_cache import FeedCache
from integrations.chat import admin as chat_admin
from integrations.chat import commands as chat_commands
from integrations.chat.options import apply_chat_config, chat_config
from integrations.github import commands as github_commands
from integrations.github import jobs as github_jobs
from integrations.github import webhooks

ROOT = Path(__file__).resolve().parent  # templates/, static/ and instance/ live here
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from defaults, SHIPLOG_CONFIG's TOML, SHIPLOG_* variables, then `config`."""
    app = Flask(__name__, root_path=str(ROOT), instance_relative_config=True)
    app.config.update(
        DATABASE_URL=f"sqlite:///{Path(app.instance_path) / 'shiplog.db'}",
        MAX_CONTENT_LENGTH=DEFAULT_MAX_REQUEST_BYTES,
    )
    config_file = os.environ.get("SHIPLOG_CONFIG")
    if config_file:
        app.config.update(read_toml(config_file, os.environ))
    app.config.from_prefixed_env("SHIPLOG", loads=str)
    if config:
        app.config.update(config)

    settings = Settings.from_mapping(app.config)
    if app.secret_key is not None and not isinstance(app.secret_key, str):
        raise ConfigError("config: SECRET_KEY must be text")
    if not app.secret_key and (settings.private or settings.admin_token):
        app.secret_key = instance_secret(Path(app.instance_path))  # signs session cookies
    db = Database(settings.database_url)
    chat = chat_config(app.config, settings)
    intake = Intake(
        rules=settings.incident_rules,
        build_branches=settings.build_branches,
        prepare=partial(apply_chat_config, chat),
    )
    install(app, Shiplog(settings, db, Metrics(db), chat, intake, FeedCache(), app.url_map))
    web.register(
        app,
        signed_endpoints=frozenset({webhooks.ENDPOINT}),
        sync_jobs=web.SyncJobs(github_jobs.KINDS, periodic=github_jobs.SYNC),
    )
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(chat_admin.blueprint)
    register_commands(app)
    return app


def instance_secret(folder: Path) -> str:
    """A random key kept in the instance folder (readable by its owner only), made once and
    shared by every process on this machine; set SHIPLOG_SECRET_KEY to share it wider."""
    path = folder / "secret_key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        time.sleep(0.1)
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key)
    return key


def register_commands(app: Flask) -> None:
    """The `shiplog` commands, also reachable as `flask --app app ...`."""
    for command in (
        *commands.COMMANDS,
        github_commands.sync_command,
        github_commands.import_git_command,
        chat_commands.digest_group,
    ):
        app.cli.add_command(command)


def _load_app() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


class ShiplogGroup(FlaskGroup):
    """Flask's command group without Flask's options (--app, --env-file, --debug), where a
    database that cannot be opened stops the command with one line."""

    def __init__(self) -> None:
        super().__init__(
            name="shiplog",
            help="shiplog: one team timeline from GitHub.",
            create_app=_load_app,
            add_default_commands=False,
            add_version_option=False,
            set_debug_flag=False,
        )
        self.params = [param for param in self.params if param.name not in FLASK_OPTIONS]

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OperationalError as exc:
            raise click.ClickException(unreachable(shiplog_state().db.url, exc)) from None


FLASK_OPTIONS = {"env_file", "app", "debug"}
cli = click.version_option(package_name="shiplog", prog_name="shiplog")(ShiplogGroup())
