"""Typed settings from environment variables (prefix ``WECOM_AUDIT_``) and an optional TOML file.

Nested groups use ``__`` in environment names, e.g. ``WECOM_AUDIT_WECOM__CORP_ID`` or
``WECOM_AUDIT_DATABASE__URL``. The TOML file is named by ``WECOM_AUDIT_CONFIG`` (or
``wecom-audit --config``); environment variables win over the file.

Secrets are ``SecretStr``: their ``repr`` and ``str`` print ``**********``, so a settings
object can be logged or shown without leaking them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "WECOM_AUDIT_CONFIG"
DEFAULT_DATA_DIR = Path("data")


class DatabaseSettings(BaseModel):
    # Empty means: a SQLite file ``wecom-audit.db`` in the data directory. Kept out of
    # repr: a PostgreSQL URL carries a password (``redacted()`` shows it masked).
    url: str = Field(default="", repr=False)
    echo: bool = False


class CorpSettings(BaseModel):
    """One archived WeCom corp: its id, its 会话内容存档 secret and where its keys live."""

    corp_id: str = ""
    archive_secret: SecretStr = SecretStr("")
    # WeCom's HTTP API (gettoken, msgaudit/*); the simulator serves the same paths.
    api_base_url: str = "https://qyapi.weixin.qq.com"
    # Private keys by publickey_ver, in addition to those registered with ``keys add``.
    key_files: dict[int, Path] = Field(default_factory=dict)
    key_passphrase: SecretStr = SecretStr("")


class SdkSettings(BaseModel):
    # Tencent's libWeWorkFinanceSdk_C.so, or the project's fake one for the simulator.
    library_path: Path | None = None
    proxy: str = ""
    proxy_password: SecretStr = SecretStr("")
    timeout_s: int = 10
    media_timeout_s: int = 60
    # Files the SDK worker downloads at once (one SDK handle per download thread).
    media_threads: int = 4
    pull_limit: int = 1000
    # Only SDK codes 10001–10003 are retried, with exponential backoff from this base.
    retry_attempts: int = 5
    retry_backoff_s: float = 1.0
    # A record that kills the SDK worker this many times is quarantined.
    crash_quarantine_threshold: int = 2
    # Threads unwrapping per-message RSA keys inside the SDK worker (0 = one per core).
    rsa_threads: int = 0

    @field_validator("pull_limit")
    @classmethod
    def _limit_in_range(cls, value: int) -> int:
        if not 1 <= value <= 1000:
            raise ValueError("pull_limit must be between 1 and 1000 (the SDK's maximum)")
        return value


class SchedulerSettings(BaseModel):
    pull_interval_s: float = 30.0
    media_interval_s: float = 15.0
    disposition_interval_s: float = 86_400.0
    # Chain checkpoints (database + append-only file to copy off-site).
    checkpoint_interval_s: float = 3_600.0
    # A puller holds its corp's lease this long and renews it while it works.
    lease_ttl_s: float = 120.0


class SimulatorSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 18930
    seed: int = 7
    history_days: float = 2.0
    messages_per_day: int = 3000
    # New messages per minute while the demo runs.
    live_messages_per_minute: int = 120


class CompletenessSettings(BaseModel):
    # A lag this close to WeCom's retention window (about 3 days) raises an alert.
    lag_warning_h: float = 12.0
    lag_critical_h: float = 24.0
    # Missing seqs tolerated before a warning (WeCom's own seqs may have gaps, spec §9.1).
    seq_gap_tolerance: int = 0
    check_interval_s: float = 300.0


class ApiSettings(BaseModel):
    # Loopback until authentication arrives with the audit API.
    host: str = "127.0.0.1"
    port: int = 8080


class LoggingSettings(BaseModel):
    level: str = "INFO"
    json_output: bool = Field(default=False, alias="json")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WECOM_AUDIT_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = DEFAULT_DATA_DIR
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    wecom: CorpSettings = Field(default_factory=CorpSettings)
    # Further corps, usually from the TOML file as [[extra_corps]] tables.
    extra_corps: list[CorpSettings] = Field(default_factory=list)
    sdk: SdkSettings = Field(default_factory=SdkSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    completeness: CompletenessSettings = Field(default_factory=CompletenessSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'wecom-audit.db'}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    def corps(self) -> list[CorpSettings]:
        """Every configured corp, the main one first; corps without an id are left out."""
        return [corp for corp in [self.wecom, *self.extra_corps] if corp.corp_id]

    def corp(self, corp_id: str | None = None) -> CorpSettings:
        corps = self.corps()
        if not corps:
            raise ConfigError(
                "No corp is configured: set WECOM_AUDIT_WECOM__CORP_ID and "
                "WECOM_AUDIT_WECOM__ARCHIVE_SECRET (or run `wecom-audit demo`)."
            )
        if corp_id is None:
            return corps[0]
        for corp in corps:
            if corp.corp_id == corp_id:
                return corp
        raise ConfigError(f"Corp {corp_id!r} is not configured.")

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data with every secret masked, for `wecom-audit config`."""
        data = self.model_dump(mode="json", by_alias=True)
        data["database"]["url"] = redact_url(self.database_url)
        return data


def redact_url(url: str) -> str:
    """A database URL with its password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class ConfigError(Exception):
    """The configuration is incomplete or inconsistent; the message says what to set."""


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
