"""The activity page over a million events, in SQLite and (when one answers) PostgreSQL.

The SQLite timeline is kept in bench/data/ and reused while it holds the same number of
events at the current schema (SHIPLOG_BENCH_REBUILD=1 builds it again); PostgreSQL gets a
fresh schema of its own, `shiplog_bench`, in the database SHIPLOG_BENCH_POSTGRES_URL names
(by default the local server's `test` database).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bench import dataset, queries
from bench.databases import postgres_schema, postgres_url
from feed.db import Database
from feed.migrate import is_current
from feed.models import Event

EVENTS = 1_000_000
DATA = Path(__file__).with_name("data")
POSTGRES_SCHEMA = "shiplog_bench"


def run(events: int = EVENTS) -> dict[str, Any]:
    """Build (or reuse) the timelines and time every listing case on each."""
    results: dict[str, Any] = {"sqlite": _sqlite(events)}
    admin = postgres_url()
    if admin:
        with postgres_schema(admin, POSTGRES_SCHEMA) as url:
            print(f"bench: building {events:,} events in PostgreSQL ...", file=sys.stderr)
            build = dataset.build(url, events)
            print("bench: timing the activity page on PostgreSQL ...", file=sys.stderr)
            results["postgresql"] = {"build": build, "queries": queries.run(url)}
    return results


def _sqlite(events: int) -> dict[str, Any]:
    DATA.mkdir(exist_ok=True)
    path = DATA / "timeline.db"
    built = DATA / "timeline.json"
    url = f"sqlite:///{path}"
    if os.environ.get("SHIPLOG_BENCH_REBUILD") or _count(url, path) != events:
        for stale in DATA.glob("timeline.db*"):
            stale.unlink()
        print(f"bench: building {events:,} events in SQLite ...", file=sys.stderr)
        built.write_text(json.dumps(dataset.build(url, events)))
    print("bench: timing the activity page on SQLite ...", file=sys.stderr)
    return {"build": json.loads(built.read_text()), "queries": queries.run(url)}


def _count(url: str, path: Path) -> int:
    if not path.exists():
        return 0
    db = Database(url)
    try:
        if not is_current(db.engine):  # built by an older dataset, without newer tables
            return 0
        with db.read() as session:
            return session.scalar(select(func.count()).select_from(Event)) or 0
    except SQLAlchemyError:  # a half-built file: build it again
        return 0
    finally:
        db.dispose()
