"""The activity page at scale: every filter, a combination, free text and deep pages.

Each case is a real request to the app in this process (`app.test_client()`), so the time
includes the queries and the rendering of 50 entries, as a reader waits for them.

    .venv/bin/python -m bench.queries sqlite:///bench/timeline.db
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from app import create_app
from feed.state import shiplog_state

RUNS = 50
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
    "three filters": "repo=acme/*&kind=commit&branch=main",
    "three filters with text (a stress case, not a target)": "repo=globex/*&author=dev1*&q=cache",
}


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


def run(url: str) -> dict[str, dict[str, float]]:
    """Every case against the database at `url`, plus the 1,000th page."""
    app = create_app({"DATABASE_URL": url, "TESTING": False})
    client = app.test_client()
    results = {name: timed(client, f"/?{query}") for name, query in CASES.items()}
    cursor = deep_cursor(client, 1000)
    results["1,000th page by cursor"] = timed(client, f"/?cursor={cursor}")
    shiplog_state(app).db.dispose()
    return results


def main() -> None:
    for name, numbers in run(sys.argv[1]).items():
        print(f"{name:28} p50 {numbers['p50']:7.1f} ms   p95 {numbers['p95']:7.1f} ms")


if __name__ == "__main__":
    main()
