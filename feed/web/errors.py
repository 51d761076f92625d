"""Errors answered clearly: JSON for machines, a page for people, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from feed.config import ConfigError
from feed.filters import FilterError
from feed.store import InvalidCursor

log = logging.getLogger(__name__)
MACHINE_PREFIXES = ("/api/", "/webhooks/", "/feed.", "/status.atom", "/healthz", "/metrics")


def register_error_handlers(app: Flask) -> None:
    """Answer bad filters with 400, HTTP errors in the caller's format, a lost database or a
    config that cannot be applied (a bad chat channel, met at the first ingest) with 503."""

    @app.errorhandler(FilterError)
    @app.errorhandler(InvalidCursor)
    def bad_filter(exc: ValueError) -> tuple[Response | str, int]:
        return _answer(400, "Bad request", str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        response = make_response(_answer(exc.code or 500, exc.name, exc.description or exc.name))
        for name, value in exc.get_headers():
            if name.lower() != "content-type":  # keep Allow, Retry-After and the like
                response.headers[name] = value
        return response

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError) -> tuple[Response | str, int]:
        log.error("database: %s", type(exc.orig).__name__ if exc.orig else "unavailable")
        return _answer(503, "Service unavailable", "The database is not answering; try again.")

    @app.errorhandler(ConfigError)
    def misconfigured(exc: ConfigError) -> tuple[Response | str, int]:
        log.error("%s", exc)  # names the setting, never a URL or secret
        return _answer(503, "Service unavailable", f"the configuration must be fixed first: {exc}")


def _answer(status: int, title: str, message: str) -> tuple[Response | str, int]:
    if request.path.startswith(MACHINE_PREFIXES):
        if request.path.startswith(("/feed.", "/status.atom")):
            return Response(message + "\n", status=status, content_type="text/plain"), status
        return jsonify(error=message), status
    return render_template("error.html", status=status, title=title, message=message), status
