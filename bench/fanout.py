"""10,000 alerts to 50 chat channels while one send in ten fails: none lost, none doubled.

Realtime subscriptions of 50 webhook channels each want every commit; 200 new commits make
10,000 deliver jobs, queued through the store and `feed.notify.enqueue_alerts` as a webhook
would queue them. Then `shiplog worker` processes send them to the fake chat server (a
thread of this process), which answers one send in ten with a 500, a 429 with
`Retry-After: 1`, or no answer until after the client's read timeout. Counted by channel and
event: each must arrive exactly once. `make bench` runs it on SQLite (one worker) and on
PostgreSQL (two); `tests/test_crisis_loop.py` runs it scaled down.

    .venv/bin/python -m bench.fanout
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.alerts import percentiles
from bench.databases import postgres_schema, postgres_url
from bench.processes import load_config, shiplog_workers, toml_config
from feed import notify
from feed.db import Database
from feed.models import Job
from feed.store import EventRecord, upsert_events
from tests.fake_chat import Answer, FakeChat

REPO = "acme/fanout"
TITLE = "Fan-out commit"  # and its number: each event's title, as its alerts show it


@dataclass(frozen=True)
class Fanout:
    """The run's sizes and faults; the defaults are `make bench`'s."""

    channels: int = 50
    events: int = 200  # each to every channel
    errors: float = 0.05  # of sends: answered 500
    limited: float = 0.045  # answered 429 with Retry-After: 1
    timeouts: float = 0.005  # kept past the client's read timeout, then dropped
    hang: float = 6.0  # seconds a timed-out send is kept (the client gives up after 5)
    in_a_row: bool = True  # False: a channel's send after a failed one succeeds (no circuit)
    workers: int = 1  # `shiplog worker` processes
    read_timeout: float | None = None  # the chat client's, in the workers; None: shiplog's
    patience: float = 900.0  # seconds to wait for every job to end

    @property
    def messages(self) -> int:
        return self.channels * self.events


class Flaky:
    """The fake chat server's answers: a fixed share of each kind of failure, picked by a
    hash of the channel and how many sends it had, so a run can be repeated."""

    def __init__(self, fanout: Fanout) -> None:
        self.fanout = fanout
        self.sends: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.failed_last: dict[str, bool] = {}
        self.answers = {
            "ok": Answer(),
            "500": Answer(500, '{"message": "internal error"}'),
            "429": Answer(429, '{"message": "slow down"}', {"Retry-After": "1"}),
            "timeout": Answer(delay=fanout.hang, drop=True),
        }

    def __call__(self, path: str) -> Answer:
        n = self.sends[path]
        self.sends[path] += 1
        digest = hashlib.sha1(f"{path}:{n}".encode(), usedforsecurity=False).digest()
        share = int.from_bytes(digest[:8]) / 2**64
        kind = "ok"
        if self.fanout.in_a_row or not self.failed_last.get(path):
            for name, bound in (
                ("500", self.fanout.errors),
                ("429", self.fanout.errors + self.fanout.limited),
                ("timeout", self.fanout.errors + self.fanout.limited + self.fanout.timeouts),
            ):
                if share < bound:
                    kind = name
                    break
        self.failed_last[path] = kind != "ok"
        self.outcomes[kind] += 1
        return self.answers[kind]


def run(
    url: str,
    folder: Path,
    fanout: Fanout = Fanout(),
    *,
    extra: Mapping[str, str] | None = None,
    secrets: Collection[str] = (),
) -> dict[str, Any]:
    """Queue the alerts in the database at `url`, then let `fanout.workers` workers send
    them; the counts, the time from starting the workers to the last message, and each of
    `secrets` found in the workers' logs."""
    flaky = Flaky(fanout)
    with FakeChat(flaky).running() as chat:
        config = folder / "fanout.toml"
        names = [f"c{n:03d}" for n in range(fanout.channels)]
        config.write_text(
            toml_config(
                [{"name": n, "platform": "webhook", "url": chat.url(f"/{n}")} for n in names],
                [
                    {"name": f"{n}-commits", "channel": n, "mode": "realtime"}
                    | {"filter": {"kind": ["commit"]}}
                    for n in names
                ],
            )
        )
        queued = queue(url, config, fanout.events)
        if queued != fanout.messages:
            raise RuntimeError(f"bench fanout: {queued} alerts queued, not {fanout.messages}")
        env = {**(extra or {}), "SHIPLOG_CONFIG": str(config)}
        db = Database(url)
        try:
            began = time.monotonic()
            with shiplog_workers(
                url, folder, env, fanout.workers, read_timeout=fanout.read_timeout
            ) as logs:
                started = time.monotonic() - began
                deadline = began + fanout.patience
                while _jobs(db, "due") and time.monotonic() < deadline:
                    time.sleep(0.25)
            states = {state: _jobs(db, state) for state in ("due", "done", "dead")}
        finally:
            db.dispose()
        output = "\n".join(log.read_text(errors="replace") for log in logs)
        with chat.lock:
            received = list(chat.received)
    counts = Counter(
        (r.path.strip("/"), json.loads(r.body)["sections"][0]["lines"][0]["text"]) for r in received
    )
    expected = {(name, f"{TITLE} {n}") for name in names for n in range(fanout.events)}
    arrivals = sorted(r.at for r in received)
    seconds = arrivals[-1] - began if arrivals else float("nan")
    return {
        "database": "PostgreSQL" if url.startswith("postgresql") else "SQLite",
        "workers": fanout.workers,
        "messages": fanout.messages,
        "channels": fanout.channels,
        "delivered": len(expected & set(counts)),
        "unexpected": sorted(set(counts) - expected),
        "duplicates": sum(n - 1 for n in counts.values()),
        "counts": counts,
        "jobs": states,
        "sends": sum(flaky.sends.values()),
        "outcomes": dict(flaky.outcomes),
        "circuits_opened": output.count("in a row; put aside"),
        "startup_seconds": started,
        "seconds": seconds,
        "sending_seconds": arrivals[-1] - arrivals[0] if arrivals else float("nan"),
        "per_second": fanout.messages / seconds if arrivals else 0.0,
        "gaps": percentiles(sorted(b - a for a, b in itertools.pairwise(arrivals))),
        "secrets_seen": sorted(f"worker logs: {s}" for s in secrets if s in output),
    }


def queue(url: str, config: Path, events: int) -> int:
    """Load the config's channels and subscriptions into the database at `url` and queue
    the alerts of `events` new commits, as the ingest would; how many."""
    load_config(url, config)
    now = datetime.now(UTC)
    records = [
        EventRecord(
            uid=f"commit:{REPO}:{n:040x}",
            kind="commit",
            repo=REPO,
            branch="main",
            sha=f"{n:040x}",
            title=f"{TITLE} {n}",
            url=f"https://github.com/{REPO}/commit/{n:040x}",
            occurred_at=now,
        )
        for n in range(events)
    ]
    db = Database(url)
    try:
        with db.write() as session:
            upsert_events(session, records)
            return notify.enqueue_alerts(session, records, now)
    finally:
        db.dispose()


def _jobs(db: Database, state: str) -> int:
    with db.read() as session:
        return (
            session.scalar(select(func.count()).where(Job.kind == "deliver", Job.state == state))
            or 0
        )


def runs(fanout: Fanout = Fanout()) -> dict[str, dict[str, Any]]:
    """`make bench`'s runs: SQLite with one worker, PostgreSQL with two when it answers."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = run(f"sqlite:///{tmp}/fanout.db", Path(tmp), fanout)
    admin = postgres_url()
    if admin:
        with tempfile.TemporaryDirectory() as tmp, postgres_schema(admin, "shiplog_fanout") as url:
            two = replace(fanout, workers=2)
            results["PostgreSQL"] = run(url, Path(tmp), two)
    return results


if __name__ == "__main__":
    for name, result in runs().items():
        shown = {k: v for k, v in result.items() if k != "counts"}
        print(name, json.dumps(shown, indent=2, default=str), file=sys.stderr)
