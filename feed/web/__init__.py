"""The web surfaces of the timeline: pages, feeds, the JSON API and health.

What an integration's own views may use of the web layer is exported here, and only that.
"""

from __future__ import annotations

from flask import Flask

from feed.web import admin, api, health, incidents, ops, pages, people, syndication_views
from feed.web.access import register_access_log
from feed.web.admin import SyncJobs
from feed.web.auth import admin_only, register_auth
from feed.web.errors import register_error_handlers
from feed.web.helpers import json_object, register_template_helpers
from feed.web.listing import absolute, listing_url
from feed.web.security import register_security_headers

__all__ = ["SyncJobs", "absolute", "admin_only", "json_object", "listing_url", "register"]


def register(
    app: Flask,
    *,
    signed_endpoints: frozenset[str] = frozenset(),
    sync_jobs: SyncJobs | None = None,
) -> None:
    """Attach the core's blueprints, template helpers, error pages, security headers,
    sign-in and access log to `app`. Integrations say what the core cannot know:
    `signed_endpoints` check their own signatures (no sign-in, no CSRF token), and
    `sync_jobs` are the jobs the admin's sync view counts."""
    register_access_log(app)
    register_security_headers(app)
    register_auth(app, signed_endpoints)
    for module in (pages, syndication_views, api, incidents, health, ops, people):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(admin.make_blueprint(sync_jobs or SyncJobs()))
    register_template_helpers(app)
    register_error_handlers(app)
