"""Settings come from KLING_GATEWAY_* variables; the command line refuses options that do not fit together."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kling_gateway.cli import app
from kling_gateway.settings import Settings

runner = CliRunner()


def test_settings_read_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLING_GATEWAY_DATA_DIR", "/srv/kling")
    monkeypatch.setenv("KLING_GATEWAY_SANDBOX__SPEED", "60")
    monkeypatch.setenv("KLING_GATEWAY_SANDBOX__WEBHOOK_SECRET", "whsec_c2VjcmV0")
    settings = Settings()
    assert str(settings.data_dir) == "/srv/kling"
    assert settings.sandbox.speed == 60.0
    assert settings.sandbox.webhook_secret is not None
    assert "whsec_c2VjcmV0" not in repr(settings)  # secrets never show in logs or tracebacks


def test_a_bad_setting_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLING_GATEWAY_SANDBOX__FAILURE_RATE", "1.5")
    with pytest.raises(ValueError, match="failure_rate"):
        Settings()


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--access-key", "ak"], "--secret-key"),
        (["--access-key", "ak", "--secret-key", "sk", "--api-key", "k1", "--api-key", "k2"], "--api-key"),
        (["--failure-rate", "2"], "failure-rate"),
        (["--video-concurrency", "0"], "video-concurrency"),
        (["--webhook-secret", "plain"], "whsec_"),
        (["--webhook-secret", "whsec_not*base64"], "Base64"),
        (["--resource-pack-units", "-1"], "resource-pack-units"),
    ],
)
def test_the_sandbox_command_refuses_options_that_do_not_fit(arguments: list[str], complaint: str) -> None:
    result = runner.invoke(app, ["sandbox", *arguments])
    assert result.exit_code == 2
    assert complaint in result.output


def test_sandbox_accounts_come_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLING_GATEWAY_SANDBOX__ACCOUNTS", '[{"access_key": "AK", "secret_key": "SK"}]')
    monkeypatch.setenv("KLING_GATEWAY_SANDBOX__SEED", "3")
    sandbox = Settings().sandbox
    assert [(account.access_key, account.secret_key) for account in sandbox.accounts] == [("AK", "SK")]
    assert sandbox.seed == 3
