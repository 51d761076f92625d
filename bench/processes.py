"""shiplog as the alert benchmarks run it: `shiplog run` (web and worker in one process), or
gunicorn with `shiplog worker` processes beside it; each logs to a file, all stop with the
block.

With `read_timeout`, the processes that send chat messages wait that many seconds for a
chat platform's answer instead of shiplog's own 5 (`integrations.chat.http.TIMEOUT`): the
tests scale a hanging channel down with everything else.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import web
from feed.state import shiplog_state

ROOT = Path(__file__).resolve().parents[1]
SHIPLOG = Path(sys.executable).with_name("shiplog")
GUNICORN = Path(sys.executable).with_name("gunicorn")
STOP_SECONDS = 15.0
RUNNING = "worker running for"  # what `shiplog worker` says once it works


@dataclass(frozen=True)
class Running:
    """The web server to talk to, and the log file of every process."""

    web: web.Server
    logs: tuple[Path, ...]

    def output(self) -> str:
        return "\n".join(log.read_text(errors="replace") for log in self.logs)


def load_config(url: str, config: Path) -> None:
    """Migrate the database at `url` and write the config file's channels and subscriptions
    to it, as `shiplog run` and `shiplog worker` do when they start; so that processes
    started together do not race to create them."""
    from app import create_app
    from feed.commands import load_chat_config
    from feed.config import read_toml
    from feed.migrate import upgrade

    app = create_app({"DATABASE_URL": url, **read_toml(config, {})})
    shiplog = shiplog_state(app)
    try:
        upgrade(shiplog.db.engine)
        with app.app_context():
            load_chat_config(shiplog)
    finally:
        shiplog.db.dispose()


def environment(url: str, extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its SHIPLOG_* settings, then the database and
    `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPLOG_")}
    return env | {"SHIPLOG_DATABASE_URL": url} | dict(extra)


def command(args: Sequence[str], read_timeout: float | None = None) -> list[str]:
    """`shiplog args...`; with `read_timeout`, through a shim that sets the chat read timeout."""
    if read_timeout is None:
        return [str(SHIPLOG), *args]
    shim = (
        "import sys; from integrations.chat import http; "
        f"http.TIMEOUT = (http.CONNECT_TIMEOUT, {float(read_timeout)!r}); "
        "from app import cli; sys.exit(cli(prog_name='shiplog'))"
    )
    return [sys.executable, "-c", shim, *args]


@contextmanager
def shiplog_run(
    url: str, folder: Path, extra: Mapping[str, str], *, read_timeout: float | None = None
) -> Iterator[Running]:
    """`shiplog run` on a free port over `url`, serving and working until the block ends."""
    port = web._free_port()
    log = folder / "shiplog-run.log"
    args = command(["run", "--port", str(port)], read_timeout)
    with _group(environment(url, extra), [(args, log, signal.SIGTERM)]) as (process,):
        server = web.Server("127.0.0.1", port, process.pid, log)
        _wait_healthy(server, [process])
        yield Running(server, (log,))


@contextmanager
def gunicorn_and_workers(
    url: str,
    folder: Path,
    extra: Mapping[str, str],
    *,
    web_workers: int = 2,
    workers: int = 2,
    read_timeout: float | None = None,
) -> Iterator[Running]:
    """`gunicorn -w web_workers 'app:create_app()'` and `workers` `shiplog worker` processes
    over `url`, started together (see `load_config`); the block begins once all of them
    work."""
    port = web._free_port()
    gunicorn = [
        str(GUNICORN),
        *("--workers", str(web_workers), "--worker-class", "sync"),
        *("--bind", f"127.0.0.1:{port}", "--timeout", "60", "--chdir", str(ROOT)),
        *web._control_socket_off(),
        "app:create_app()",
    ]
    log = folder / "gunicorn.log"
    specs = [(gunicorn, log, signal.SIGTERM), *_workers(folder, workers, read_timeout)]
    with _group(environment(url, extra), specs) as processes:
        server = web.Server("127.0.0.1", port, processes[0].pid, log)
        _wait_healthy(server, processes)
        for process, (_, worker_log, _) in zip(processes[1:], specs[1:], strict=True):
            _wait_for(process, worker_log, RUNNING)
        yield Running(server, tuple(spec[1] for spec in specs))


@contextmanager
def shiplog_workers(
    url: str,
    folder: Path,
    extra: Mapping[str, str],
    count: int,
    *,
    read_timeout: float | None = None,
) -> Iterator[tuple[Path, ...]]:
    """`count` `shiplog worker` processes over `url`, started together (see `load_config`);
    their logs. The block begins once all of them work."""
    specs = _workers(folder, count, read_timeout)
    with _group(environment(url, extra), specs) as processes:
        for process, (_, log, _) in zip(processes, specs, strict=True):
            _wait_for(process, log, RUNNING)
        yield tuple(spec[1] for spec in specs)


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text as {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def toml_config(
    channels: Sequence[Mapping[str, Any]], subscriptions: Sequence[Mapping[str, Any]]
) -> str:
    """A config file with these channels and subscriptions; chat hosts on 127.0.0.1 allowed."""
    lines = []
    for section, entries in (("channels", channels), ("subscriptions", subscriptions)):
        for entry in entries:
            lines.append(f"[[{section}]]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in entry.items()]
    lines += ["[security]", 'allow_webhook_hosts = ["127.0.0.1"]', ""]
    return "\n".join(lines)


Spec = tuple[list[str], Path, signal.Signals]  # command, log file, the signal that stops it


def _workers(folder: Path, count: int, read_timeout: float | None) -> list[Spec]:
    # Ctrl-C: a worker finishes the jobs it runs and exits at once. (SIGTERM does too, but
    # only after the worker's idle wait, up to 5 s: the signal does not wake it.)
    args = command(["worker"], read_timeout)
    return [(args, folder / f"worker-{n}.log", signal.SIGINT) for n in range(count)]


@contextmanager
def _group(env: Mapping[str, str], specs: Sequence[Spec]) -> Iterator[list[subprocess.Popen]]:
    """The processes, each writing to its log; at the end of the block each gets its signal,
    all at once, then SIGKILL if it is still there after STOP_SECONDS."""
    processes: list[subprocess.Popen] = []
    try:
        for args, log, _ in specs:
            with log.open("wb") as out:  # the child keeps its own copy of the file
                processes.append(
                    subprocess.Popen(
                        args, env=dict(env), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
                    )
                )
        yield processes
    finally:
        for process, (_, _, stop) in zip(processes, specs, strict=False):
            if process.poll() is None:
                process.send_signal(stop)
        deadline = time.monotonic() + STOP_SECONDS
        for process in processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)  # strings and lists of strings are written alike


def _wait_healthy(server: web.Server, processes: Sequence[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            break
        try:
            if web.request(server, "GET", "/healthz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"bench: no answer from shiplog:\n{server.log.read_text(errors='replace')}")


def _wait_for(process: subprocess.Popen, log: Path, text: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"bench: {log.name} never said {text!r}:\n{log.read_text()}")
