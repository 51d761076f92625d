"""The access log: one line per request on `shiplog.http`; never a query string or a body."""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, Response, g, request

log = logging.getLogger("shiplog.http")
# Asked every few seconds by probes and Prometheus: logged only when they answer an error.
QUIET_PATHS = frozenset({"/healthz", "/metrics"})
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def register_access_log(app: Flask) -> None:
    """Time every request of `app` and log it once it is answered."""
    app.before_request(_start)
    app.after_request(_log)


def _start() -> None:
    g.access_started = time.perf_counter()


def _log(response: Response) -> Response:
    status = response.status_code
    if request.path in QUIET_PATHS and status < 400:
        return response
    started = g.pop("access_started", None)
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else 0.0
    # The path only: query strings may carry tokens. Escaped, so that no path forges a line.
    path = CONTROL.sub(lambda char: f"\\x{ord(char.group()):02x}", request.path)
    fields = {"method": request.method, "path": path, "status": status, "duration_ms": duration_ms}
    log.info("http: %s %s %d in %.1f ms", request.method, path, status, duration_ms, extra=fields)
    return response
