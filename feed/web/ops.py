"""Operational endpoints: health, Prometheus metrics, and the icon browsers ask for."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from prometheus_client import generate_latest
from sqlalchemy.exc import SQLAlchemyError

from feed.state import shiplog_state

blueprint = Blueprint("ops", __name__)
log = logging.getLogger(__name__)
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"  # what every Prometheus reads


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database answers, 503 when it does not."""
    try:
        shiplog_state().db.ping()
    except SQLAlchemyError as exc:
        log.error("healthz: database unreachable: %s", type(exc).__name__)
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200


@blueprint.get("/metrics")
def metrics() -> Response:
    """The Prometheus text format."""
    registry = shiplog_state().metrics.registry
    return Response(generate_latest(registry), content_type=TEXT_FORMAT)


@blueprint.get("/favicon.ico")
def favicon() -> Response:
    """The site icon, for browsers that ask the root (feeds shown as XML have no icon link)."""
    return send_from_directory(
        current_app.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400
    )
