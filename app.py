"""shiplog's application factory and its `shiplog` command line; nothing runs at import."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from feed import web
from feed.config import ConfigError, Settings, read_toml
from feed.db import Database
from feed.migrate import upgrade
from feed.store import count_events, remove_demo
from integrations.github import demo as github_demo
from integrations.github import webhooks

DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024


@dataclass
class Shiplog:
    """What the views and commands share, kept in `app.extensions["shiplog"]`."""

    settings: Settings
    db: Database


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from defaults, SHIPLOG_CONFIG's TOML, SHIPLOG_* variables, then `config`."""
    app = Flask(__name__, instance_relative_config=True)
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
    app.extensions["shiplog"] = Shiplog(settings=settings, db=Database(settings.database_url))
    web.register(app)
    app.register_blueprint(webhooks.blueprint)
    register_commands(app)
    return app


def register_commands(app: Flask) -> None:
    """The `shiplog` commands, also reachable as `flask --app app ...`."""
    app.cli.add_command(run_command)
    app.cli.add_command(db_group)
    app.cli.add_command(demo_command)


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, help="Request threads.")
@with_appcontext
def run_command(host: str, port: int, threads: int) -> None:
    """Upgrade the database, load the demo on an empty one, and serve."""
    from waitress import serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    shiplog: Shiplog = app.extensions["shiplog"]
    upgrade(shiplog.db.engine)
    with shiplog.db.read() as session:
        empty = count_events(session) == 0
    if empty and not shiplog.settings.has_github_source:
        created = github_demo.load(shiplog.db, shiplog.settings.incident_label)
        click.echo(f"shiplog: empty database and no GitHub source; loaded {created} demo events")
    click.echo(f"shiplog: serving on http://{host}:{port}/  (Ctrl-C stops)")
    serve(app, host=host, port=port, threads=threads, ident="shiplog")


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply schema migrations."""
    upgrade(current_app.extensions["shiplog"].db.engine, revision)
    click.echo(f"shiplog: database at {revision}")


@click.command("demo")
@click.option("--clear", is_flag=True, help="Remove the demo repositories and their events.")
@with_appcontext
def demo_command(clear: bool) -> None:
    """Load a sample timeline through the webhook ingest path (or remove it)."""
    shiplog: Shiplog = current_app.extensions["shiplog"]
    upgrade(shiplog.db.engine)
    if clear:
        with shiplog.db.write() as session:
            removed = remove_demo(session)
        click.echo(f"shiplog: removed {removed} demo events")
        return
    created = github_demo.load(shiplog.db, shiplog.settings.incident_label)
    click.echo(f"shiplog: loaded {created} demo events")


def _load_app() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


cli = FlaskGroup(
    name="shiplog",
    help="shiplog: one team timeline from GitHub.",
    create_app=_load_app,
    add_default_commands=False,
    set_debug_flag=False,
)
