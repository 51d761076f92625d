"""`python -m bench SECTION ...` replaces only its sections' parts of bench/RESULTS.md."""

from __future__ import annotations

import pytest

from bench import __main__ as bench_main

RESULTS = "\n".join(
    [
        "# Benchmark results",
        "",
        *bench_main.marked("chat", ["## Chat", "", "old chat", ""]),
        *bench_main.marked("load", ["## Load", "", "old load", ""]),
    ]
)


def test_a_section_run_alone_replaces_its_part_and_keeps_the_rest() -> None:
    text = bench_main.replace_section(RESULTS, "chat", ["## Chat", "", "new chat", ""])
    assert "new chat" in text and "old chat" not in text
    assert text.count("<!-- bench:chat -->") == text.count("<!-- /bench:chat -->") == 1
    assert text.replace("new chat", "old chat") == RESULTS


def test_a_section_not_in_the_file_yet_is_added_at_its_end() -> None:
    text = bench_main.replace_section(RESULTS, "alerts", ["## Alerts", ""])
    assert text.startswith(RESULTS.rstrip("\n"))
    assert text.rstrip("\n").endswith("## Alerts\n\n<!-- /bench:alerts -->")


def test_every_section_has_a_name_and_an_unknown_one_is_refused(monkeypatch) -> None:
    sections = ["sync", "builds", "health", "chat", "scale", "web", "load", "alerts", "import-git"]
    sections += ["test-time"]
    assert list(bench_main.SECTIONS) == sections
    monkeypatch.setattr(bench_main, "RESULTS", None)  # nothing may be written
    with pytest.raises(
        SystemExit, match="unknown section 'speed'; sections: sync, builds, health, chat"
    ):
        bench_main.main(["speed"])
