"""The platforms' own descriptions of their payloads, for tests: Slack's Block Kit models
(slack_sdk)."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block


def slack_problems(payload: dict[str, Any]) -> list[str]:
    """What Slack's SDK finds wrong with the payload's blocks: a block type it does not
    know, a field a block or text object does not have, a limit passed; and any mrkdwn text
    object that is not `verbatim`."""
    problems = []
    for index, block in enumerate(payload.get("blocks", [])):
        try:
            parsed = Block.parse(block)
            if parsed is None:
                problems.append(f"blocks[{index}]: Slack has no block {block.get('type')!r}")
                continue
            parsed.validate_json()
            if parsed.to_dict() != block:
                problems.append(f"blocks[{index}]: parses as {parsed.to_dict()!r}")
        except (SlackObjectFormationError, TypeError, ValueError) as exc:
            problems.append(f"blocks[{index}]: {exc}")
    for path, text in _text_objects(payload):
        if text.get("type") == "mrkdwn" and text.get("verbatim") is not True:
            problems.append(f"{path}: mrkdwn without verbatim: true")
    return problems


def _text_objects(value: Any, path: str = "payload") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(value, dict):
        if value.get("type") in ("mrkdwn", "plain_text") and "text" in value:
            found.append((path, value))
        for key, item in value.items():
            found += _text_objects(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _text_objects(item, f"{path}[{index}]")
    return found
