"""Settings from TOML and the environment, validated with clear messages."""

from __future__ import annotations

from dataclasses import MISSING, FrozenInstanceError, fields
from pathlib import Path
from typing import Any

import pytest

from feed.config import SETTINGS, TOML_KEYS, ConfigError, Settings, read_toml
from feed.jobs import LEASE, MAX_ATTEMPTS
from integrations.github.client import ClientSettings
from integrations.github.commits import DEFAULT_PATCH_CAP
from integrations.github.sync import SyncOptions

BASE = {"DATABASE_URL": "sqlite:///x.db"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shiplog.toml"
    path.write_text(text)
    return path


def test_toml_maps_onto_settings_and_secrets_come_from_the_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
base_url = "https://shiplog.example/"
log_format = "json"

[github]
repos = ["acme/api", "acme/web"]
incident_label = "sev-incident"
webhook_secret_env = "HOOK_SECRET"

[components]
api = ["services/api/**"]
""",
    )
    config = read_toml(path, {"HOOK_SECRET": "s3cret"})
    settings = Settings.from_mapping({**BASE, **config})
    assert settings.repos == ("acme/api", "acme/web")
    assert settings.incident_label == "sev-incident"
    assert settings.github_webhook_secret == "s3cret"
    assert settings.base_url == "https://shiplog.example"
    assert settings.log_format == "json"
    assert config["COMPONENTS"] == {"api": ["services/api/**"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[github\nrepos = 1", "is not valid TOML"),
        ("[mystery]\nx = 1", r"unknown section \[mystery\]"),
        ("[github]\ncolour = 'red'", "unknown key github.colour"),
        ("[github]\ntoken_env = 'NOT_SET_ANYWHERE'", "names 'NOT_SET_ANYWHERE', which is not set"),
        ("github = 3", r"\[github\] must be a table"),
    ],
)
def test_a_bad_file_is_refused_with_a_message(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_toml(write(tmp_path, text), {})


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_toml(tmp_path / "absent.toml", {})


def test_environment_style_values() -> None:
    settings = Settings.from_mapping({**BASE, "REPOS": "acme/api, acme/web,", "GITHUB_TOKEN": "t"})
    assert settings.repos == ("acme/api", "acme/web")
    assert settings.has_github_source
    assert not Settings.from_mapping(BASE).has_github_source
    assert Settings.from_mapping(BASE).github_api_url == "https://api.github.com"


def test_the_log_format_is_text_unless_json_is_asked_for() -> None:
    assert Settings.from_mapping(BASE).log_format == "text"
    assert Settings.from_mapping({**BASE, "LOG_FORMAT": " JSON "}).log_format == "json"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"REPOS": "not a repo"}, "REPOS: 'not a repo' is not owner/name"),
        ({"BASE_URL": "ftp://x"}, "BASE_URL must be an http"),
        ({"GITHUB_API_URL": "nope"}, "GITHUB_API_URL must be an http"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is empty"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of text, json, not 'xml'"),
    ],
)
def test_bad_settings_are_refused(extra: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_mapping({**BASE, **extra})


def test_a_secret_never_appears_in_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({**BASE, "GITHUB_WEBHOOK_SECRET": ["hunter2"]})
    assert "hunter2" not in str(caught.value)


HOOK = "https://hooks.slack.com/services/T0/B0/XXXXS3CR3T"
TOKEN = "ghp_S3CR3T" + "x" * 30


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("WORKER_THREADS", "alert=4", "unknown lane 'alert'; lanes: alerts, digests, github"),
        ("WORKER_THREADS", {"alert": 4}, "unknown lane 'alert'"),
        ("WORKER_THREADS", HOOK, "WORKER_THREADS: unknown lane; lanes: alerts"),
        ("WORKER_THREADS", f"alerts=4,{TOKEN}=2", "WORKER_THREADS: unknown lane; lanes"),
        ("REPOS", "acme", "REPOS: 'acme' is not owner/name"),
        ("REPOS", HOOK, "REPOS: an item is not owner/name"),
        ("REPOS", f"acme/api,{TOKEN}", "REPOS: an item is not owner/name"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of text, json, not 'xml'"),
        ("LOG_FORMAT", HOOK, "LOG_FORMAT must be one of text, json"),
        ("PRIVATE", "maybe", "PRIVATE must be true or false, not 'maybe'"),
        ("PRIVATE", TOKEN, "PRIVATE must be true or false"),
        ("SECURITY", {"allow_webhook_hosts": ["chat.example/x"]}, "'chat.example/x' is not a"),
        ("SECURITY", {"allow_webhook_hosts": [HOOK]}, "hosts: an item is not a host name"),
    ],
)
def test_a_bad_value_is_shown_only_when_it_is_short_and_plain(
    key: str, value: Any, shown: str
) -> None:
    """A value may be a secret read from the wrong variable (`repos_env` naming the webhook
    URL's: found by the hostile config property), and errors are printed and logged: a URL
    or a token's length is not echoed; a misspelt word is."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({**BASE, key: value})
    assert shown in str(caught.value)
    assert "s3cr3t" not in str(caught.value).lower()  # some settings are read in lower case


def test_a_component_name_with_a_newline_is_refused_on_one_line() -> None:
    """Found by the property tests: `"\\n" = false` under [components] made a two-line error."""
    from feed.config import ConfigError, Settings

    with pytest.raises(ConfigError) as refused:
        Settings.from_mapping({"DATABASE_URL": "sqlite://", "COMPONENTS": {"\n": False}})
    assert "\n" not in str(refused.value) and "components.'\\n'" in str(refused.value)


def test_each_setting_is_one_field_with_its_row_and_its_default_is_said_once() -> None:
    assert all("setting" in field.metadata for field in fields(Settings))
    assert list(SETTINGS) == [field.name for field in fields(Settings)]
    defaults = Settings.from_mapping(BASE)
    for name, row in SETTINGS.items():
        if name != "database_url":  # the one setting without a default in the table
            assert getattr(defaults, name) == row.default, name
        if row.toml:
            section, key = row.toml.split(".")
            assert TOML_KEYS[section][key] == row.key
    options, client = SyncOptions(), ClientSettings(api_url=defaults.github_api_url)
    assert options.patch_cap == DEFAULT_PATCH_CAP == defaults.sync_patch_cap
    assert options.backfill.days == defaults.sync_backfill_days
    assert options.incident_label == defaults.incident_label
    assert client.reserve == defaults.sync_rate_limit_reserve
    assert (MAX_ATTEMPTS, LEASE.total_seconds()) == (
        defaults.job_max_attempts,
        defaults.job_lease_seconds,
    )


def test_a_field_of_settings_has_no_default_but_its_row_s_and_cannot_change() -> None:
    """The reader in a field's row is the one place its default is said: Settings made
    without the table is refused, as type checkers refuse it too (every field is required)."""
    assert all(f.default is MISSING and f.default_factory is MISSING for f in fields(Settings))
    with pytest.raises(TypeError, match="missing"):
        Settings(database_url="sqlite://")  # type: ignore[call-arg]
    settings = Settings.from_mapping(BASE)
    with pytest.raises(FrozenInstanceError):
        settings.repos = ("acme/api",)  # type: ignore[misc]


def test_the_readme_names_every_setting_s_variable_and_toml_key() -> None:
    """The README's configuration table and TOML paragraph, the one other place a new
    setting goes, name every row of the table."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    tables = {"COMPONENTS", "SECURITY", "PEOPLE"}  # TOML tables of their own, not variables
    for row in SETTINGS.values():
        if row.key not in tables:
            assert f"`SHIPLOG_{row.key}`" in section, row.key
        if row.toml:
            where, key = row.toml.split(".")
            assert f"`[{where}]`" in section and f"`{key}`" in section, row.toml
