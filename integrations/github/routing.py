"""Routing GitHub deliveries: one handler per (event, action), registered on a Router.

As gidgethub's and bedevere's routers do: each subject module keeps its own `router`, and
one Router composed of them all (`integrations.github.events.ROUTER`) routes deliveries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from feed.builds import ResultRecord
from feed.ingest import IssueSeen
from feed.pulls import PullRecord
from feed.store import EventRecord

Key = tuple[str, str | None]  # (event, action); action None: the event has no actions


@dataclass(frozen=True)
class Context:
    """What the handlers need to know about this installation."""

    incident_label: str


@dataclass(frozen=True)
class IssueSnapshot(IssueSeen):
    """An incident issue as one delivery saw it, with how many comments it had then."""

    comments: int = 0

    def but(self, **changes: Any) -> IssueSnapshot:
        return replace(self, **changes)


@dataclass
class Routed:
    """What a delivery means for the timeline."""

    records: list[EventRecord] = field(default_factory=list)
    replace: bool = False
    deletions: list[str] = field(default_factory=list)
    ignored: str | None = None
    repo: dict[str, Any] | None = None
    # A branch whose history the payload may not hold in full, to be read from the API.
    reconcile: tuple[str, str] | None = None
    # The incident's issue as this delivery shows it (title, labels, still an incident?).
    snapshot: IssueSnapshot | None = None
    # Finished CI results (integrations/github/builds.py).
    results: list[ResultRecord] = field(default_factory=list)
    # Merged pull requests, context for their commits (integrations/github/pulls.py).
    pulls: list[PullRecord] = field(default_factory=list)


DeliveryHandler = Callable[[dict[str, Any], Context], Routed]


class Router:
    """Handlers by (event, action); composing routers joins theirs.

    A key has exactly one handler: registering a second one for the same (event, action),
    or mixing an any-action handler with per-action ones for one event, is an error.
    """

    def __init__(self, *routers: Router) -> None:
        self._handlers: dict[Key, DeliveryHandler] = {}
        for router in routers:
            for key, handler in router.routes.items():
                self._add(key, handler)

    @property
    def routes(self) -> Mapping[Key, DeliveryHandler]:
        """Every (event, action) this router knows, with its handler."""
        return dict(self._handlers)

    def register(
        self, event: str, action: str | None = None
    ) -> Callable[[DeliveryHandler], DeliveryHandler]:
        """Register the decorated function for `event` with `action` (None: any action)."""

        def add(handler: DeliveryHandler) -> DeliveryHandler:
            self._add((event, action), handler)
            return handler

        return add

    def handler(self, event: str, action: str | None) -> DeliveryHandler | None:
        """The one handler of `event` with `action`, or None when nothing handles it."""
        return self._handlers.get((event, action)) or self._handlers.get((event, None))

    def _add(self, key: Key, handler: DeliveryHandler) -> None:
        event, action = key
        clash = key in self._handlers or any(
            known == event and (action is None) != (other is None)
            for known, other in self._handlers
        )
        if clash:
            raise ValueError(f"github routing: {event}.{action or '*'} has a handler already")
        self._handlers[key] = handler
