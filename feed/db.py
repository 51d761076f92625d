"""Engines and sessions: SQLite tuned for a web process and a worker side by side, or any URL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from feed import search

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Reads map the database file instead of copying each page out of the OS cache: a quarter
# off reading many rows (40,000 deployments' text at a million events: 62 to 47 ms). SQLite
# caps it (2 GiB as commonly built); a larger file reads the rest as before.
SQLITE_MMAP_BYTES = 2**31
WAKE = "shiplog_wake"  # session.info key: the job lanes a transaction gave new work


class Database:
    """One engine and the sessions made from it."""

    def __init__(self, url: str, **engine_options: object) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_options)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        parsed = make_url(url)
        file = parsed.get_backend_name() == "sqlite" and parsed.database not in (
            None,
            "",
            ":memory:",
        )
        self._watched = parsed.database if file else None
        self._watcher: sqlite3.Connection | None = None
        self._watch_lock = threading.Lock()
        self._on_commit: list[Callable[[set[str]], None]] = []

    def on_commit(self, listener: Callable[[set[str]], None]) -> None:
        """Call `listener` with the job lanes each committed write gave new work."""
        self._on_commit.append(listener)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading, in one snapshot; nothing it does is committed.

        Closing it ends the transaction but keeps loaded objects usable afterwards.
        """
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        with self._sessions() as session:
            if self.engine.dialect.name == "sqlite":
                # Take the write lock up front: a deferred transaction that reads and then
                # writes can fail with "database is locked" instead of waiting.
                session.connection(execution_options={"sqlite_begin": "BEGIN IMMEDIATE"})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            lanes = session.info.pop(WAKE, None)
            if lanes:
                for listener in self._on_commit:
                    listener(lanes)

    def ping(self) -> None:
        """Raise if the database does not answer."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def analyze(self) -> None:
        """Refresh SQLite's planner statistics from a sample (a second or less even at a
        million events); PostgreSQL's autovacuum keeps its own."""
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA analysis_limit=1000")
            connection.exec_driver_sql("ANALYZE")
            connection.commit()

    def change_token(self) -> int | None:
        """A number that changes whenever anyone, in any process, commits to the database;
        None where the database cannot tell (only a SQLite file can).

        Read it before reading the data it vouches for.
        """
        if self._watched is None:
            return None
        with self._watch_lock:
            if self._watcher is None:
                self._watcher = sqlite3.connect(
                    self._watched, check_same_thread=False, isolation_level=None
                )
            # Counts commits by other connections than this one, which never writes.
            return self._watcher.execute("PRAGMA data_version").fetchone()[0]

    def dispose(self) -> None:
        self.engine.dispose()
        with self._watch_lock:
            if self._watcher is not None:
                self._watcher.close()
                self._watcher = None


def make_engine(url: str, **options: object) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and real transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        options.setdefault("pool_pre_ping", True)
        return create_engine(url, **options)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # LIKE then matches case as PostgreSQL does, and can use the indexes.
        cursor.execute("PRAGMA case_sensitive_like=ON")
        cursor.close()
        dbapi_connection.create_function(search.SQLITE_LOWER, 1, search.fold, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


def unreachable(url: str, error: OperationalError) -> str:
    """One line for a database that refused or failed to open: the setting, where it points
    (never its password), the driver's first line and what to do."""
    parsed = make_url(url)
    reason = (str(error.orig).strip().splitlines() or ["no reason given"])[0]
    if parsed.get_backend_name() == "sqlite":
        where = f"the SQLite file {parsed.database!r}"
        todo = "check that its folder exists and shiplog may write there"
    else:
        where = f"{parsed.get_backend_name()} database {parsed.database!r} on {parsed.host}"
        where += f":{parsed.port}" if parsed.port else ""
        todo = "check that the server is running and the database exists "
        todo += f"(createdb {parsed.database})"
    return f"database: cannot open SHIPLOG_DATABASE_URL ({where}): {reason}; {todo}"
