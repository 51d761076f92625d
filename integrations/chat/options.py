"""The chat integration's options, read from shiplog's settings: the config file's channels and
subscriptions, the webhook host policy, the links back to shiplog and the delivery jobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import requests
from sqlalchemy.orm import Session

from feed.config import ConfigError, Settings
from feed.state import Shiplog
from feed.worker import Handler
from integrations.chat import delivery
from integrations.chat.hosts import WebhookHosts
from integrations.chat.setup import ChatConfig, ChatConfigError


def chat_config(config: Mapping[str, Any], settings: Settings) -> ChatConfig:
    """The config's [[channels]] and [[subscriptions]] with the webhook host policy."""
    return ChatConfig(config, WebhookHosts(settings.allow_webhook_hosts))


def apply_chat_config(chat: ChatConfig, session: Session) -> None:
    """Bring the config file's channels and subscriptions into the database and retire those
    it no longer lists; what is wrong with them is a config error."""
    try:
        chat.apply(session)
    except ChatConfigError as exc:
        raise ConfigError(f"config: {exc}") from None


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


def delivery_handlers(
    shiplog: Shiplog, http: requests.Session | None = None, *, served_at: str | None = None
) -> dict[str, Handler]:
    """The `digest` and `deliver` jobs for this app's settings (see `chat_links`)."""
    settings = shiplog.settings
    return delivery.handlers(
        shiplog.db,
        **chat_links(settings, served_at),
        http=http,
        hosts=WebhookHosts(settings.allow_webhook_hosts),
    )
