"""PostgreSQL goes away under a running app and comes back: deliveries are refused with 503
(GitHub records the failure, so they can be redelivered), health and pages say so, and
everything works again without a restart, with nothing lost or doubled.

The outage is real: the app reaches PostgreSQL through a TCP gate that the test closes,
dropping every open connection and refusing new ones, then opens again.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from app import create_app
from feed.db import Database
from feed.models import Base, Event
from feed.state import shiplog_state
from tests.conftest import SECRET, deliver
from tests.integrations.github.test_webhooks import commit, push


class Gate:
    """A TCP relay on 127.0.0.1 to `target` that can be closed and opened again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Refuse new connections and cut every open one, as a stopped server would."""
        with self._lock:
            if self._listener is not None:
                _shut(self._listener)  # shutdown first: a bare close leaves accept() listening
                self._listener = None
            for sock in self._open:
                _shut(sock)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _shut(sink)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def gated_url(postgres_url: str) -> Iterator[tuple[str, Gate]]:
    url = make_url(postgres_url)
    gate = Gate((url.host or "127.0.0.1", url.port or 5432))
    gate.open()
    yield url.set(host="127.0.0.1", port=gate.port).render_as_string(hide_password=False), gate
    gate.close()
    db = Database(postgres_url)
    with db.engine.begin() as connection:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.dispose()


def test_a_database_outage_is_503_then_recovers_without_a_restart(
    gated_url: tuple[str, Gate], isolated_env: None
) -> None:
    url, gate = gated_url
    app = create_app({"DATABASE_URL": url, "GITHUB_WEBHOOK_SECRET": SECRET, "TESTING": True})
    client = app.test_client()
    db = shiplog_state(app).db
    before = push(commit("a" * 40, "Before the outage"))
    during = push(commit("b" * 40, "Sent while the database was down"))
    assert deliver(client, "push", before, delivery="before").json["events_created"] == 1

    gate.close()
    refused = deliver(client, "push", during, delivery="during")
    assert refused.status_code == 503
    assert "database" in refused.json["error"]
    assert client.get("/healthz").status_code == 503
    page = client.get("/")
    assert page.status_code == 503 and "database is not answering" in page.get_data(as_text=True)

    gate.open()
    assert client.get("/healthz").status_code == 200
    # GitHub redelivers the failed delivery under the same id: it is taken now, once.
    assert deliver(client, "push", during, delivery="during").json["events_created"] == 1
    assert deliver(client, "push", during, delivery="during").json["result"] == "duplicate"
    with db.read() as session:
        titles = sorted(session.scalars(select(Event.title)))
        assert session.scalar(select(func.count()).select_from(Event)) == 2
    assert titles == ["Before the outage", "Sent while the database was down"]
    db.dispose()


def test_an_outage_under_load_refuses_with_503_and_loses_nothing(
    gated_url: tuple[str, Gate], isolated_env: None, tmp_path
) -> None:
    """gunicorn under senders and readers while PostgreSQL goes away for two seconds: every
    answer is a success or a 503, and once each refused delivery is redelivered (as GitHub
    lets you), the timeline holds every commit once."""
    from bench import web

    url, gate = gated_url
    outcomes: list[tuple[str, int]] = []
    refused: list[tuple[bytes, dict[str, str]]] = []
    lock = threading.Lock()
    stop = threading.Event()
    sent = iter(range(10**6))

    def send() -> None:
        while not stop.is_set():
            body, headers = web.push_delivery(next(sent))
            status = web.request(server, "POST", "/webhooks/github", headers, body).status
            with lock:
                outcomes.append(("push", status))
                if status != 200:
                    refused.append((body, headers))
            if status != 200:
                stop.wait(0.2)  # GitHub does not retry: a refused delivery waits for a person

    def read(path: str) -> None:
        while not stop.is_set():
            status = web.request(server, "GET", path).status
            with lock:
                outcomes.append((path, status))
            stop.wait(0.02)

    with web.gunicorn(url, tmp_path, workers=2) as server:
        threads = [threading.Thread(target=send) for _ in range(3)]
        threads += [threading.Thread(target=read, args=(p,)) for p in ("/", "/healthz")]
        for thread in threads:
            thread.start()
        stop.wait(1.0)
        gate.close()
        stop.wait(2.0)
        gate.open()
        stop.wait(2.0)
        stop.set()
        for thread in threads:
            thread.join()
        for body, headers in refused:  # GitHub's "Redeliver", same id and body
            answer = web.request(server, "POST", "/webhooks/github", headers, body)
            assert answer.status == 200, answer.body
        assert web.request(server, "GET", "/healthz").status == 200
    statuses = {status for _, status in outcomes}
    assert statuses <= {200, 503}, sorted(statuses)
    assert ("push", 503) in outcomes and ("/healthz", 503) in outcomes and ("/", 503) in outcomes
    pushes = sum(1 for name, _ in outcomes if name == "push")
    db = Database(url)
    with db.read() as session:
        commits = session.scalars(select(Event.sha).where(Event.kind == "commit")).all()
    db.dispose()
    assert len(commits) == len(set(commits)) == pushes * web.PUSH_COMMITS
