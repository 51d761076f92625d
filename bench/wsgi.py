"""The app as `bench/web.py` serves it with gunicorn, plus one bench-only route: /bench/static."""

from __future__ import annotations

from flask import Flask, Response, request

from app import create_app


def bench_app() -> Flask:
    """shiplog's app from SHIPLOG_* variables, with /bench/static added.

    /bench/static answers with the bytes and content type /feed.atom had when it was first
    asked, kept as a constant: the cost of serving a feed-sized body through the same app and
    server, with no database or rendering behind it.
    """
    app = create_app()
    kept: dict[str, bytes | str] = {}

    @app.get("/bench/static")
    def bench_static() -> Response:
        if not kept:
            # The same host as the caller's, so the absolute URLs in the feed, and with
            # them the length, match what /feed.atom answers over this server.
            feed = app.test_client().get("/feed.atom", base_url=request.host_url)
            kept.update(body=feed.get_data(), content_type=feed.content_type)
        return Response(kept["body"], content_type=kept["content_type"])

    return app


app = bench_app()
