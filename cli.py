"""shiplog's own commands: run, worker, db upgrade, demo and people (the GitHub and chat
commands live beside their integrations)."""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from feed import logs, people
from feed.commands import load_chat_config, migrated, prepare
from feed.heap import freeze_startup
from feed.jobs import LANES
from feed.migrate import upgrade
from feed.state import Shiplog, shiplog_state
from feed.store import count_events, remove_demo
from feed.timefmt import iso_utc
from feed.worker import run_due
from integrations.github import demo as github_demo
from worker_setup import job_limits, make_worker, worker_parts


@click.command("run", short_help="Migrate, then serve the web and the worker.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, help="Request threads.")
@with_appcontext
def run_command(host: str, port: int, threads: int) -> None:
    """Upgrade the database, load the demo on an empty one, and serve."""
    from waitress import serve

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    shiplog = shiplog_state(app)
    listener = listen(host, port)
    logs.configure(logging.INFO, shiplog.settings.log_format)
    prepare(shiplog, analyze=True)
    with shiplog.db.read() as session:
        empty = count_events(session) == 0
    if empty and not shiplog.settings.has_github_source:
        created = github_demo.load(shiplog.db, shiplog.settings.incident_label)
        click.echo(f"shiplog: empty database and no GitHub source; loaded {created} demo events")
    load_chat_config(shiplog)
    stop = threading.Event()
    served_at = None if shiplog.settings.base_url else local_url(host, port)
    if served_at:
        click.echo(
            f"shiplog: chat messages link to {served_at}; set SHIPLOG_BASE_URL to an address "
            "the people in the chat can reach"
        )
    # The worker shares the web threads' Database: their commits wake it at once.
    worker = threading.Thread(
        target=make_worker(shiplog, served_at=served_at).run,
        args=(stop,),
        name="shiplog-worker",
        daemon=True,
    )
    worker.start()
    click.echo(f"shiplog: serving on http://{host}:{port}/  (Ctrl-C stops)")
    freeze_startup()
    try:
        serve(app, sockets=[listener], threads=threads, ident="shiplog")
    finally:
        stop.set()


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port` (waitress listens on it), or one line saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise click.ClickException(f"run: cannot listen on {host}:{port}: {exc}") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as exc:
        listener.close()
        todo = (
            "pass another --port or stop what uses it"
            if exc.errno == errno.EADDRINUSE
            else ("pass another --host or --port")
        )
        raise click.ClickException(
            f"run: cannot listen on {host}:{port} ({exc.strerror}); {todo}"
        ) from None
    return listener


def local_url(host: str, port: int) -> str:
    """The address `shiplog run --host --port` answers at, as a link (an address that
    listens everywhere answers on the loopback one)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _lanes(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if not value:
        return LANES
    lanes = tuple(dict.fromkeys(lane.strip() for lane in value.split(",") if lane.strip()))
    unknown = [lane for lane in lanes if lane not in LANES]
    if unknown or not lanes:
        raise click.BadParameter(f"lanes are {', '.join(LANES)}; not {', '.join(unknown)}")
    return lanes


@click.command("worker", short_help="Run background jobs (alerts, digests, GitHub).")
@click.option("--once", is_flag=True, help="Run what is due now, then exit.")
@click.option(
    "--lanes",
    callback=_lanes,
    help=f"Comma-separated lanes to work on (default: all: {','.join(LANES)}).",
)
@migrated(analyze=True, chat=True)
def worker_command(shiplog: Shiplog, once: bool, lanes: tuple[str, ...]) -> None:
    """Run background jobs: alerts, digests, then GitHub syncs and patch fetches."""
    if once:
        handlers, schedule = worker_parts(shiplog)
        with shiplog.db.write() as session:
            schedule(session)
        ran = run_due(shiplog.db, handlers, lanes=lanes, **job_limits(shiplog.settings))
        click.echo(f"shiplog: worker ran {ran} jobs")
        return
    logs.configure(logging.INFO, shiplog.settings.log_format)
    stop = threading.Event()
    worker = make_worker(shiplog, lanes)

    def terminate(*_: object) -> None:
        stop.set()
        worker.wakeup.notify(())  # out of an idle wait at once

    signal.signal(signal.SIGTERM, terminate)
    click.echo(f"shiplog: worker running for {', '.join(lanes)} (Ctrl-C stops)")
    try:
        worker.run(stop)
    except KeyboardInterrupt:
        stop.set()


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply schema migrations."""
    db = shiplog_state().db
    upgrade(db.engine, revision)
    db.analyze()
    click.echo(f"shiplog: database at {revision}")


@click.command("demo", short_help="Load the demo timeline (or --clear it).")
@click.option("--clear", is_flag=True, help="Remove the demo repositories and their events.")
@migrated()
def demo_command(shiplog: Shiplog, clear: bool) -> None:
    """Load a sample timeline through the webhook ingest path (or remove it)."""
    if clear:
        with shiplog.db.write() as session:
            removed = remove_demo(session)
        click.echo(f"shiplog: removed {removed} demo events")
        return
    created = github_demo.load(shiplog.db, shiplog.settings.incident_label)
    click.echo(f"shiplog: loaded {created} demo events")


@click.group("people", short_help="Who may sign in when shiplog is private.")
def people_group() -> None:
    """Who may sign in when shiplog is private (SHIPLOG_PRIVATE=true)."""


@people_group.command("add")
@click.argument("name")
@migrated()
def people_add(shiplog: Shiplog, name: str) -> None:
    """Add NAME and print their access token (shown this once)."""
    try:
        with shiplog.db.write() as session:
            issued = people.add_person(session, name)
    except people.PeopleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{issued.name}: access token {issued.token}")
    click.echo("Give it to them privately; sign in at /signin. It is not shown again.", err=True)


@people_group.command("list")
@with_appcontext
def people_list() -> None:
    """Everyone who may sign in, with when they were last seen."""
    with shiplog_state().db.read() as session:
        for person, count in people.list_people(session):
            seen = iso_utc(person.last_seen_at) if person.last_seen_at else "never"
            click.echo(f"{person.name}\tlast seen {seen}\t{count} feed token(s)")


@people_group.command("remove", short_help="Remove NAME and sign them out.")
@click.argument("name")
@with_appcontext
def people_remove(name: str) -> None:
    """Remove NAME: their sessions and feed tokens stop working at once."""
    with shiplog_state().db.write() as session:
        if not people.remove_person(session, name):
            raise click.ClickException(f"no person named {name!r}")
    click.echo(f"removed {name}")


COMMANDS = (run_command, worker_command, db_group, demo_command, people_group)
