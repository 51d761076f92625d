"""Log lines as text or as one JSON object each, with the fields a log collector indexes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from feed import logs


@pytest.fixture
def configured() -> Iterator[list[logging.Handler]]:
    """Handlers `logs.configure` installs in a test are taken off the root logger after it."""
    root = logging.getLogger()
    level, installed = root.level, []
    yield installed
    for handler in installed:
        root.removeHandler(handler)
    root.setLevel(level)


def configure(configured: list[logging.Handler], fmt: str) -> io.StringIO:
    stream = io.StringIO()
    configured.append(logs.configure(logging.INFO, fmt, stream))
    return stream


def test_json_lines_carry_time_level_logger_message_and_extra_fields(configured) -> None:
    stream = configure(configured, "json")
    log = logging.getLogger("shiplog.test")
    log.info("worker: %s done", "sync:acme/api", extra={"job": "sync:acme/api", "attempt": 2})
    log.debug("not at INFO")
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        log.exception("worker: failed", extra={"when": datetime(2026, 11, 26, tzinfo=UTC)})

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert list(first)[:4] == ["time", "level", "logger", "message"]
    assert first["level"] == "INFO" and first["logger"] == "shiplog.test"
    assert first["message"] == "worker: sync:acme/api done"
    assert (first["job"], first["attempt"]) == ("sync:acme/api", 2)
    moment = datetime.fromisoformat(first["time"])
    assert first["time"].endswith("Z") and abs(datetime.now(UTC) - moment) < timedelta(minutes=1)
    assert "args" not in first and "msg" not in first and "exc_info" not in first
    assert second["level"] == "ERROR" and second["when"] == "2026-11-26 00:00:00+00:00"
    assert second["exc_info"].startswith("Traceback") and "RuntimeError: boom" in second["exc_info"]


def test_text_lines_keep_the_human_format(configured) -> None:
    stream = configure(configured, "text")
    logging.getLogger("shiplog.test").warning("slack: %s", "refused")
    assert stream.getvalue().rstrip().endswith(" WARNING shiplog.test: slack: refused")


def test_configuring_again_replaces_the_handler(configured) -> None:
    first = configure(configured, "text")
    second = configure(configured, "json")
    logging.getLogger("shiplog.test").info("once")
    assert first.getvalue() == ""
    assert json.loads(second.getvalue())["message"] == "once"
    names = [h.get_name() for h in logging.getLogger().handlers]
    assert names.count(logs.HANDLER_NAME) == 1


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="logs: unknown format 'xml'"):
        logs.configure(logging.INFO, "xml")
