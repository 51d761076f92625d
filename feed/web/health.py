"""/health and /api/health: what is broken now, each with its last good version."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from jinja2 import Template
from markupsafe import Markup
from sqlalchemy.orm import Session

from feed import health, pulls
from feed.models import PullRequest
from feed.state import shiplog_state
from feed.timefmt import iso_utc
from feed.web.listing import absolute

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health_page() -> str:
    """Failing checks, failed deployments and open incidents, or a plain "all clear"."""
    now = datetime.now(UTC)
    with shiplog_state().db.read() as session:
        found = health.report(session, now)
        return render_template("health.html", report=found, now=now, via=_via(session, found))


@blueprint.app_template_global()
def strip_svg(marks: tuple[health.Mark, ...]) -> Markup:
    """A check's strip of recent results (`_strip.html`). The strips are the same on every
    request until a result comes in, and drawing their marks was a third of the page's
    rendering, so each distinct list of marks is drawn once."""
    return _drawn(current_app.jinja_env.get_template("_strip.html"), marks)


@lru_cache(maxsize=1024)
def _drawn(template: Template, marks: tuple[health.Mark, ...]) -> Markup:
    """`marks` drawn by `template` (a changed template file is a new template object)."""
    return Markup(template.render(marks=marks))  # the template escapes what it shows


@blueprint.get("/api/health")
def health_json() -> Response:
    """The same as /health, as JSON (its shape is in the README)."""
    now = datetime.now(UTC)
    with shiplog_state().db.read() as session:
        found = health.report(session, now)
        via = _via(session, found)
        document = {
            "ok": found.ok,
            "failing": [
                _failing(branch, item, via) for branch in found.branches for item in branch.checks
            ],
            "branches": [
                {"repo": b.repo, "branch": b.branch, "last_good": _version(b.last_good, now)}
                for b in found.branches
            ],
            "environments": [_environment(env, now) for env in found.environments],
            "incidents": [
                {
                    "id": item.incident.id,
                    "title": item.incident.title,
                    "severity": item.incident.severity,
                    "status": item.incident.status,
                    "opened_at": iso_utc(item.incident.opened_at),
                    "html_url": absolute(
                        url_for("incidents.incident", incident_id=item.incident.id)
                    ),
                    "last_good_deploy": _last_deploy(item.last_deploy, now),
                }
                for item in found.incidents
            ],
        }
    return jsonify(document)


def _via(session: Session, found: health.Report) -> Mapping[int, PullRequest]:
    """The merged PR that brought each suspect on the report, by event id."""
    suspects = [s.event for b in found.branches for item in b.checks for s in item.suspects]
    return pulls.via(session, suspects)


def _failing(
    branch: health.BrokenBranch, item: health.Failing, via: Mapping[int, PullRequest]
) -> dict[str, Any]:
    broken = item.broken
    return {
        "repo": branch.repo,
        "branch": branch.branch,
        "check": item.check,
        "since": iso_utc(broken.occurred_at),
        "first_failing": broken.sha,
        "broken_event": absolute(url_for("pages.event", event_id=broken.id)),
        "last_good": _version(item.last_good, None),
        "revert": item.revert,
        "suspects": [
            {
                "sha": s.event.sha,
                "title": s.event.title,
                "author": s.event.actor,
                "verdict": s.verdict,
                "html_url": absolute(url_for("pages.event", event_id=s.event.id)),
                "pull": pulls.as_json(via.get(s.event.id)),
            }
            for s in item.suspects
        ],
        "more_suspects": item.more,
        "recent": [_mark(commit) for commit in item.strip],
    }


def _environment(env: health.Environment, now: datetime) -> dict[str, Any]:
    current = env.current
    return {
        "repo": env.repo,
        "environment": env.name,
        "state": env.state,
        "sha": current.sha,
        "at": iso_utc(current.occurred_at),
        "html_url": absolute(url_for("pages.event", event_id=current.id)),
        "last_good": _version(env.last_good, now),
        "ahead_commits": env.ahead_commits,
        "ahead_more": env.ahead_more,
        "ahead_seconds": int(env.ahead_time.total_seconds()) if env.ahead_time else None,
        "rollback": env.rollback,
    }


def _last_deploy(deploy: health.LastDeploy | None, now: datetime) -> dict[str, Any] | None:
    if deploy is None:
        return None
    return {
        "environment": deploy.environment,
        **(_version(deploy.version, now) or {}),
        "before_opened_seconds": int(deploy.before.total_seconds()),
        "rollback": deploy.rollback,
    }


def _version(version: health.Version | None, now: datetime | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {
        "sha": version.sha,
        "at": iso_utc(version.at) if version.at else None,
        "url": version.url,
    }


def _mark(commit: health.Mark) -> dict[str, Any]:
    return {"sha": commit.sha, "verdict": commit.verdict}
