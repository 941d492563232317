"""Typed settings from environment variables (prefix ``WECOM_AUDIT_``) and an optional TOML file.

Nested groups use ``__`` in environment names, e.g. ``WECOM_AUDIT_WECOM__CORP_ID`` or
``WECOM_AUDIT_DATABASE__URL``. The TOML file is named by ``WECOM_AUDIT_CONFIG`` (or
``wecom-audit --config``); environment variables win over the file.

Secrets are ``SecretStr``: their ``repr`` and ``str`` print ``**********``, so a settings
object can be logged or shown without leaking them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
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
    # The 客户联系 secret: externalcontact/* APIs (handover transfers) reject the archive secret.
    contact_secret: SecretStr = SecretStr("")
    # WeCom's HTTP API (gettoken, msgaudit/*); the simulator serves the same paths.
    api_base_url: str = "https://qyapi.weixin.qq.com"
    # Private keys by publickey_ver, in addition to those registered with ``keys add``.
    key_files: dict[int, Path] = Field(default_factory=dict)
    # Passphrases of encrypted private keys, by publickey_ver (each key its own; a key with
    # none here must be unencrypted). Env: WECOM_AUDIT_WECOM__KEY_PASSPHRASES='{"2": "…"}'.
    key_passphrases: dict[int, SecretStr] = Field(default_factory=dict)


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
    # Directory sync from WeCom (ADR 0020): a full sync this often; callbacks trigger one
    # sooner (debounced), and WeCom calls are paced to at most this many per minute.
    directory_sync_interval_s: float = 86_400.0
    directory_sync_debounce_s: float = 60.0
    directory_calls_per_minute: int = 600


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


class ConsentSettings(BaseModel):
    # The consent ledger's job: new agree/disagree messages, then WeCom's check APIs for
    # pairs and rooms seen in archived chats (new ones first, others every recheck_after_h).
    check_interval_s: float = 900.0
    recheck_after_h: float = 24.0
    max_pairs_per_run: int = 2000
    max_rooms_per_run: int = 200


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    # /metrics answers only to 'Authorization: Bearer <metrics_token>' (Prometheus:
    # authorization.credentials); while it is empty /metrics is closed. public_metrics opens
    # it to anyone: only where nobody but the scraper reaches the app (docs/security.md).
    metrics_token: SecretStr = Field(default=SecretStr(""), repr=False)
    public_metrics: bool = False
    # The API docs (/api/docs and its OpenAPI document) are for signed-in users unless public.
    public_docs: bool = False


class AlertSettings(BaseModel):
    """Detection stage and alert de-duplication (see docs/adr/0012-alerts-and-review.md)."""

    # Hits of one rule in one conversation within one window become one alert.
    dedupe_window_minutes: int = 60
    # Hits below this severity are stored but raise no alert.
    min_severity: str = "low"
    # Sentiment intents that raise an alert of their own.
    alert_intents: list[str] = Field(default_factory=lambda: ["threat", "complaint"])
    # Messages per detection-stage transaction, and how often the stage runs.
    detect_batch_messages: int = 2000
    detect_interval_s: float = 10.0
    # Share of unflagged conversations drawn for supervisory review per period (0 … 1).
    sampling_rate: float = 0.02
    sampling_seed: int = 0


class WebhookTarget(BaseModel):
    url: str = Field(default="", repr=False)
    # HMAC-SHA256 key for the X-WecomAudit-Signature header.
    secret: SecretStr = SecretStr("")


class NotifySettings(BaseModel):
    """Where notifications go. Routing targets name entries here (``webhook:<name>``,
    ``wecom:<name>``) or are e-mail addresses (``email:<address>``), so secrets stay in settings."""

    webhooks: dict[str, WebhookTarget] = Field(default_factory=dict)
    # Group-robot webhook URLs; the ``key`` in the URL is the robot's secret.
    wecom_robots: dict[str, SecretStr] = Field(default_factory=dict)
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    mail_from: str = "wecom-audit@localhost"
    timeout_s: float = 10.0
    max_attempts: int = 6
    backoff_base_s: float = 30.0
    # More than ``digest_threshold`` notifications to one target within the window → one digest.
    digest_threshold: int = 5
    digest_window_minutes: int = 10
    deliver_interval_s: float = 15.0
    # Link shown in notifications (the console's alert page); empty = none.
    console_url: str = ""


class DetectionSettings(BaseModel):
    """What the detectors treat as risky beyond the rule tables (which live in the database)."""

    # Working hours are judged in this zone; messages outside them are "after hours".
    timezone: str = "Asia/Shanghai"
    working_hours_start: str = "09:00"
    working_hours_end: str = "18:00"
    # ISO weekdays: 1 = Monday … 7 = Sunday.
    working_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    # Also match lexicon terms by their pinyin (catches homophones; more false positives).
    pinyin_matching: bool = False
    # Links to these domains (and their subdomains) are not reported.
    url_allow_domains: list[str] = Field(default_factory=lambda: ["work.weixin.qq.com", "weixin.qq.com"])
    # Red packets at or above this total (CNY) are reported.
    red_packet_threshold_yuan: float = 200.0
    # A directory of lexicon/variant CSV files replacing the packaged starter data.
    lexicon_data_dir: Path | None = None
    # A customer message unanswered this long (working time) is a reply timeout.
    reply_timeout_minutes: int = 30


class CallbackSettings(BaseModel):
    """WeCom's callback (``/wecom/callback``): the Token and EncodingAESKey set on the admin page."""

    token: SecretStr = SecretStr("")
    encoding_aes_key: SecretStr = SecretStr("")
    # A delivery whose timestamp is further than this from our clock is refused (replays).
    replay_window_s: int = 300
    # msgaudit_notify triggers a pull at most this often per corp (WeCom sends one per 15 s at most).
    debounce_s: float = 15.0


class AuthSettings(BaseModel):
    """Logins, sessions and API tokens of the audit API and console."""

    session_ttl_s: int = 8 * 3600
    session_idle_s: int = 3600
    # "auto": Secure cookies when the request came over TLS (directly or, with
    # trust_proxy_headers, per X-Forwarded-Proto); "always"/"never" force it.
    cookie_secure: str = "auto"
    cookie_samesite: str = "strict"
    trust_proxy_headers: bool = False
    # Failed logins before the account is locked, and for how long.
    lockout_threshold: int = 5
    lockout_s: int = 900
    # Login attempts per client address per minute (any outcome).
    login_attempts_per_minute: int = 20
    token_default_ttl_days: int = 90


class MonitorSettings(BaseModel):
    """Group monitoring rollups, reply metrics and spike detection (docs/adr/0013-group-monitoring.md).
    Working hours and the reply timeout are in ``detection``."""

    interval_s: float = 60.0
    # Spike (舆情): today above the room's trailing mean + k·stddev, with minimum volumes.
    baseline_days: int = 14
    spike_k: float = 3.0
    spike_min_messages: int = 20
    spike_min_baseline_days: int = 7
    spike_lookback_days: int = 2
    top_words: bool = True


class SearchSettings(BaseModel):
    """The search index: the embedded SQLite index (default) or Elasticsearch."""

    backend: Literal["embedded", "elasticsearch"] = "embedded"
    # Directory of the embedded index; empty means ``<data_dir>/search``.
    embedded_path: Path | None = None
    es_urls: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:9200"])
    es_index_prefix: str = "wecom-messages"
    es_shards: int = 1
    es_replicas: int = 0
    # An extra analyzer field for installations with IK/smartcn (e.g. "ik_max_word").
    es_analyzer: str | None = None
    es_partition: Literal["month", "year"] = "year"  # month only past ~50M messages a year (ADR 0009)
    # Messages per bulk call of the indexer, and how often the scheduler runs it.
    indexer_batch: int = 2000
    indexer_interval_s: float = 5.0
    # after:/before: dates and the "day" facet are read in this zone.
    timezone: str = "Asia/Shanghai"


class NlpSettings(BaseModel):
    """Sentiment and complaint/threat intent (``audit.nlp``, trained by `wecom-audit nlp train`)."""

    # Versions live in sub-directories; the newest is used. Empty: <data_dir>/models/sentiment.
    model_dir: Path | None = None
    # Messages per nlp.pipe batch.
    batch_size: int = 256
    # A message is "negative" when the model's probability of negative reaches this.
    negative_threshold: float = Field(default=0.5, ge=0.0, le=1.0)


class AccessLogSettings(BaseModel):
    """Tamper evidence of the access log (docs/adr/0019-access-log-anchoring.md)."""

    # "anchored": a SHA-256 chain with checkpoints in an append-only file outside the database;
    # "keyed": also an HMAC-SHA256 key held outside the database, from a recorded switch-over on.
    mode: Literal["anchored", "keyed"] = "anchored"
    # Empty: <data_dir>/keys/access-log.key (mode 0600; back it up like the private keys).
    key_file: Path | None = None
    # Empty: <data_dir>/integrity/access-log-checkpoints.jsonl (copy it off-site).
    checkpoint_file: Path | None = None


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
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    callback: CallbackSettings = Field(default_factory=CallbackSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    nlp: NlpSettings = Field(default_factory=NlpSettings)
    access_log: AccessLogSettings = Field(default_factory=AccessLogSettings)

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
    def search_index_dir(self) -> Path:
        return self.search.embedded_path or self.data_dir / "search"

    @property
    def sentiment_model_dir(self) -> Path:
        return self.nlp.model_dir or self.data_dir / "models" / "sentiment"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def access_log_key_file(self) -> Path:
        return self.access_log.key_file or self.keys_dir / "access-log.key"

    @property
    def access_log_checkpoint_file(self) -> Path:
        return self.access_log.checkpoint_file or self.data_dir / "integrity" / "access-log-checkpoints.jsonl"

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
    """The effective settings. A named file that is missing, TOML that does not parse and values
    that do not validate are one ``ConfigError`` each, saying what to fix (never defaults
    silently: a typo in ``WECOM_AUDIT_CONFIG`` would otherwise run on SQLite in ./data)."""
    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file and not Path(config_file).is_file():
        state = "is not a file" if Path(config_file).exists() else "does not exist"
        raise ConfigError(
            f"The configuration file {config_file} ({CONFIG_FILE_ENV} or --config) {state}: "
            "point it at your TOML settings file, or unset it to use the environment alone."
        )
    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The configuration file {config_file} is not valid TOML ({exc}): fix it.") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}" for error in exc.errors()
        )
        # Only where and what, never the value (it may be a secret).
        raise ConfigError(
            f"Invalid settings ({problems}). Fix them in {config_file or 'the environment'} "
            "(variables are WECOM_AUDIT_<GROUP>__<NAME>)."
        ) from None
