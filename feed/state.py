"""What the views and commands share, and the one typed way to reach it from an app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app
from sqlalchemy.orm import Session
from werkzeug.routing import Map

from feed.config import Settings
from feed.db import Database
from feed.ingest import Intake
from feed.metrics import Metrics
from feed.models import Channel, Subscription
from feed.syndication_cache import FeedCache

EXTENSION = "shiplog"  # the key in `app.extensions`; read it through `shiplog_state` only


class Subscriptions(Protocol):
    """The config file's subscriptions, as the commands look one up (the chat setup)."""

    def find(self, session: Session, name: str) -> tuple[Subscription, Channel] | None: ...


@dataclass
class Shiplog:
    """The settings, database, metrics, chat config and intake of one app, and its URL map
    (links built outside a request, as in chat messages, come from the routes)."""

    settings: Settings
    db: Database
    metrics: Metrics
    chat: Subscriptions
    intake: Intake
    feed_cache: FeedCache
    url_map: Map


def install(app: Flask, state: Shiplog) -> None:
    """Make `state` what `shiplog_state(app)` returns."""
    app.extensions[EXTENSION] = state


def shiplog_state(app: Flask | None = None) -> Shiplog:
    """The shared state of `app`, or of the current app when `app` is None."""
    state: Shiplog = (app if app is not None else current_app).extensions[EXTENSION]
    return state
