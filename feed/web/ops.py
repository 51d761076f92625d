"""Operational endpoints: health."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

blueprint = Blueprint("ops", __name__)
log = logging.getLogger(__name__)


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database answers, 503 when it does not."""
    try:
        current_app.extensions["shiplog"].db.ping()
    except SQLAlchemyError as exc:
        log.error("healthz: database unreachable: %s", type(exc).__name__)
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200
