"""A fake chat server on 127.0.0.1: records what it receives, answers as the platforms do."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.conftest import WATCHED_SECRETS

SHUTDOWN_POLL = 0.05  # seconds: how soon the server notices it is asked to stop


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.monotonic() when the request arrived

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # cut short when the server stops
    drop: bool = False  # close the connection without answering (a lost connection)


class FakeChat:
    """Answers every POST with the next scripted Answer for its path, else with what
    `default(path)` says (called under the lock, in the order requests arrive), else 200 "ok"."""

    def __init__(self, default: Callable[[str], Answer] | None = None) -> None:
        self.received: list[Received] = []
        self.script: dict[str, list[Answer]] = {}
        self.default = default
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        url = f"http://{host}:{port}{path}"
        WATCHED_SECRETS.add(url)  # a channel's URL is its secret
        return url

    def answer(self, path: str, *answers: Answer) -> None:
        self.script.setdefault(path, []).extend(answers)

    def to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    @contextmanager
    def running(self) -> Iterator[FakeChat]:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.stopping.clear()
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL}, daemon=True
        ).start()
        try:
            yield self
        finally:
            self.stopping.set()  # answers still waiting out a delay end now
            self.server.shutdown()
            self.server.server_close()


def _handler(fake: FakeChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def handle(self) -> None:
            # The client may go away between two requests on its connection.
            with contextlib.suppress(ConnectionResetError):
                super().handle()

        def do_POST(self) -> None:
            arrived = time.monotonic()
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with fake.lock:
                queue = fake.script.get(parts.path) or []
                if queue:
                    answer = queue.pop(0)
                else:
                    answer = fake.default(parts.path) if fake.default else Answer()
                if answer.status < 400 and not answer.drop:  # what the platform accepted
                    fake.received.append(
                        Received(
                            parts.path,
                            {k: v[-1] for k, v in parse_qs(parts.query).items()},
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            arrived,
                        )
                    )
            if answer.delay:
                fake.stopping.wait(answer.delay)
            if answer.drop:
                self.close_connection = True
                return
            payload = answer.body.encode()
            try:
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
