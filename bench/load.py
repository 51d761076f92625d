"""Load: webhook senders and page, feed and API readers at once against gunicorn.

Afterwards the timeline must hold exactly the commits whose deliveries were accepted: none
lost, none doubled; and no answer may be a 5xx. `make bench` runs a minute on SQLite and on
PostgreSQL; `tests/test_load.py` runs a few seconds of the same in CI.

    .venv/bin/python -m bench.load 60
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import web
from bench.databases import postgres_schema, postgres_url
from feed.db import Database
from feed.migrate import upgrade
from feed.models import Event

READS = {
    "GET / (page)": "/",
    "GET /?repo=…&kind=commit": "/?repo=acme/api&kind=commit",
    "GET /feed.atom": "/feed.atom",
    "GET /api/events": "/api/events?limit=20",
}
PUSH = "POST /webhooks/github (20 commits)"


def run(
    url: str,
    seconds: float = 60.0,
    senders: int = 8,
    readers: int = 8,
    workers: int = 4,
    env: dict[str, str] | None = None,
    secrets: Collection[str] = (),
) -> dict[str, Any]:
    """Load the app at `url` (migrated here) for `seconds`; the answers and the check.
    `env` adds SHIPLOG_* settings to the server's; `secrets_seen` names each of `secrets`
    found in an answer (headers or body) or in the server's output."""
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    tally = _Tally(secrets)
    with tempfile.TemporaryDirectory() as tmp:
        with web.gunicorn(url, Path(tmp), workers, env) as server:
            stop = time.monotonic() + seconds
            threads = [
                threading.Thread(target=_send, args=(server, n, stop, tally))
                for n in range(senders)
            ] + [
                threading.Thread(target=_read, args=(server, n, stop, tally))
                for n in range(readers)
            ]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - began
        tally.scan("server output", server.log.read_text(errors="replace"))
    db = Database(url)
    with db.read() as session:
        stored = session.scalar(
            select(func.count()).select_from(Event).where(Event.repo == web.PUSH_REPO)
        )
        distinct = session.scalar(
            select(func.count(func.distinct(Event.sha))).where(Event.repo == web.PUSH_REPO)
        )
    db.dispose()
    return {
        "seconds": elapsed,
        "endpoints": {
            name: tally.summary(name, elapsed) for name in (PUSH, *READS) if tally.latencies[name]
        },
        "server_errors": sum(n for (_, status), n in tally.statuses.items() if status >= 500),
        "statuses": {f"{name} {status}": n for (name, status), n in tally.statuses.items()},
        "commits_accepted": tally.accepted,
        "commits_stored": stored,
        "commits_distinct": distinct,
        "secrets_seen": sorted(tally.secrets_seen),
    }


class _Tally:
    def __init__(self, secrets: Collection[str] = ()) -> None:
        self.secrets = tuple(secrets)
        self.secrets_seen: set[str] = set()
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.accepted = 0

    def add(self, name: str, status: int, seconds: float, accepted: int = 0) -> None:
        with self.lock:
            self.latencies[name].append(seconds)
            self.statuses[name, status] += 1
            self.accepted += accepted

    def scan(self, where: str, text: str) -> None:
        found = {f"{where}: {secret}" for secret in self.secrets if secret in text}
        with self.lock:
            self.secrets_seen |= found

    def scan_answer(self, name: str, answer: web._Answer) -> None:
        if self.secrets:
            headers = "".join(f"{key}: {value}\n" for key, value in answer.headers.items())
            self.scan(name, headers + answer.body.decode("utf-8", "replace"))

    def summary(self, name: str, elapsed: float) -> dict[str, float]:
        ordered = sorted(self.latencies[name])
        return {
            "requests": len(ordered),
            "per_second": len(ordered) / elapsed,
            "p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)] * 1000,
        }


def _send(server: web.Server, sender: int, stop: float, tally: _Tally) -> None:
    n = sender * 1_000_000
    while time.monotonic() < stop:
        body, headers = web.push_delivery(n)
        n += 1
        began = time.monotonic()
        answer = web.request(server, "POST", "/webhooks/github", headers, body)
        tally.scan_answer(PUSH, answer)
        created = json.loads(answer.body).get("events_created", 0) if answer.status < 300 else 0
        tally.add(PUSH, answer.status, time.monotonic() - began, created)


def _read(server: web.Server, reader: int, stop: float, tally: _Tally) -> None:
    names = list(READS)
    turn = reader
    while time.monotonic() < stop:
        name = names[turn % len(names)]
        turn += 1
        began = time.monotonic()
        answer = web.request(server, "GET", READS[name])
        tally.scan_answer(name, answer)
        tally.add(name, answer.status, time.monotonic() - began)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(f"sqlite:///{tmp}/load.db", seconds), indent=2))
    admin = postgres_url()
    if admin:
        with postgres_schema(admin, "shiplog_load") as url:
            print(json.dumps(run(url, seconds), indent=2))


if __name__ == "__main__":
    main()
