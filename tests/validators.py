"""The outside validators of `../shared/validators`, for tests: the W3C Feed Validator and the
JSON Feed 1.1 schema. Tests that use them skip where that folder is absent."""

from __future__ import annotations

import io
import json
import socket
import sys
from functools import cache
from typing import Any

import pytest

from tests.conftest import SHARED_VALIDATORS

FEEDVALIDATOR = SHARED_VALIDATORS / "feedvalidator"
JSON_FEED_SCHEMA = SHARED_VALIDATORS / "schemas" / "jsonfeed-1.1.json"

needs_validators = pytest.mark.skipif(
    not (FEEDVALIDATOR / "feedvalidator").is_dir() or not JSON_FEED_SCHEMA.is_file(),
    reason="../shared/validators is not here",
)


@cache
def _feedvalidator() -> Any:
    """The validator's package, imported once. Importing it sets a default timeout on every
    socket of the process; the previous one is put back."""
    if str(FEEDVALIDATOR) not in sys.path:
        sys.path.insert(0, str(FEEDVALIDATOR))
    timeout = socket.getdefaulttimeout()
    try:
        import feedvalidator
    finally:
        socket.setdefaulttimeout(timeout)
    return feedvalidator


def feed_problems(body: bytes, content_type: str, url: str) -> list[str]:
    """What the W3C Feed Validator counts as an error or a warning in the feed `body`
    served at `url`, each as `Class (element in parent, line N)`."""
    validator = _feedvalidator()
    from feedvalidator.logging import Error, Warning

    found = validator.validateStream(
        io.BytesIO(body), firstOccurrenceOnly=0, contentType=content_type, base=url
    )["loggedEvents"]
    return [
        f"{type(event).__name__} ({event.params.get('element')} in "
        f"{event.params.get('parent')}, line {event.params.get('line')}: "
        f"{str(event.params.get('value', ''))[:80]!r})"
        for event in found
        if isinstance(event, Error | Warning)
    ]


def json_feed_problems(body: bytes) -> list[str]:
    """Where the JSON feed `body` breaks the JSON Feed 1.1 schema."""
    import jsonschema

    schema = _json_feed_schema()
    kind = jsonschema.validators.validator_for(schema)
    validator = kind(schema, format_checker=kind.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
        for error in validator.iter_errors(json.loads(body))
    ]


@cache
def _json_feed_schema() -> dict[str, Any]:
    return json.loads(JSON_FEED_SCHEMA.read_text())


ADAPTIVE_CARD_SCHEMA = SHARED_VALIDATORS / "schemas" / "adaptive-card-1.5.json"


def adaptive_card_problems(card: dict[str, Any]) -> list[str]:
    """What the Adaptive Card 1.5 schema finds wrong with `card`, and what is wrong with its
    `msteams.entities` mentions: Teams' extension, outside the schema, checked against the
    documented shape (a `mention` whose `<at>` text appears in a TextBlock, naming an id)."""
    import jsonschema

    schema = json.loads(ADAPTIVE_CARD_SCHEMA.read_text())
    plain = {key: value for key, value in card.items() if key != "msteams"}
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(plain)
    ]
    texts = " ".join(block.get("text", "") for block in card.get("body", []))
    for index, entity in enumerate(card.get("msteams", {}).get("entities", [])):
        where = f"msteams/entities/{index}"
        mentioned = entity.get("mentioned") or {}
        if set(entity) != {"type", "text", "mentioned"} or entity["type"] != "mention":
            problems.append(f"{where}: not a mention entity")
        elif set(mentioned) != {"id", "name"} or not all(mentioned.values()):
            problems.append(f"{where}: mentioned must have an id and a name")
        elif entity["text"] != f"<at>{mentioned['name']}</at>" or entity["text"] not in texts:
            problems.append(f"{where}: its <at> text is not in the card's text")
    return problems
