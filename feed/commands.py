"""What shiplog's commands share: the app's state, on a migrated database, with the config's
channels and subscriptions loaded."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import click
from flask.cli import with_appcontext

from feed.config import ConfigError
from feed.migrate import upgrade
from feed.state import Shiplog, shiplog_state

P = ParamSpec("P")
R = TypeVar("R")


def migrated(
    *, analyze: bool = False, chat: bool = False
) -> Callable[[Callable[Concatenate[Shiplog, P], R]], Callable[P, R]]:
    """Run the command in the app's context on an upgraded database (its planner statistics
    refreshed if `analyze`; the config's chat setup loaded if `chat`), passing it the state."""

    def decorate(command: Callable[Concatenate[Shiplog, P], R]) -> Callable[P, R]:
        @with_appcontext
        @functools.wraps(command)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            shiplog = shiplog_state()
            prepare(shiplog, analyze=analyze, chat=chat)
            return command(shiplog, *args, **kwargs)

        return run

    return decorate


def prepare(shiplog: Shiplog, *, analyze: bool = False, chat: bool = False) -> None:
    """Upgrade the database; refresh its planner statistics if `analyze`; load the config's
    chat setup if `chat`."""
    upgrade(shiplog.db.engine)
    if analyze:
        shiplog.db.analyze()
    if chat:
        load_chat_config(shiplog)


def load_chat_config(shiplog: Shiplog) -> None:
    """Bring the config's channels and subscriptions into the database now, once in this
    process (a web process does it in its first ingest), or stop with what is wrong."""
    try:
        shiplog.intake.ready(shiplog.db)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
