"""The chat integration's options, read from shiplog's settings: the config file's channels and
subscriptions, the webhook host policy, the links back to shiplog and the delivery jobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import requests
from sqlalchemy.orm import Session

from feed.config import ConfigError, Settings
from feed.state import Shiplog
from feed.web.listing import listing_query
from feed.worker import Handler
from integrations.chat import delivery, people_problem
from integrations.chat.hosts import WebhookHosts
from integrations.chat.setup import ChatConfig, ChatConfigError

DEFAULT_SERVED_AT = "http://127.0.0.1:8000"  # where `shiplog run` serves by default


def chat_config(config: Mapping[str, Any], settings: Settings) -> ChatConfig:
    """The config's [[channels]] and [[subscriptions]] with the webhook host policy; a
    handle in [people] that its platform could not read is a config error."""
    problem = people_problem(settings.people)
    if problem:
        raise ConfigError(f"config: {problem}")
    return ChatConfig(config, WebhookHosts(settings.allow_webhook_hosts))


def apply_chat_config(chat: ChatConfig, session: Session) -> None:
    """Bring the config file's channels and subscriptions into the database and retire those
    it no longer lists; what is wrong with them is a config error."""
    try:
        chat.apply(session)
    except ChatConfigError as exc:
        raise ConfigError(f"config: {exc}") from None


def chat_links(shiplog: Shiplog, served_at: str | None = None) -> dict[str, Callable[[Any], str]]:
    """How chat messages link back: to events, filtered listings and incidents, built from
    the app's routes as the pages build theirs, on SHIPLOG_BASE_URL; without it, on the
    address this process serves (`served_at`, given by `shiplog run`), or else the one
    `shiplog run` serves by default."""
    base = shiplog.settings.base_url or served_at or DEFAULT_SERVED_AT
    routes = shiplog.url_map.bind("shiplog")  # paths only: `base` says where they are

    def link(endpoint: str, **values: Any) -> str:
        return base + routes.build(endpoint, values)

    return {
        "event_url": lambda event: link("pages.event", event_id=event.id),
        "listing_url": lambda rule: link("pages.activity") + listing_query(rule),
        "incident_url": lambda incident: link("incidents.incident", incident_id=incident.id),
    }


def delivery_handlers(
    shiplog: Shiplog,
    http: requests.Session | None = None,
    *,
    served_at: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> dict[str, Handler]:
    """The `digest` and `deliver` jobs for this app's settings (see `chat_links`); tests may
    give them a `clock`."""
    settings = shiplog.settings
    return delivery.handlers(
        shiplog.db,
        **chat_links(shiplog, served_at),
        http=http,
        hosts=WebhookHosts(settings.allow_webhook_hosts),
        clock=clock,
        people=settings.people,
    )
