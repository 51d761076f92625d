"""GitHub deliveries to timeline records: every subject's router composed into one."""

from __future__ import annotations

from typing import Any

from integrations.github import builds, change_events, incident_events, pulls
from integrations.github.payload import branch_or_none, optional, repo_name
from integrations.github.routing import Context, Routed, Router

pings = Router()


@pings.register("ping")
def ping(payload: dict[str, Any], context: Context) -> Routed:
    return Routed()


ROUTER = Router(pings, change_events.router, incident_events.router, builds.router, pulls.router)


def route(event: str, payload: dict[str, Any], context: Context) -> Routed:
    """What `payload`, delivered as `event`, adds to or changes in the timeline."""
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    handler = ROUTER.handler(event, action)
    if handler is None:
        label = f"{event}.{action}" if action else event
        return Routed(ignored=f"{label} is not something shiplog records")
    routed = handler(payload, context)
    if routed.repo is None and not routed.ignored and isinstance(payload.get("repository"), dict):
        routed.repo = _repository(payload)
    return routed


def _repository(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "full_name": repo_name(payload),
        "html_url": optional(payload, "repository.html_url", str),
        "default_branch": branch_or_none(optional(payload, "repository.default_branch", str)),
    }
