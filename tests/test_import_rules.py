"""The layering rules, read from the source with `ast`: what may import what (app.py and the
other top-level modules, feed/ and integrations/)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("feed", "integrations")  # and the composition root's modules beside them
HTTP_CLIENTS = ("requests", "httpx", "urllib3", "aiohttp", "http.client", "urllib.request")
HTTP_CLIENTS += ("github", "pycurl", "slack_sdk")  # PyGithub and SDKs bring their own
# How events enter (or leave) the store: only the intake (feed/ingest.py) calls these. A
# fetched patch is given to an event already stored (`attach_files`), so it is not one.
EVENT_WRITES = {"upsert_event", "upsert_events", "delete_event"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every project module by its dotted name."""
    paths = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    return {module_name(path): path for path in [*sorted(ROOT.glob("*.py")), *paths]}


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(encoding="utf-8"))


def imports(name: str) -> list[tuple[str, tuple[str, ...]]]:
    """What module `name` imports anywhere in it (TYPE_CHECKING and function bodies too):
    (module, names taken from it); `from pkg import mod` counts as importing `pkg.mod`."""
    found: list[tuple[str, tuple[str, ...]]] = []
    package = name if modules()[name].name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, ()) if sub in modules() else (base, (alias.name,)))
    return found


def project_edges(name: str) -> set[str]:
    return {target for target, _ in imports(name) if target in modules() and target != name}


def within(target: str, prefix: str) -> bool:
    return target == prefix or target.startswith(prefix + ".")


def test_the_source_is_found() -> None:
    assert {"feed.store", "feed.ingest", "integrations.github.webhooks"} <= set(modules())


@pytest.mark.parametrize("name", sorted(n for n in modules() if within(n, "feed")))
def test_feed_imports_no_integration_and_no_http_client(name: str) -> None:
    wrong = [
        target
        for target, _ in imports(name)
        if within(target, "integrations") or any(within(target, c) for c in HTTP_CLIENTS)
    ]
    assert wrong == [], f"{name} imports {wrong}"


@pytest.mark.parametrize(
    ("side", "other"),
    [("integrations.chat", "integrations.github"), ("integrations.github", "integrations.chat")],
)
def test_chat_and_github_do_not_import_each_other(side: str, other: str) -> None:
    wrong = {
        (name, target)
        for name in modules()
        if within(name, side)
        for target, _ in imports(name)
        if within(target, other)
    }
    assert wrong == set()


def test_no_import_cycles() -> None:
    graph = {name: project_edges(name) for name in modules()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []


def test_only_the_intake_writes_events() -> None:
    wrong = {
        (name, taken)
        for name in modules()
        if name not in {"feed.ingest", "feed.store"}
        for target, names in imports(name)
        if target == "feed.store"
        for taken in names
        if taken in EVENT_WRITES
    }
    assert wrong == set()


def test_feed_names_no_endpoint_of_an_integration(isolated_env: None) -> None:
    from app import create_app

    app = create_app({"DATABASE_URL": "sqlite://", "TESTING": True})
    theirs = {
        name
        for name, blueprint in app.blueprints.items()
        if within(blueprint.import_name, "integrations")
    }
    assert theirs, "the integrations' blueprints are found"
    wrong = {
        (name, node.value)
        for name in modules()
        if within(name, "feed")
        for node in ast.walk(tree(name))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if any(f"{blueprint}." in node.value for blueprint in theirs)
    }
    assert wrong == set()


def test_the_reader_sees_imports_in_every_form() -> None:
    # `from feed import reverts`, and a name taken from a module, both resolve.
    assert "feed.reverts" in project_edges("feed.store")
    assert ("feed.web", ("admin_only",)) in imports("integrations.chat.admin")
    assert "feed.store" not in project_edges("feed.reverts")
