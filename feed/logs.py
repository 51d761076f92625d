"""Log lines for people (text) or for log collectors (one JSON object a line)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import IO, Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER_NAME = "shiplog"
# What every record carries; anything else on a record came in through `extra=`.
RECORD_FIELDS = frozenset(
    [*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime", "taskName"]
)


class JSONFormatter(logging.Formatter):
    """time (ISO 8601, UTC), level, logger, message, the `extra=` fields, then the traceback
    as `exc_info` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in RECORD_FIELDS and key not in line:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(level: int | str, fmt: str, stream: IO[str] | None = None) -> logging.Handler:
    """Send the root logger's records at `level` and above to `stream` (stderr) as `fmt`
    ("text" or "json"), in place of the handler an earlier call installed; returns it."""
    if fmt == "json":
        formatter: logging.Formatter = JSONFormatter()
    elif fmt == "text":
        formatter = logging.Formatter(TEXT_FORMAT)
    else:
        raise ValueError(f"logs: unknown format {fmt!r}; use text or json")
    handler = logging.StreamHandler(stream)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
