"""The platforms' own descriptions of their payloads, for tests: Slack's Block Kit models
(slack_sdk) and the Google Chat API's discovery document (`chat.v1`, as the
google-api-python-client package ships it)."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

# The webhook URL Google gives carries these two itself (`?key=...&token=...`).
GOOGLE_CHAT_WEBHOOK_QUERY = {"key", "token"}


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


def google_chat_problems(payload: Any) -> list[str]:
    """What the `Message` schema of the Chat API says is wrong with `payload`: a field it
    does not have, a value of the wrong type, one outside its enum, or an output-only
    field."""
    return _walk(payload, {"$ref": "Message"}, "message")


def google_chat_query_problems(query: dict[str, str]) -> list[str]:
    """Query parameters `spaces.messages.create` does not take, deprecated ones included."""
    document = _chat_v1()
    create = document["resources"]["spaces"]["resources"]["messages"]["methods"]["create"]
    known = create["parameters"] | document["parameters"]
    problems = []
    for name, value in query.items():
        if name in GOOGLE_CHAT_WEBHOOK_QUERY:
            continue
        parameter = known.get(name)
        if parameter is None or parameter.get("location") != "query":
            problems.append(f"?{name}: not a parameter of spaces.messages.create")
        elif parameter.get("deprecated"):
            problems.append(f"?{name}: deprecated ({parameter['description'][:80]})")
        elif "enum" in parameter and value not in parameter["enum"]:
            problems.append(f"?{name}={value}: not one of {parameter['enum']}")
    return problems


@cache
def _chat_v1() -> dict[str, Any]:
    spec = importlib.util.find_spec("googleapiclient")  # found, not imported
    assert spec is not None and spec.submodule_search_locations, "google-api-python-client"
    folder = Path(next(iter(spec.submodule_search_locations)))
    return json.loads((folder / "discovery_cache" / "documents" / "chat.v1.json").read_text())


def _walk(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    if "$ref" in schema:
        schema = _chat_v1()["schemas"][schema["$ref"]]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: must be an object"]
        problems = []
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                field = properties[key]
                if field.get("readOnly") or field.get("description", "").startswith("Output only"):
                    problems.append(f"{path}.{key}: output only")
                problems += _walk(item, field, f"{path}.{key}")
            elif extra is not None:
                problems += _walk(item, extra, f"{path}.{key}")
            else:
                problems.append(f"{path}.{key}: not a field of {schema.get('id', 'this')}")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: must be a list"]
        return [
            p for i, item in enumerate(value) for p in _walk(item, schema["items"], f"{path}[{i}]")
        ]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: must be a string"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{path}: {value!r} is not one of {schema['enum']}"]
        return []
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: must be true or false"]
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: must be an integer"]
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: must be a number"]
    return [] if kind == "any" else [f"{path}: the schema's type {kind!r} is not checked here"]


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
