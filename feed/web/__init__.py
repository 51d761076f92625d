"""The web surfaces of the timeline: pages, feeds, the JSON API and health."""

from __future__ import annotations

from flask import Flask

from feed.web import admin, api, incidents, ops, pages, people, syndication_views
from feed.web.access import register_access_log
from feed.web.auth import register_auth
from feed.web.errors import register_error_handlers
from feed.web.helpers import register_template_helpers
from feed.web.security import register_security_headers


def register(app: Flask, *, signed_endpoints: frozenset[str] = frozenset()) -> None:
    """Attach the core's blueprints, template helpers, error pages, security headers,
    sign-in and access log to `app`; `signed_endpoints` check their own signatures."""
    register_access_log(app)
    register_security_headers(app)
    register_auth(app, signed_endpoints)
    for module in (pages, syndication_views, api, incidents, ops, people, admin):
        app.register_blueprint(module.blueprint)
    register_template_helpers(app)
    register_error_handlers(app)
