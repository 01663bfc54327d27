"""`.env.example` names every setting with its default, as the settings read it, and cannot fall out of date."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from typer.testing import CliRunner

from kling_gateway.cli import app
from kling_gateway.sample_config import example, field_notes
from kling_gateway.settings import ENV_PREFIX, Settings, SyncConfig

SAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
GENERATED = {f"{ENV_PREFIX}SANDBOX__ACCOUNTS"}  # random demo keys, made at each start


def variables(model: type[BaseModel], prefix: str = ENV_PREFIX) -> set[str]:
    """The variable of every setting, nested groups' included."""
    found = set()
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found |= variables(field.annotation, f"{prefix}{name.upper()}__")
        else:
            found.add(f"{prefix}{name.upper()}")
    return found


def assignments(text: str) -> dict[str, str]:
    """The commented-out `# NAME=value` lines of the sample, by name."""
    lines = (line.removeprefix("# ") for line in text.splitlines() if line.startswith(f"# {ENV_PREFIX}"))
    return dict(line.split("=", 1) for line in lines)


def test_the_sample_is_what_the_settings_say() -> None:
    assert SAMPLE.read_text(encoding="utf-8") == example(), "run `kling-gateway config example > .env.example`"


def test_the_command_prints_the_sample() -> None:
    result = CliRunner().invoke(app, ["config", "example"])
    assert result.exit_code == 0
    assert result.output == example()


def test_every_setting_is_in_the_sample() -> None:
    assert assignments(example()).keys() == variables(Settings)


def test_the_sample_uncommented_loads_as_the_defaults(tmp_path: Path) -> None:
    given = {name: value for name, value in assignments(example()).items() if value}
    assert given.keys() == variables(Settings) - GENERATED - unset_by_default()
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"{name}={value}\n" for name, value in given.items()), encoding="utf-8")
    loaded = Settings(_env_file=dotenv).model_dump()
    defaults = Settings(_env_file=None).model_dump()
    for settings in (loaded, defaults):
        settings["sandbox"].pop("accounts")
    assert loaded == defaults


def test_a_comment_above_fields_in_a_row_speaks_of_each_and_a_unit_is_named() -> None:
    notes = field_notes(SyncConfig)
    assert notes["store_retry_s"] == notes["store_retry_max_s"]
    assert notes["store_retry_s"].startswith("While the database cannot be used")
    assert notes["poll_interval_s"] == "how often an in-flight task is looked at upstream."
    assert "# how often an in-flight task is looked at upstream. Unit: seconds.\n" in example()


def unset_by_default(model: type[BaseModel] = Settings, prefix: str = ENV_PREFIX) -> set[str]:
    """The variables of the settings whose default is None."""
    found = set()
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found |= unset_by_default(field.annotation, f"{prefix}{name.upper()}__")
        elif field.default is None:
            found.add(f"{prefix}{name.upper()}")
    return found
