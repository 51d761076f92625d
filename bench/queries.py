"""The activity page at scale: every filter alone, and every pair and triple of filters.

Each case is a real request to the app in this process (`app.test_client()`), so the time
includes the queries and the rendering of 50 entries, as a reader waits for them. The
named cases are timed `RUNS` times each; the generated shapes (`shapes()`: every pair and
triple of filters, each with values that match many, few and none, on the first page and on
a deep page by cursor) `SHAPE_RUNS` times each, and summed up by their worst case (with the
plan of its slowest statement) and the 99th percentile over all of them.

    .venv/bin/python -m bench.queries sqlite:///bench/timeline.db
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import combinations
from typing import Any

from sqlalchemy import event, select, text

from app import create_app
from feed.heap import freeze_startup
from feed.models import Event
from feed.state import shiplog_state
from feed.store import encode_cursor

RUNS = 20
PUSHES = 20
SHAPE_RUNS = 1  # each generated shape: one request after a warm-up (1,656 shapes: time)
RECHECK_MS = 50.0  # a shape this slow on that request is timed RUNS times; its p95 counts
COLD_MS = 1000.0  # a warm-up this slow is a cold first request, listed apart
SHAPE_BUDGET = 300.0  # seconds for the generated shapes on one database
CASES: dict[str, str] = {
    "first page": "",
    "repo (busy)": "repo=acme/api",
    "repo (quiet)": "repo=aperture/edge",
    "repo glob": "repo=stark/*",
    "kind revert": "kind=revert",
    "kind incident": "kind=incident",
    "branch main": "branch=main",
    "branch glob": "branch=release/*",
    "author": "author=dev042",
    "author by git name": "author=Developer 042",
    "no bots": "bots=exclude",
    "path glob": "path=db/migrations/*",
    "since/until (one week)": "since=2025-03-01T00:00:00Z&until=2025-03-08T00:00:00Z",
    "around incidents": "around=incidents",
    "free text (common)": "q=timeout",
    "free text (rare)": "q=deadlock",
    "free text (none)": "q=no such text",
    "two-word free text": "q=session timeout",
    "three filters": "repo=acme/*&kind=commit&branch=main",
    "kind and branch with nothing in common": "kind=force_push&branch=feature/*",
    "kind, repo glob and path glob": "kind=deployment&repo=acme/*&path=src/*",
    "repo glob and free text": "repo=globex/*&q=cache",
    "three filters with text": "repo=globex/*&author=dev1*&q=cache",
    # The feeds and the API: a path of its own.
    "Atom feed, three filters with text": "/feed.atom?repo=globex/*&author=dev1*&q=cache",
    "JSON Feed, bots' events with text": "/feed.json?author=*[bot]&q=timeout",
    "JSON API, a kind and two-word text": "/api/events?kind=deployment&q=session timeout",
}

# Each filter's values that match many events, few, and none in `bench.dataset`'s timeline.
# `q` (one word) and `text` (two words) are the same filter: never combined.
VALUES: dict[str, dict[str, str]] = {
    "repo": {"many": "repo=acme/*", "few": "repo=aperture/edge", "none": "repo=nobody/*"},
    "kind": {"many": "kind=deployment", "few": "kind=force_push", "none": "kind=build"},
    "branch": {"many": "branch=feature/*", "few": "branch=release/3.x", "none": "branch=hotfix/*"},
    "author": {"many": "author=*[bot]", "few": "author=dev042", "none": "author=nobody"},
    "path": {
        "many": "path=src/*",
        "few": "path=db/migrations/race_condition_*",
        "none": "path=vendor/*",
    },
    "q": {"many": "q=timeout", "few": "q=deadlock", "none": "q=zeppelin"},
    "text": {"many": "q=session timeout", "few": "q=memory leak", "none": "q=no such text"},
    "time": {
        "many": "since=2025-11-01",
        "few": "since=2026-03-01&until=2026-03-02",
        "none": "until=2023-01-01",
    },
    "bots": {"many": "bots=exclude"},
    "around": {"many": "around=incidents"},
}
EXCLUSIVE = {frozenset({"q", "text"})}


def shapes() -> dict[str, str]:
    """Every pair and triple of filters: all with values that match many, then each filter in
    turn with values that match few, then none (the others many). Name -> query string."""
    found: dict[str, str] = {}
    for size in (2, 3):
        for names in combinations(VALUES, size):
            if any(pair <= set(names) for pair in EXCLUSIVE):
                continue
            variants = [dict.fromkeys(names, "many")]
            for name in names:
                variants += [
                    {**dict.fromkeys(names, "many"), name: amount}
                    for amount in ("few", "none")
                    if amount in VALUES[name]
                ]
            for variant in variants:
                label = " & ".join(f"{name} {amount}" for name, amount in variant.items())
                found[label] = "&".join(VALUES[name][amount] for name, amount in variant.items())
    return found


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(client: Any, url: str, runs: int = RUNS) -> dict[str, float]:
    """p50 and p95 in milliseconds of `runs` requests for `url`, after one warm-up."""
    client.get(url)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code}")
    return {"p50": statistics.median(samples), "p95": percentile(samples, 0.95)}


def deep_cursor(client: Any, pages: int) -> str:
    """The cursor of page number `pages` of the whole timeline, by following the JSON API."""
    cursor = ""
    for _ in range(pages - 1):
        body = client.get(f"/api/events?limit=50&cursor={cursor}").get_json()
        cursor = body["next_cursor"]
    return cursor


def middle_cursor(app: Any) -> str:
    """A cursor halfway back in time: every filter's page after it is a deep page."""
    db = shiplog_state(app).db
    with db.read() as session:
        newest = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 2
        return encode_cursor(session.get(Event, newest // 2))


def run(url: str) -> dict[str, Any]:
    """Every named case against the database at `url`, plus the 1,000th page; then every
    generated shape on the first page and after a cursor halfway back; the index sizes."""
    app = create_app({"DATABASE_URL": url, "TESTING": False})
    freeze_startup()  # as `shiplog run` and gunicorn.conf.py do before serving
    client = app.test_client()
    results: dict[str, Any] = {
        name: timed(client, query if query.startswith("/") else f"/?{query}")
        for name, query in CASES.items()
    }
    cursor = deep_cursor(client, 1000)
    results["1,000th page by cursor"] = timed(client, f"/?cursor={cursor}")
    generated = generated_shapes(app, client)
    shiplog_state(app).db.dispose()
    return {
        "cases": results,
        "shapes": generated,
        "indexes": index_sizes(url),
        "ingest": ingest_pushes(url),
    }


def ingest_pushes(url: str, pushes: int = PUSHES) -> dict[str, float]:
    """Milliseconds to accept a signed 20-commit push (`bench.web.push_delivery`) through the
    app with every index in place; the events, jobs and deliveries they made are removed
    afterwards, so the timeline is as it was."""
    from bench import web

    app = create_app({"DATABASE_URL": url, "GITHUB_WEBHOOK_SECRET": web.SECRET, "TESTING": True})
    client = app.test_client()
    db = shiplog_state(app).db
    with db.read() as session:
        last = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0
    samples = []
    try:
        for n in range(2_000_000, 2_000_000 + pushes):
            body, headers = web.push_delivery(n)
            started = time.perf_counter()
            response = client.post("/webhooks/github", data=body, headers=headers)
            samples.append((time.perf_counter() - started) * 1000)
            if response.status_code not in (200, 202):
                raise RuntimeError(f"bench queries: push answered {response.status_code}")
    finally:
        with db.write() as session:
            session.execute(text("DELETE FROM events WHERE id > :last"), {"last": last})
            session.execute(text("DELETE FROM jobs"))
            session.execute(text("DELETE FROM webhook_deliveries"))
            session.execute(text("DELETE FROM author_aliases WHERE login = 'mara'"))
        db.dispose()
    return {"p50": statistics.median(samples), "p95": percentile(samples, 0.95)}


def generated_shapes(
    app: Any, client: Any, runs: int = SHAPE_RUNS, budget: float = SHAPE_BUDGET
) -> dict[str, Any]:
    """Each generated shape's slowest of `runs` (ms) after a warm-up, on the first page and a
    deep one, and for a shape at `RECHECK_MS` or more, its p95 of `RUNS` (one request is a
    noisy sample of a shape's time); the worst with the plan of its slowest statement; the
    p99 over all shapes; the warm-ups over `COLD_MS` (first requests on a cold cache).

    The shapes go in a shuffled (seeded) order and stop after `budget` seconds, so a run cut
    short still samples every kind of shape; `count` says how many were measured, of
    `total`."""
    deep = middle_cursor(app)
    times: dict[str, float] = {}
    cold: dict[str, float] = {}
    rechecked = 0
    every = [
        (f"{name} ({page})", f"/?{query}{suffix}")
        for name, query in shapes().items()
        for page, suffix in (("first page", ""), ("deep page", f"&cursor={deep}"))
    ]
    random.Random(15).shuffle(every)
    stop = time.perf_counter() + budget
    for name, url in every:
        if time.perf_counter() > stop:
            break
        started = time.perf_counter()
        client.get(url)
        warm_up = (time.perf_counter() - started) * 1000
        if warm_up > COLD_MS:
            cold[name] = warm_up
        times[name] = max(timed(client, url, runs).values())
        if times[name] >= RECHECK_MS:
            times[name] = timed(client, url)["p95"]
            rechecked += 1
    worst = max(times, key=times.__getitem__)
    query = shapes()[worst.rsplit(" (", 1)[0]]
    url = f"/?{query}&cursor={deep}" if worst.endswith("(deep page)") else f"/?{query}"
    return {
        "count": len(times),
        "total": len(every),
        "p50": statistics.median(times.values()),
        "p99": percentile(list(times.values()), 0.99),
        "worst": worst,
        "worst_ms": times[worst],
        "worst_query": url,
        "worst_plan": slowest_plan(app, client, url),
        "over_50": sorted((ms, name) for name, ms in times.items() if ms >= 50)[::-1],
        "rechecked": rechecked,
        "cold": sorted((ms, name) for name, ms in cold.items())[::-1],
    }


def slowest_plan(app: Any, client: Any, url: str) -> str:
    """The plan of the slowest statement one request for `url` runs."""
    engine = shiplog_state(app).db.engine
    with _statements(engine) as seen:
        client.get(url)
    statement, parameters, _ = max(seen, key=lambda item: item[2])
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(explain + statement, parameters).all()
    if engine.dialect.name == "sqlite":
        return "; ".join(row[-1] for row in rows)
    return "; ".join(" ".join(row[0].split()) for row in rows)


@contextmanager
def _statements(engine: Any) -> Iterator[list[tuple[str, Any, float]]]:
    """(statement, parameters, seconds) of each statement run on `engine` meanwhile."""
    seen: list[tuple[str, Any, float]] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append((statement, parameters, time.perf_counter() - conn.info["bench_started"]))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def index_sizes(url: str) -> dict[str, int]:
    """Bytes of each index on the timeline's tables (and SQLite's search index)."""
    app = create_app({"DATABASE_URL": url, "TESTING": False})
    engine = shiplog_state(app).db.engine
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(
                text(
                    "SELECT s.name, sum(s.pgsize) FROM dbstat s "
                    "LEFT JOIN sqlite_schema m ON m.name = s.name "
                    "WHERE m.type = 'index' AND m.tbl_name IN ('events', 'event_files') "
                    "OR s.name LIKE 'events_search%' GROUP BY s.name"
                )
            ).all()
        else:
            rows = connection.execute(
                text(
                    "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
                    "WHERE relname IN ('events', 'event_files') AND schemaname = current_schema()"
                )
            ).all()
    shiplog_state(app).db.dispose()
    return {name: int(size) for name, size in sorted(rows, key=lambda row: -row[1])}


def main() -> None:
    results = run(sys.argv[1])
    for name, numbers in results["cases"].items():
        print(f"{name:40} p50 {numbers['p50']:7.1f} ms   p95 {numbers['p95']:7.1f} ms")
    generated = results["shapes"]
    print(
        f"{generated['count']} generated shapes: p50 {generated['p50']:.1f} ms, "
        f"p99 {generated['p99']:.1f} ms, worst {generated['worst_ms']:.1f} ms: "
        f"{generated['worst']}\n  {generated['worst_query']}\n  {generated['worst_plan']}"
    )
    for ms, name in generated["over_50"]:
        print(f"  over 50 ms: {ms:7.1f} {name}")
    ingest = results["ingest"]
    print(f"20-commit push: p50 {ingest['p50']:.1f} ms, p95 {ingest['p95']:.1f} ms")
    total = sum(results["indexes"].values())
    print(f"indexes: {total / 2**20:.0f} MiB: {results['indexes']}")


if __name__ == "__main__":
    main()
