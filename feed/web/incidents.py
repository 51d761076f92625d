"""Incident pages, the status page, and their JSON and Atom forms."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select

from feed import correlation, health, status, syndication, uptime
from feed.incidents import is_overdue, of_incident, parse_note
from feed.models import Event, Incident
from feed.state import shiplog_state
from feed.timefmt import iso_utc
from feed.web.listing import absolute
from feed.web.syndication_views import conditional, tag_authority

blueprint = Blueprint("incidents", __name__)


@blueprint.get("/incidents/<int:incident_id>")
def incident(incident_id: int) -> str:
    """The incident's story, and the changes before it broke."""
    choice = request.args.get("window", "24h")
    if choice not in correlation.WINDOWS:
        abort(400, description=f"window: use one of {', '.join(correlation.WINDOWS)}")
    shiplog = shiplog_state()
    settings = shiplog.settings
    now = datetime.now(UTC)
    with shiplog.db.read() as session:
        found = session.get(Incident, incident_id) if incident_id < 2**63 else None
        if found is None:
            abort(404, description=f"There is no incident {incident_id}.")
        updates = list(
            session.scalars(
                select(Event).where(of_incident(found.uid)).order_by(Event.occurred_at, Event.id)
            )
        )
        changes = correlation.changes_around(
            session,
            found,
            window=correlation.WINDOWS[choice],
            components=settings.components,
            now=now,
        )
        last_deploy = health.last_deploy_before(session, found.opened_at, found.repo)
    notes = {event.id: parse_note(event.body, settings.incident_rules) for event in updates}
    return render_template(
        "incident.html",
        incident=found,
        updates=updates,
        notes=notes,
        changes=changes,
        last_deploy=last_deploy,
        window=choice,
        windows=correlation.WINDOWS,
        overdue=is_overdue(found, now),
        duration=status.duration(found, now),
        now=now,
    )


@blueprint.get("/status")
def status_page() -> str:
    """Open incidents, each component's state and 90-day bar, and the last 30 days."""
    shiplog = shiplog_state()
    summary, now = _summary()
    with shiplog.db.read() as session:
        in_window = uptime.incidents_in_window(session, now)
    bars = uptime.bars(in_window, shiplog.settings.components, shiplog.settings.incident_rules, now)
    return render_template(
        "status.html", summary=summary, bars=bars, now=now, duration=status.duration
    )


@blueprint.get("/api/status")
def status_json() -> Response:
    summary, now = _summary()
    response = jsonify(
        open=[
            {
                **incident_json(item.incident, now),
                "latest_update": item.latest_note,
                "overdue": item.overdue,
            }
            for item in summary.open
        ],
        components=[
            {
                "name": c.name,
                "status": c.incident.status if c.incident else "operational",
                "severity": c.incident.severity if c.incident else None,
                "incident": c.incident.id if c.incident else None,
            }
            for c in summary.components
        ],
        recent=[incident_json(i, now) for i in summary.recent],
    )
    return _conditional_json(response)


@blueprint.get("/api/incidents/<int:incident_id>")
def incident_detail_json(incident_id: int) -> Response:
    """One incident and its updates; open incident pages poll it."""
    now = datetime.now(UTC)
    with shiplog_state().db.read() as session:
        found = session.get(Incident, incident_id) if incident_id < 2**63 else None
        if found is None:
            abort(404, description=f"There is no incident {incident_id}.")
        events = session.scalar(select(func.count()).where(of_incident(found.uid)))
        document = incident_json(found, now)
    document["events"] = events
    document.pop("duration_seconds")  # it moves with the clock, not with the incident
    return _conditional_json(jsonify(document))


@blueprint.get("/api/incidents")
def incidents_json() -> Response:
    """Every incident, newest first."""
    now = datetime.now(UTC)
    with shiplog_state().db.read() as session:
        rows = list(session.scalars(select(Incident).order_by(Incident.opened_at.desc())))
    return jsonify(incidents=[incident_json(i, now) for i in rows])


@blueprint.get("/status.atom")
def status_feed() -> Response:
    """One entry per incident, updated in place."""
    shiplog = shiplog_state()
    summary, _now = _summary()
    shown = {i.uid: i for i in summary.recent} | {o.incident.uid: o.incident for o in summary.open}
    ordered = sorted(shown.values(), key=lambda i: (i.opened_at, i.id), reverse=True)
    with shiplog.db.read() as session:
        notes = status.latest_notes(session, ordered, shiplog.settings.incident_rules)
    meta = syndication.FeedMeta(
        title="shiplog status",
        description="Incidents: one entry each, updated as they change.",
        self_url=absolute(url_for("incidents.status_feed")),
        home_url=absolute(url_for("incidents.status_page")),
        feed_key="status",
        tag_authority=tag_authority(),
        incident_url=lambda i: absolute(url_for("incidents.incident", incident_id=i.id)),
    )
    body = syndication.status_atom(ordered, notes, meta)
    updated = syndication.last_modified_of([i.updated_at for i in ordered])
    return conditional(body, syndication.ATOM_TYPE, updated)


def incident_json(incident: Incident, now: datetime) -> dict[str, Any]:
    return {
        "id": incident.id,
        "uid": incident.uid,
        "repo": incident.repo,
        "number": incident.number,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "components": incident.components,
        "opened_at": iso_utc(incident.opened_at),
        "resolved_at": iso_utc(incident.resolved_at) if incident.resolved_at else None,
        "updated_at": iso_utc(incident.updated_at),
        "duration_seconds": int(status.duration(incident, now).total_seconds()),
        "next_update_at": iso_utc(incident.next_update_at) if incident.next_update_at else None,
        "overdue": is_overdue(incident, now),
        "postmortem_url": incident.postmortem_url,
        "active": incident.active and incident.status != "resolved",
        "withdrawn": not incident.active,
        "url": incident.url,
        "html_url": absolute(url_for("incidents.incident", incident_id=incident.id)),
    }


def _conditional_json(response: Response) -> Response:
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    return response.make_conditional(request)


def _summary() -> tuple[status.Summary, datetime]:
    shiplog = shiplog_state()
    now = datetime.now(UTC)
    with shiplog.db.read() as session:
        summary = status.summarize(
            session, shiplog.settings.incident_rules, shiplog.settings.components, now
        )
    return summary, now
