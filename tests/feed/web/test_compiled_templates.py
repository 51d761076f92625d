"""Every app a process builds shares the templates Jinja compiled; a changed one is compiled
again."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import DictLoader, Environment

from app import create_app
from feed.state import shiplog_state
from feed.web.helpers import compiled_templates


def test_a_second_app_renders_its_pages_without_compiling_a_template(
    app_config: dict[str, Any], isolated_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = create_app(app_config), create_app(app_config)
    try:
        assert first.test_client().get("/").status_code == 200
        compiled: list[str | None] = []
        compile = Environment.compile

        def counted(self: Environment, source: str, name: str | None = None, *args: Any) -> Any:
            compiled.append(name)
            return compile(self, source, name, *args)

        monkeypatch.setattr(Environment, "compile", counted)
        response = second.test_client().get("/")
        assert response.status_code == 200 and b'class="pager"' in response.data
        assert compiled == []
        # A template no app rendered yet is compiled, once.
        second.jinja_env.from_string("{{ 1 + 1 }}")
        assert compiled == [None]
    finally:
        for app in (first, second):
            shiplog_state(app).db.dispose()


def test_a_template_whose_source_changed_is_compiled_again() -> None:
    for source in ("one {{ n }}", "two {{ n }}", "one {{ n }}"):
        environment = Environment(
            loader=DictLoader({"changing.html": source}), bytecode_cache=compiled_templates()
        )
        assert environment.get_template("changing.html").render(n=1) == source[:4] + "1"
