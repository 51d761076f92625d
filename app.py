"""shiplog's application factory and its `shiplog` command line; nothing runs at import."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click
import requests
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from feed import logs, notify, people, web
from feed.config import DEFAULT_GITHUB_API_URL, REPO_NAME, ConfigError, Settings, read_toml
from feed.db import Database
from feed.filters import Filter, FilterError
from feed.ingest import Intake
from feed.jobs import LANES
from feed.metrics import Metrics
from feed.migrate import is_current, upgrade
from feed.models import Job
from feed.state import Shiplog, install, shiplog_state
from feed.store import count_events, remove_demo
from feed.timefmt import iso_utc
from feed.web.feedcache import FeedCache
from feed.worker import Handler, Scheduler, Worker, run_due
from integrations.chat import admin as chat_admin
from integrations.chat import delivery as chat_delivery
from integrations.chat import platform as chat_platform
from integrations.chat import setup as chat_setup
from integrations.chat.hosts import WebhookHosts
from integrations.github import demo as github_demo
from integrations.github import jobs as github_jobs
from integrations.github import webhooks
from integrations.github.client import ClientSettings, GitHubClient, GitHubError, RateBudget
from integrations.github.gitlocal import GitError, import_history
from integrations.github.sync import SyncOptions, sync_repo

DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024


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
    if app.secret_key is not None and not isinstance(app.secret_key, str):
        raise ConfigError("config: SECRET_KEY must be text")
    if not app.secret_key and (settings.private or settings.admin_token):
        app.secret_key = instance_secret(Path(app.instance_path))  # signs session cookies
    db = Database(settings.database_url)
    chat = chat_setup.ChatConfig(app.config, WebhookHosts(settings.allow_webhook_hosts))
    install(
        app,
        Shiplog(
            settings=settings,
            db=db,
            metrics=Metrics(db),
            chat=chat,
            intake=Intake(
                rules=settings.incident_rules,
                build_branches=settings.build_branches,
                prepare=partial(apply_chat_config, chat),
            ),
            feed_cache=FeedCache(),
        ),
    )
    web.register(app, signed_endpoints=frozenset({webhooks.ENDPOINT}))
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
    app.cli.add_command(run_command)
    app.cli.add_command(db_group)
    app.cli.add_command(demo_command)
    app.cli.add_command(sync_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(import_git_command)
    app.cli.add_command(digest_group)
    app.cli.add_command(people_group)


def sync_options(
    settings: Settings, since: datetime | None = None, *, intake: Intake | None = None
) -> SyncOptions:
    """What the API sync brings in, from the settings, and the intake it goes through (the
    app's, in the commands; without one, an intake that prepares nothing)."""
    return SyncOptions(
        incident_label=settings.incident_label,
        branches=settings.sync_branches,
        since=since,
        backfill=timedelta(days=settings.sync_backfill_days),
        patch_cap=settings.sync_patch_cap,
        intake=intake or Intake(rules=settings.incident_rules),
    )


def github_client(settings: Settings, budget: RateBudget | None = None) -> GitHubClient:
    """A PyGithub-backed client for the configured server and credentials; clients given one
    `budget` keep the rate limit's reserve together."""
    return GitHubClient(client_settings(settings), budget)


def client_settings(settings: Settings) -> ClientSettings:
    return ClientSettings(
        api_url=settings.github_api_url,
        token=settings.github_token,
        app_id=settings.github_app_id,
        app_private_key_file=settings.github_app_private_key_file,
        app_installation_id=settings.github_app_installation_id,
        reserve=settings.sync_rate_limit_reserve,
    )


def job_limits(settings: Settings) -> dict[str, Any]:
    """How often a job may fail, and how long a worker holds the jobs it took."""
    return {
        "max_attempts": settings.job_max_attempts,
        "lease": timedelta(seconds=settings.job_lease_seconds),
    }


def worker_parts(
    shiplog: Shiplog, http: requests.Session | None = None, *, served_at: str | None = None
) -> tuple[dict[str, Handler], Scheduler]:
    """The job handlers and the periodic schedule the worker runs; chat links go to
    `served_at` when SHIPLOG_BASE_URL is unset (see `chat_links`)."""
    settings = shiplog.settings
    budget = RateBudget()  # one rate limit for every thread's client of these credentials
    handlers = github_jobs.handlers(
        shiplog.db,
        lambda: github_client(settings, budget),
        sync_options(settings, intake=shiplog.intake),
        timedelta(seconds=settings.sync_interval),
    )
    handlers |= chat_delivery.handlers(
        shiplog.db,
        **chat_links(settings, served_at),
        http=http,
        hosts=WebhookHosts(settings.allow_webhook_hosts),
    )

    def schedule(session: Session) -> datetime | None:
        now = datetime.now(UTC)
        github_jobs.schedule_syncs(session, settings.repos)
        notify.schedule_digests(session, now)
        notify.remind_overdue(session, now)
        return notify.next_promise(session, now)  # a reminder is due the moment it is missed

    return handlers, schedule


def make_worker(
    shiplog: Shiplog, lanes: tuple[str, ...] | None = None, *, served_at: str | None = None
) -> Worker:
    """The worker for `lanes` (all of them by default), with the configured threads."""
    handlers, schedule = worker_parts(shiplog, served_at=served_at)
    threads = shiplog.settings.worker_threads
    if lanes is not None:
        threads = {lane: threads[lane] for lane in lanes}
    return Worker(
        shiplog.db,
        handlers,
        threads=threads,
        schedule=schedule,
        **job_limits(shiplog.settings),
    )


def chat_links(settings: Settings, served_at: str | None = None) -> dict[str, Callable[[Any], str]]:
    """How chat messages link back: to events, filtered listings and incidents, on
    SHIPLOG_BASE_URL; without it, on the address this process serves (`served_at`, given
    by `shiplog run`), or else the one `shiplog run` serves by default."""
    base = settings.base_url or served_at or "http://127.0.0.1:8000"
    return {
        "event_url": lambda event: f"{base}/events/{event.id}",
        "listing_url": lambda rule: f"{base}/?{urlencode(rule.to_args())}",
        "incident_url": lambda incident: f"{base}/incidents/{incident.id}",
    }


def apply_chat_config(chat: chat_setup.ChatConfig, session: Session) -> None:
    """Bring the config file's channels and subscriptions into the database and retire those
    it no longer lists; what is wrong with them is a config error."""
    try:
        chat.apply(session)
    except chat_setup.ChatConfigError as exc:
        raise ConfigError(f"config: {exc}") from None


def load_chat_config(shiplog: Shiplog) -> None:
    """Bring the config's channels and subscriptions into the database now, once in this
    process (a web process does it in its first ingest), or stop with what is wrong."""
    try:
        shiplog.intake.ready(shiplog.db)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, help="Request threads.")
@with_appcontext
def run_command(host: str, port: int, threads: int) -> None:
    """Upgrade the database, load the demo on an empty one, and serve."""
    from waitress import serve

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    shiplog = shiplog_state(app)
    logs.configure(logging.INFO, shiplog.settings.log_format)
    upgrade(shiplog.db.engine)
    shiplog.db.analyze()
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
    try:
        serve(app, host=host, port=port, threads=threads, ident="shiplog")
    finally:
        stop.set()


def local_url(host: str, port: int) -> str:
    """The address `shiplog run --host --port` answers at, as a link (an address that
    listens everywhere answers on the loopback one)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


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


@click.command("demo")
@click.option("--clear", is_flag=True, help="Remove the demo repositories and their events.")
@with_appcontext
def demo_command(clear: bool) -> None:
    """Load a sample timeline through the webhook ingest path (or remove it)."""
    shiplog = shiplog_state()
    upgrade(shiplog.db.engine)
    if clear:
        with shiplog.db.write() as session:
            removed = remove_demo(session)
        click.echo(f"shiplog: removed {removed} demo events")
        return
    created = github_demo.load(shiplog.db, shiplog.settings.incident_label)
    click.echo(f"shiplog: loaded {created} demo events")


@click.command("sync")
@click.option("--repo", "repos", multiple=True, help="owner/name; default: the configured repos.")
@click.option("--since", help="Bring in commits from this date (YYYY-MM-DD or ISO 8601) on.")
@with_appcontext
def sync_command(repos: tuple[str, ...], since: str | None) -> None:
    """Bring repositories up to date from the GitHub API now."""
    shiplog = shiplog_state()
    repos = repos or shiplog.settings.repos
    if not repos:
        raise click.UsageError("no repositories to sync: set SHIPLOG_REPOS or pass --repo")
    try:
        start = Filter.from_dict({"since": since}).since if since else None
    except FilterError as exc:
        raise click.BadParameter(str(exc).removeprefix("since: "), param_hint="--since") from None
    upgrade(shiplog.db.engine)
    load_chat_config(shiplog)
    options = sync_options(shiplog.settings, start, intake=shiplog.intake)
    client = github_client(shiplog.settings)
    failed = 0
    for repo in repos:
        try:
            report = sync_repo(shiplog.db, client, repo, options)
        except GitHubError as exc:
            failed += 1
            click.echo(f"shiplog: {repo}: {exc}", err=True)
            continue
        click.echo(
            f"shiplog: {repo}: {report.commits} commits, {report.incident_events} incident "
            f"events, {report.releases} releases"
        )
    click.echo(f"shiplog: {client.requests} API requests, {client.counted} counted")
    client.close()
    if failed:
        raise SystemExit(1)


def _lanes(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if not value:
        return LANES
    lanes = tuple(dict.fromkeys(lane.strip() for lane in value.split(",") if lane.strip()))
    unknown = [lane for lane in lanes if lane not in LANES]
    if unknown or not lanes:
        raise click.BadParameter(f"lanes are {', '.join(LANES)}; not {', '.join(unknown)}")
    return lanes


@click.command("worker")
@click.option("--once", is_flag=True, help="Run what is due now, then exit.")
@click.option(
    "--lanes",
    callback=_lanes,
    help=f"Comma-separated lanes to work on (default: all: {','.join(LANES)}).",
)
@with_appcontext
def worker_command(once: bool, lanes: tuple[str, ...]) -> None:
    """Run background jobs: alerts, digests, then GitHub syncs and patch fetches."""
    shiplog = shiplog_state()
    upgrade(shiplog.db.engine)
    shiplog.db.analyze()
    load_chat_config(shiplog)
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


@click.command("import-git")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--repo", required=True, help="owner/name on GitHub, for uids and links.")
@click.option("--branch", help="Branch to read; default: the one checked out.")
@with_appcontext
def import_git_command(path: Path, repo: str, branch: str | None) -> None:
    """Backfill a repository's history from a local clone, at no API cost."""
    shiplog = shiplog_state()
    if not REPO_NAME.fullmatch(repo):
        raise click.BadParameter(f"{repo!r} is not owner/name", param_hint="--repo")
    upgrade(shiplog.db.engine)
    load_chat_config(shiplog)
    started = time.perf_counter()
    try:
        report = import_history(
            shiplog.db,
            path,
            repo,
            branch=branch,
            web_url=web_url(shiplog.settings),
            patch_cap=shiplog.settings.sync_patch_cap,
            intake=shiplog.intake,
        )
    except GitError as exc:
        raise click.ClickException(str(exc)) from None
    seconds = time.perf_counter() - started
    click.echo(
        f"shiplog: {repo}: read {report.commits} commits, {report.created} new, "
        f"in {seconds:.1f} s ({report.commits / max(seconds, 1e-9):.0f} commits/s)"
    )


@click.group("digest")
def digest_group() -> None:
    """Look at or send a subscription's digest."""


def _digest_window(  # type: ignore[no-untyped-def]
    shiplog: Shiplog, name: str, since: str | None, until: str | None, *, write: bool
):
    """The subscription named (or numbered) `name` and the window to show. Unless `write`,
    nothing is written: the subscription comes from the config file if it is there, and
    the database is only read."""
    if write:
        upgrade(shiplog.db.engine)
        load_chat_config(shiplog)
    elif not is_current(shiplog.db.engine):
        raise click.ClickException("database: not migrated; run `shiplog db upgrade` first")
    with shiplog.db.read() as session:
        try:
            found = shiplog.chat.find(session, name)
        except chat_setup.ChatConfigError as exc:
            raise click.ClickException(f"config: {exc}") from None
    if found is None:
        raise click.BadParameter(f"no subscription {name!r}", param_hint="--subscription")
    subscription, channel = found
    try:
        window = Filter.from_dict({"since": since, "until": until})
    except FilterError as exc:
        raise click.BadParameter(str(exc)) from None
    end = window.until or datetime.now(UTC).replace(microsecond=0)
    start = window.since or subscription.window_end or end - timedelta(days=1)
    if start >= end:
        raise click.BadParameter("since must be earlier than until")
    return (
        subscription,
        channel,
        {"subscription": subscription.id, "since": iso_utc(start), "until": iso_utc(end)},
    )


@digest_group.command("preview")
@click.option("--subscription", "name", required=True, help="Name or id.")
@click.option("--since", help="Window start (default: where the last digest stopped).")
@click.option("--until", help="Window end (default: now).")
@with_appcontext
def digest_preview(name: str, since: str | None, until: str | None) -> None:
    """Print the exact payload the subscription's channel would receive."""
    shiplog = shiplog_state()
    subscription, channel, payload = _digest_window(shiplog, name, since, until, write=False)
    with shiplog.db.read() as session:
        message = notify.build_message(
            session, subscription, payload, **chat_links(shiplog.settings)
        )
    rendered = chat_platform(channel.platform).render(message)
    click.echo(json.dumps(rendered, indent=2, ensure_ascii=False))


@digest_group.command("send")
@click.option("--subscription", "name", required=True, help="Name or id.")
@click.option("--since", help="Window start (default: where the last digest stopped).")
@click.option("--until", help="Window end (default: now).")
@with_appcontext
def digest_send(name: str, since: str | None, until: str | None) -> None:
    """Send the subscription's digest now (once: sending the same window again does nothing)."""
    shiplog = shiplog_state()
    subscription, channel, payload = _digest_window(shiplog, name, since, until, write=True)
    with shiplog.db.write() as session:
        key = notify.enqueue_digest(session, subscription, payload)
    handlers, _ = worker_parts(shiplog)
    run_due(shiplog.db, {"deliver": handlers["deliver"]})
    with shiplog.db.read() as session:
        job = session.scalars(select(Job).where(Job.key == key)).one()
    if job.state != "done":
        raise click.ClickException(f"digest to {channel.name}: {job.state}: {job.last_error}")
    click.echo(f"shiplog: digest {payload['since']} to {payload['until']} sent to {channel.name}")


def web_url(settings: Settings) -> str:
    """The web address of the GitHub the API URL belongs to (github.com, or an Enterprise host)."""
    if settings.github_api_url == DEFAULT_GITHUB_API_URL:
        return "https://github.com"
    return settings.github_api_url.removesuffix("/api/v3")


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


@click.group("people")
def people_group() -> None:
    """Who may sign in when shiplog is private (SHIPLOG_PRIVATE=true)."""


@people_group.command("add")
@click.argument("name")
@with_appcontext
def people_add(name: str) -> None:
    """Add NAME and print their access token (shown this once)."""
    shiplog = shiplog_state()
    upgrade(shiplog.db.engine)
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
    shiplog = shiplog_state()
    with shiplog.db.read() as session:
        for person, count in people.list_people(session):
            seen = iso_utc(person.last_seen_at) if person.last_seen_at else "never"
            click.echo(f"{person.name}\tlast seen {seen}\t{count} feed token(s)")


@people_group.command("remove")
@click.argument("name")
@with_appcontext
def people_remove(name: str) -> None:
    """Remove NAME: their sessions and feed tokens stop working at once."""
    shiplog = shiplog_state()
    with shiplog.db.write() as session:
        if not people.remove_person(session, name):
            raise click.ClickException(f"no person named {name!r}")
    click.echo(f"removed {name}")
