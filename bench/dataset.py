"""A realistic timeline of any size, loaded straight into SQLite or PostgreSQL.

Three years of activity across 240 repositories in 12 organisations and 500 people (a few of
them bots): commits with their files and patches, reverts that point at the commits they
undo, force pushes, releases, deployments (some failed) and incidents with their updates.
Rows go in through the driver in bulk (executemany on SQLite, COPY on PostgreSQL) after the
schema is built by the app's own migrations, so what is measured is the schema the app runs.

    .venv/bin/python -m bench.dataset sqlite:///bench/timeline.db 1000000
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from feed import search
from feed.db import Database
from feed.migrate import upgrade

ORGS = (
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "tyrell",
    "cyberdyne",
    "soylent",
    "wonka",
    "aperture",
)
PROJECTS = (
    "api",
    "web",
    "billing",
    "auth",
    "search",
    "mobile",
    "infra",
    "docs",
    "payments",
    "gateway",
    "worker",
    "ledger",
    "notifications",
    "analytics",
    "admin",
    "sdk",
    "scheduler",
    "storage",
    "cli",
    "edge",
)
BOTS = ("dependabot[bot]", "renovate[bot]", "github-actions[bot]")
VERBS = (
    "Fix",
    "Add",
    "Remove",
    "Refactor",
    "Update",
    "Speed up",
    "Document",
    "Test",
    "Rename",
    "Simplify",
    "Handle",
    "Log",
    "Retry",
    "Validate",
    "Cache",
)
NOUNS = (
    "login redirect",
    "session timeout",
    "payment webhook",
    "rate limiter",
    "cache key",
    "retry loop",
    "search index",
    "invoice totals",
    "user settings",
    "audit log",
    "feature flag",
    "health check",
    "connection pool",
    "error page",
    "CSV export",
    "password reset",
    "upload size",
    "time zone handling",
    "pagination",
    "dark mode",
)
RARE = ("deadlock", "segfault", "memory leak", "race condition", "OAuth scope", "TLS handshake")
COMPONENTS = {
    "api": ("src/api/handlers", "src/api/models", "src/api/auth"),
    "web": ("web/src/components", "web/src/pages", "web/styles"),
    "db": ("db/migrations", "db/queries"),
    "infra": ("infra/terraform", "deploy/k8s", ".github/workflows"),
    "docs": ("docs",),
}
EXTENSIONS = {"docs": ".md", "infra": ".yaml", "web": ".tsx", "db": ".sql", "api": ".py"}
# Times are naive UTC text as SQLAlchemy stores them in SQLite; PostgreSQL reads them in UTC.
START = datetime(2023, 11, 1)
SPAN = timedelta(days=3 * 365)


@dataclass
class Rows:
    """The rows of one batch, in column order."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    files: list[tuple[Any, ...]] = field(default_factory=list)
    incidents: list[tuple[Any, ...]] = field(default_factory=list)


EVENT_COLUMNS = (
    "id",
    "uid",
    "kind",
    "repo",
    "branch",
    "actor",
    "sha",
    "title",
    "body",
    "url",
    "occurred_at",
    "updated_at",
    "ingested_at",
    "data",
    "diff_state",
    "reverts_ref",
    "reverts_id",
)
FILE_COLUMNS = (
    "id",
    "event_id",
    "position",
    "path",
    "status",
    "previous_path",
    "additions",
    "deletions",
    "patch",
    "patch_status",
)
INCIDENT_COLUMNS = (
    "id",
    "uid",
    "repo",
    "number",
    "title",
    "url",
    "status",
    "severity",
    "components",
    "postmortem_url",
    "opened_at",
    "resolved_at",
    "updated_at",
    "next_update_at",
    "labels",
    "labels_at",
    "active",
    "inactive_reason",
    "window_start",
    "window_end",
)


class Timeline:
    """Generates the rows, in time order, deterministically from a seed."""

    def __init__(self, count: int, seed: int = 1) -> None:
        self.count = count
        self.random = random.Random(seed)
        self.repos = [f"{org}/{project}" for org in ORGS for project in PROJECTS]
        # A few repositories are busy and most are quiet, as in any company.
        self.repo_weights = list(
            accumulate(1 / (rank + 1) ** 0.8 for rank in range(len(self.repos)))
        )
        self.people = [f"dev{n:03d}" for n in range(497)] + list(BOTS)
        self.person_weights = list(accumulate([1.0] * 497 + [15.0] * len(BOTS)))
        self.last_commits: dict[str, list[tuple[int, str, str]]] = {}
        self.open_incidents: list[dict[str, Any]] = []
        self.incident_count = 0
        self.file_id = 0

    def batches(self, size: int = 20_000) -> Iterator[Rows]:
        rows = Rows()
        step = SPAN / self.count
        for event_id in range(1, self.count + 1):
            moment = START + step * event_id
            self._event(rows, event_id, moment)
            if len(rows.events) >= size:
                yield rows
                rows = Rows()
        yield rows

    def _event(self, rows: Rows, event_id: int, moment: datetime) -> None:
        pick = self.random.random()
        repo = self.random.choices(self.repos, cum_weights=self.repo_weights)[0]
        # About one incident in 3,000 events (two a week at 900 events a day), at least one
        # in any timeline; while one is open, one event in 25 is its update.
        if pick < 1 / 3_000 or event_id == self.count // 2:
            self._open_incident(rows, event_id, moment)
        elif self.open_incidents and self.random.random() < 0.04:
            self._incident_update(rows, event_id, moment)
        elif pick < 0.025:
            self._revert(rows, event_id, moment, repo)
        elif pick < 0.03:
            self._simple(rows, event_id, moment, repo, "force_push", "Force-pushed main")
        elif pick < 0.04:
            self._simple(rows, event_id, moment, repo, "release", f"Release v{event_id % 97}.0")
        elif pick < 0.08:
            self._deployment(rows, event_id, moment, repo)
        else:
            self._commit(rows, event_id, moment, repo)

    def _sha(self) -> str:
        return f"{self.random.getrandbits(160):040x}"

    def _row(
        self,
        event_id: int,
        uid: str,
        kind: str,
        repo: str,
        moment: datetime,
        title: str,
        **values: Any,
    ) -> tuple[Any, ...]:
        record = {
            "id": event_id,
            "uid": uid,
            "kind": kind,
            "repo": repo,
            "branch": values.get("branch"),
            "actor": values.get("actor")
            or self.random.choices(self.people, cum_weights=self.person_weights)[0],
            "sha": values.get("sha"),
            "title": title,
            "body": values.get("body", ""),
            "url": f"https://github.com/{repo}",
            "occurred_at": _text(moment),
            "updated_at": _text(moment),
            "ingested_at": _text(moment),
            "data": json.dumps(values.get("data", {})),
            "diff_state": values.get("diff_state"),
            "reverts_ref": values.get("reverts_ref"),
            "reverts_id": values.get("reverts_id"),
        }
        return tuple(record[name] for name in EVENT_COLUMNS)

    def _commit(self, rows: Rows, event_id: int, moment: datetime, repo: str) -> None:
        sha = self._sha()
        noun = self.random.choice(RARE if self.random.random() < 0.002 else NOUNS)
        title = f"{self.random.choice(VERBS)} {noun}"
        body = (
            f"{title} so that it works under load.\n\nRefs #{event_id % 5000}"
            if (self.random.random() < 0.5)
            else ""
        )
        branch = self._branch()
        component = self.random.choice(tuple(COMPONENTS))
        added = deleted = 0
        for position in range(self.random.choice((1, 1, 2, 2, 3, 4))):
            folder = self.random.choice(COMPONENTS[component])
            path = f"{folder}/{noun.replace(' ', '_')}_{position}{EXTENSIONS[component]}"
            plus, minus = self.random.randint(1, 40), self.random.randint(0, 20)
            added, deleted = added + plus, deleted + minus
            self.file_id += 1
            patch = f"@@ -1,{minus} +1,{plus} @@\n-old {noun}\n+new {noun}\n"
            rows.files.append(
                (self.file_id, event_id, position, path, "modified", None, plus, minus, patch, "ok")
            )
        stats = {"additions": added, "deletions": deleted, "files": position + 1}
        rows.events.append(
            self._row(
                event_id,
                f"commit:{repo}:{sha}",
                "commit",
                repo,
                moment,
                title,
                body=body,
                sha=sha,
                branch=branch,
                data={"stats": stats},
                diff_state="fetched",
            )
        )
        recent = self.last_commits.setdefault(repo, [])
        recent.append((event_id, sha, title))
        del recent[:-20]

    def _branch(self) -> str:
        pick = self.random.random()
        if pick < 0.75:
            return "main"
        if pick < 0.8:
            return f"release/{self.random.randint(1, 9)}.x"
        return (
            f"feature/{self.random.choice(NOUNS).replace(' ', '-')}-{self.random.randint(1, 300)}"
        )

    def _revert(self, rows: Rows, event_id: int, moment: datetime, repo: str) -> None:
        recent = self.last_commits.get(repo)
        if not recent:
            self._commit(rows, event_id, moment, repo)
            return
        target_id, target_sha, target_title = recent.pop(self.random.randrange(len(recent)))
        sha = self._sha()
        rows.events.append(
            self._row(
                event_id,
                f"commit:{repo}:{sha}",
                "revert",
                repo,
                moment,
                f'Revert "{target_title}"',
                sha=sha,
                branch="main",
                body=f"This reverts commit {target_sha}.",
                reverts_ref=target_sha,
                reverts_id=target_id,
                diff_state="fetched",
            )
        )

    def _simple(
        self, rows: Rows, event_id: int, moment: datetime, repo: str, kind: str, title: str
    ) -> None:
        rows.events.append(
            self._row(
                event_id, f"{kind}:{repo}:{event_id}", kind, repo, moment, title, branch="main"
            )
        )

    def _deployment(self, rows: Rows, event_id: int, moment: datetime, repo: str) -> None:
        environment = self.random.choice(("production", "staging", "staging"))
        state = "failure" if self.random.random() < 0.08 else "success"
        rows.events.append(
            self._row(
                event_id,
                f"deployment:{repo}:{event_id}",
                "deployment",
                repo,
                moment,
                f"Deployment to {environment}: {state}",
                data={"environment": environment, "state": state},
            )
        )

    def _open_incident(self, rows: Rows, event_id: int, moment: datetime) -> None:
        self.incident_count += 1
        number = self.incident_count
        repo = self.random.choice(self.repos[:40])
        title = f"{self.random.choice(NOUNS).capitalize()} failing"
        incident = {
            "id": number,
            "repo": repo,
            "number": number,
            "opened": moment,
            "title": title,
            "updates": 0,
        }
        self.open_incidents.append(incident)
        self._incident_row(rows, event_id, moment, incident, "incident_opened", "Investigating.")

    def _incident_update(self, rows: Rows, event_id: int, moment: datetime) -> None:
        incident = self.random.choice(self.open_incidents)
        incident["updates"] += 1
        if incident["updates"] < 4:
            self._incident_row(rows, event_id, moment, incident, "incident_update", "Looking.")
            return
        self.open_incidents.remove(incident)
        rows.incidents.append(_incident_row(incident, moment))
        self._incident_row(rows, event_id, moment, incident, "incident_resolved", "Resolved.")

    def _incident_row(
        self,
        rows: Rows,
        event_id: int,
        moment: datetime,
        incident: dict[str, Any],
        kind: str,
        body: str,
    ) -> None:
        repo, number = incident["repo"], incident["number"]
        uid = f"incident:{repo}#{number}:{event_id}"
        rows.events.append(
            self._row(event_id, uid, kind, repo, moment, incident["title"], body=body)
        )

    def leftovers(self) -> list[tuple[Any, ...]]:
        """Incidents still open when the timeline ends."""
        return [_incident_row(incident, None) for incident in self.open_incidents]


def _incident_row(incident: dict[str, Any], resolved: datetime | None) -> tuple[Any, ...]:
    opened = incident["opened"]
    record = {
        "id": incident["id"],
        "uid": f"incident:{incident['repo']}#{incident['number']}",
        "repo": incident["repo"],
        "number": incident["number"],
        "title": incident["title"],
        "url": f"https://github.com/{incident['repo']}/issues/{incident['number']}",
        "status": "resolved" if resolved else "investigating",
        "severity": "sev2",
        "components": json.dumps(["api"]),
        "postmortem_url": None,
        "opened_at": _text(opened),
        "resolved_at": _text(resolved),
        "updated_at": _text(resolved or opened),
        "next_update_at": None,
        "labels": json.dumps(["incident", "sev2"]),
        "labels_at": _text(opened),
        "active": True,
        "inactive_reason": None,
        "window_start": _text(opened - timedelta(hours=24)),
        "window_end": _text(resolved + timedelta(hours=2) if resolved else None),
    }
    return tuple(record[name] for name in INCIDENT_COLUMNS)


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(" ", "microseconds")


def build(url: str, count: int, *, seed: int = 1) -> dict[str, float]:
    """A fresh database at `url` holding a `count`-event timeline; how long each step took."""
    db = Database(url)
    started = time.perf_counter()
    upgrade(db.engine)
    timeline = Timeline(count, seed)
    loader = _load_sqlite if db.engine.dialect.name == "sqlite" else _load_postgresql
    loaded = loader(db.engine, timeline)
    with db.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    if db.engine.dialect.name == "postgresql":  # as autovacuum leaves a table in use: the
        # counts' index-only scans need the visibility map
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM events, event_files")
    db.dispose()
    return {
        "events": count,
        "files": timeline.file_id,
        "incidents": timeline.incident_count,
        "load_seconds": loaded - started,
        "seconds": time.perf_counter() - started,
    }


def _repo_rows(timeline: Timeline) -> list[tuple[Any, ...]]:
    return [
        (name, f"https://github.com/{name}", "main", False, _text(START)) for name in timeline.repos
    ]


REPO_COLUMNS = ("full_name", "html_url", "default_branch", "is_demo", "first_seen_at")
ALIAS_COLUMNS = ("login", "name")


def _alias_rows(timeline: Timeline) -> list[tuple[str, str]]:
    """Each developer's git name beside their login; and a few logins known only by a git
    name that is itself an actor (commits imported from addresses that name no login)."""
    developers = [person for person in timeline.people if person.startswith("dev")]
    return [(login, f"Developer {login[3:]}") for login in developers] + [
        (f"gh-{login}", login) for login in developers[:10]
    ]


def _load_sqlite(engine: Engine, timeline: Timeline) -> float:
    def insert(cursor: Any, table: str, columns: tuple[str, ...], rows: list[Any]) -> None:
        marks = ", ".join("?" * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-500000")
        cursor.execute("BEGIN")
        # The search index is built once at the end: far faster than row by row.
        cursor.execute(f"DROP TRIGGER {search.SEARCH_TABLE}_insert")
        insert(cursor, "repos", REPO_COLUMNS, _repo_rows(timeline))
        insert(cursor, "author_aliases", ALIAS_COLUMNS, _alias_rows(timeline))
        for rows in timeline.batches():
            insert(cursor, "events", EVENT_COLUMNS, rows.events)
            insert(cursor, "event_files", FILE_COLUMNS, rows.files)
            insert(cursor, "incidents", INCIDENT_COLUMNS, rows.incidents)
        insert(cursor, "incidents", INCIDENT_COLUMNS, timeline.leftovers())
        _, insert_trigger, *_, rebuild = search.sqlite_create()
        cursor.execute(insert_trigger)
        cursor.execute(rebuild)
        cursor.execute("COMMIT")
        cursor.close()
    finally:
        raw.close()
    return time.perf_counter()


def _load_postgresql(engine: Engine, timeline: Timeline) -> float:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET TIME ZONE 'UTC'")

        def copy(table: str, columns: tuple[str, ...], rows: list[Any]) -> None:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as stream:
                for row in rows:
                    stream.write_row(row)

        copy("repos", REPO_COLUMNS, _repo_rows(timeline))
        copy("author_aliases", ALIAS_COLUMNS, _alias_rows(timeline))
        for rows in timeline.batches():
            copy("events", EVENT_COLUMNS, rows.events)
            copy("event_files", FILE_COLUMNS, rows.files)
            copy("incidents", INCIDENT_COLUMNS, rows.incidents)
        copy("incidents", INCIDENT_COLUMNS, timeline.leftovers())
        for table in ("events", "event_files", "incidents"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        raw.commit()
        cursor.close()
    finally:
        raw.close()
    return time.perf_counter()


def main() -> None:
    url, count = sys.argv[1], int(sys.argv[2])
    if make_url(url).get_backend_name() == "sqlite":
        print(f"building {count:,} events in {url}", file=sys.stderr)
    print(build(url, count))


if __name__ == "__main__":
    main()
