"""Where the benchmarks find PostgreSQL, and a schema of their own in it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

from sqlalchemy import create_engine, text

LOCAL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str | None:
    """SHIPLOG_BENCH_POSTGRES_URL, else the local server's `test` database if it answers."""
    named = os.environ.get("SHIPLOG_BENCH_POSTGRES_URL")
    if named:
        return named
    try:
        socket.create_connection(("127.0.0.1", 5432), 2).close()
    except OSError:
        return None
    return LOCAL


@contextmanager
def postgres_schema(admin_url: str, schema: str) -> Iterator[str]:
    """A URL whose tables live in a fresh `schema`, dropped again afterwards."""
    admin = create_engine(admin_url)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in admin_url else "?"
    try:
        yield f"{admin_url}{separator}{urlencode({'options': f'-csearch_path={schema}'})}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()
