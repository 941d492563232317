"""The composition root: builds the archive's services from settings for the CLI,
the scheduler process and the web app, so they all open them the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from archive.completeness.alerts import CompletenessThresholds
from archive.keyring import KeyRing, KeyStore
from archive.media.blobstore import LocalBlobStore
from archive.media.downloader import MediaDownloader
from archive.puller import Puller
from archive.sdk.errors import SdkLibraryError
from archive.sdk.source import FinanceSdkSource
from archive.sdk.worker import WorkerConfig
from archive.wecom.client import WeComClient
from archive.wecom.contacts import WeComContacts
from audit.accesslog.logkey import AccessLogConfig
from audit.accesslog.logkey import use as use_access_log_config
from config import migrate
from config.database import create_db_engine, make_session_factory
from config.settings import ConfigError, Settings
from search.backend import SearchBackend
from search.factory import open_backend


@dataclass
class AppContext:
    settings: Settings
    _sources: dict[str, FinanceSdkSource] = field(default_factory=dict)

    @cached_property
    def engine(self) -> Engine:
        return create_db_engine(self.settings.database_url, echo=self.settings.database.echo)

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        # Every session appends to and verifies the access log with the configured anchor and key.
        return use_access_log_config(make_session_factory(self.engine), AccessLogConfig.from_settings(self.settings))

    @cached_property
    def key_store(self) -> KeyStore:
        return KeyStore(self.settings.keys_dir)

    def migrate(self) -> None:
        migrate.upgrade(self.engine)

    def keyring(self, corp_id: str) -> KeyRing:
        corp = self.settings.corp(corp_id)
        passphrases = {version: secret.get_secret_value().encode() for version, secret in corp.key_passphrases.items()}
        return self.key_store.load(corp_id, corp.key_files, passphrases)

    def source(self, corp_id: str) -> FinanceSdkSource:
        """The corp's SDK source, created once per process (the SDK is initialised once)."""
        keyring = self.keyring(corp_id)
        source = self._sources.get(corp_id)
        if source is not None:
            source.update_keys(keyring)
            return source
        corp = self.settings.corp(corp_id)
        sdk = self.settings.sdk
        if sdk.library_path is None:
            raise ConfigError(
                "No Finance SDK library is configured: set WECOM_AUDIT_SDK__LIBRARY_PATH to "
                "libWeWorkFinanceSdk_C.so (or run `wecom-audit demo` for the simulated company)."
            )
        if not sdk.library_path.exists():
            raise SdkLibraryError(
                f"the Finance SDK library {sdk.library_path} does not exist",
                hint="check WECOM_AUDIT_SDK__LIBRARY_PATH",
            )
        config = WorkerConfig(
            library_path=sdk.library_path,
            corp_id=corp.corp_id,
            secret=corp.archive_secret.get_secret_value(),
            proxy=sdk.proxy,
            proxy_password=sdk.proxy_password.get_secret_value(),
            timeout_s=sdk.timeout_s,
            media_timeout_s=sdk.media_timeout_s,
            media_threads=sdk.media_threads,
            rsa_threads=sdk.rsa_threads,
        )
        source = FinanceSdkSource(
            config,
            keyring,
            retry_attempts=sdk.retry_attempts,
            retry_backoff_s=sdk.retry_backoff_s,
            crash_quarantine_threshold=sdk.crash_quarantine_threshold,
        )
        self._sources[corp_id] = source
        return source

    @cached_property
    def blob_store(self) -> LocalBlobStore:
        return LocalBlobStore(self.settings.data_dir / "media")

    def media_downloader(self, corp_id: str) -> MediaDownloader:
        return MediaDownloader(corp_id, self.source(corp_id), self.session_factory, self.blob_store)

    @property
    def completeness_thresholds(self) -> CompletenessThresholds:
        settings = self.settings.completeness
        return CompletenessThresholds(settings.lag_warning_h, settings.lag_critical_h, settings.seq_gap_tolerance)

    def puller(self, corp_id: str) -> Puller:
        return Puller(
            corp_id,
            self.source(corp_id),
            self.session_factory,
            batch_limit=self.settings.sdk.pull_limit,
            lease_ttl=timedelta(seconds=self.settings.scheduler.lease_ttl_s),
        )

    def search_backend(self) -> SearchBackend:
        """A new backend as configured (``search.backend``); ``await backend.close()`` after use."""
        return open_backend(self.settings.search, self.settings.search_index_dir)

    @asynccontextmanager
    async def wecom_contacts(self, corp_id: str | None = None) -> AsyncIterator[WeComContacts]:
        """WeCom's customer-contact API (handover transfers) with the corp's 客户联系 secret."""
        corp = self.settings.corp(corp_id)
        secret = corp.contact_secret.get_secret_value()
        if not secret:
            raise ConfigError(
                f"No customer-contact (客户联系) secret is configured for corp {corp.corp_id!r}: set "
                "WECOM_AUDIT_WECOM__CONTACT_SECRET (WeCom admin console → 客户联系 → API → Secret)."
            )
        async with WeComClient(corp.api_base_url, corp.corp_id, secret) as client:
            yield WeComContacts(client)

    def close(self) -> None:
        for source in self._sources.values():
            source.close()
        self._sources.clear()
        if "engine" in self.__dict__:
            self.engine.dispose()
