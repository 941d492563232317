"""Settings come from the environment and a TOML file; secrets are never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings, load_settings


def test_environment_and_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "wecom-audit.toml"
    toml.write_text(
        '[wecom]\ncorp_id = "ww-from-file"\narchive_secret = "file-secret"\n'
        '[sdk]\ntimeout_s = 7\n[[extra_corps]]\ncorp_id = "ww-second"\narchive_secret = "second-secret"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("WECOM_AUDIT_CONFIG", str(toml))
    monkeypatch.setenv("WECOM_AUDIT_SDK__TIMEOUT_S", "9")
    monkeypatch.setenv("WECOM_AUDIT_DATABASE__URL", "postgresql+psycopg://audit:pg-password@db/wecom")
    settings = load_settings()
    assert settings.sdk.timeout_s == 9  # the environment wins over the file
    assert [c.corp_id for c in settings.corps()] == ["ww-from-file", "ww-second"]
    assert settings.corp("ww-second").archive_secret.get_secret_value() == "second-secret"

    shown = repr(settings) + str(settings.redacted())
    for secret in ("file-secret", "second-secret", "pg-password"):
        assert secret not in shown
    assert settings.redacted()["database"]["url"] == "postgresql+psycopg://audit:***@db/wecom"


def test_defaults_need_no_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("WECOM_AUDIT_"):
            monkeypatch.delenv(name)
    settings = Settings()
    assert settings.database_url == "sqlite:///data/wecom-audit.db"
    assert settings.scheduler.pull_interval_s == 30


def test_pull_limit_is_checked() -> None:
    with pytest.raises(ValueError, match="1000"):
        Settings.model_validate({"sdk": {"pull_limit": 5000}})
