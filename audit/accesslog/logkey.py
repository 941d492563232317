"""How the access log is protected: its anchor file and, in keyed mode, its HMAC key.

Contract:
- The key is 32 random bytes, hex-encoded in one file outside the database (by default
  ``<keys_dir>/access-log.key`` next to the archive's private keys), created once with
  ``O_EXCL`` and mode 0600 (``wecom-audit init``, or the switch-over to keyed mode) and
  never rewritten. A key file that others may read, or that is not a key, is refused.
- The key never leaves this module except into ``hmac``: it is not logged, printed or
  stored in the database. The database holds only ``key_id``, a one-way fingerprint that
  tells an operator which key file signed the log.
- The configuration travels with the session (``session.info``), so every appender —
  whichever module calls ``audit.accesslog.log.append`` — signs with the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from config.settings import ConfigError, Settings

KEY_BYTES = 32
KEY_FILE_MODE = 0o600
KEY_DIR_MODE = 0o700
SESSION_INFO_KEY = "audit.access_log.config"
_KEY_ID_LABEL = b"wecom-audit access-log key id\x00"
KEY_ID_CHARS = 16


@dataclass(frozen=True)
class AccessLogKey:
    """The HMAC key of the keyed mode (its ``repr`` shows only the fingerprint)."""

    secret: bytes
    key_id: str

    def __repr__(self) -> str:
        return f"AccessLogKey(key_id={self.key_id!r})"

    def chain_hash(self, prev_hash: str, encoded: bytes) -> str:
        """HMAC-SHA256 over what the plain chain hashes with SHA-256."""
        return hmac.new(self.secret, prev_hash.encode() + encoded, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AccessLogConfig:
    """``mode`` "anchored": SHA-256 chain plus checkpoints in ``checkpoint_file``;
    "keyed": the same, and rows from the switch-over on are HMAC-signed with the key in
    ``key_file`` (docs/adr/0019-access-log-anchoring.md)."""

    mode: Literal["anchored", "keyed"]
    checkpoint_file: Path
    key_file: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessLogConfig:
        return cls(settings.access_log.mode, settings.access_log_checkpoint_file, settings.access_log_key_file)

    @property
    def keyed(self) -> bool:
        return self.mode == "keyed"

    def key(self, *, create: bool = False) -> AccessLogKey:
        """The key; with ``create``, a new one if the file does not exist yet."""
        if create and not self.key_file.exists():
            return create_key(self.key_file)
        return load_key(self.key_file)


def use(session_factory: sessionmaker[Session], config: AccessLogConfig) -> sessionmaker[Session]:
    """Make every session of this factory append and verify the access log with ``config``."""
    info = dict(session_factory.kw.get("info") or {})
    info[SESSION_INFO_KEY] = config
    session_factory.configure(info=info)
    return session_factory


def config_of(session: Session) -> AccessLogConfig | None:
    config = session.info.get(SESSION_INFO_KEY)
    return config if isinstance(config, AccessLogConfig) else None


def key_id(secret: bytes) -> str:
    return hashlib.sha256(_KEY_ID_LABEL + secret).hexdigest()[:KEY_ID_CHARS]


def create_key(path: Path) -> AccessLogKey:
    secret = secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, KEY_DIR_MODE)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secret.hex().encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
    except FileExistsError:  # created meanwhile by another process: use theirs
        return load_key(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the access-log key file {path}: {exc.strerror}") from None
    return AccessLogKey(secret, key_id(secret))


def load_key(path: Path) -> AccessLogKey:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ConfigError(
            f"the access-log key file {path} does not exist: restore it from its backup "
            "(a new key cannot verify or extend rows signed with the old one)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the access-log key file {path}: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"the access-log key file {path} is readable by others: chmod 600 it")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != KEY_BYTES:
        raise ConfigError(f"{path} is not an access-log key ({KEY_BYTES} bytes, hex-encoded)")
    return AccessLogKey(secret, key_id(secret))
