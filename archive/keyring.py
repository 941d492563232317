"""Private keys by ``publickey_ver``, and the RSA unwrap of per-message random keys.

Contract:
- A key is chosen strictly by the record's ``publickey_ver``; there is no "try every key".
- RSA-2048 PKCS#1 v1.5 decryption with a wrong key does *not* fail: OpenSSL's implicit
  rejection returns random-looking bytes. WeCom's random key is a printable ASCII string
  (spec §3.2), so anything else means the key registered for that version is not the one
  WeCom used; the record is quarantined with a reason that says so.
- Key material never leaves this module's objects in logs, reprs or errors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from archive.errors import PrivateKeyError
from archive.source import FailureReason

# WeCom's random key has been seen as 88 printable characters (spec §3.2, UNCERTAIN); we
# only insist on printable ASCII of a plausible length. RSA-2048 v1.5 fits ≤ 245 bytes.
RANDOM_KEY_MIN_BYTES = 16
RANDOM_KEY_MAX_BYTES = 245
_PRINTABLE_ASCII = re.compile(rb"[\x20-\x7e]+")
_KEY_FILE = re.compile(r"^v?(\d+)\.pem$")


@dataclass(frozen=True)
class KeyMaterial:
    """A private key as stored: PEM bytes (PKCS#1 or PKCS#8) and an optional passphrase."""

    version: int
    pem: bytes = field(repr=False)
    passphrase: bytes | None = field(default=None, repr=False)
    source: str = ""

    def load(self) -> rsa.RSAPrivateKey:
        try:
            key = serialization.load_pem_private_key(self.pem, password=self.passphrase or None)
        except (ValueError, TypeError) as exc:
            # The library's message names the problem (bad passphrase, not PEM) but not the key.
            raise PrivateKeyError(
                f"private key for publickey_ver {self.version} ({self.source}) cannot be read: {exc}",
                hint=(
                    "check that the file is the PEM private key and, for an encrypted key, that "
                    f'WECOM_AUDIT_WECOM__KEY_PASSPHRASES has its passphrase under "{self.version}"'
                ),
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise PrivateKeyError(
                f"key for publickey_ver {self.version} ({self.source}) is not an RSA key",
                hint="WeCom uses RSA-2048 key pairs: openssl genrsa -out private.pem 2048",
            )
        return key

    def fingerprint(self) -> str:
        """SHA-256 of the public key (DER), the same on both sides of WeCom's console."""
        public = (
            self.load()
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return hashlib.sha256(public).hexdigest()


@dataclass(frozen=True)
class UnwrapResult:
    random_key: bytes | None
    failure: FailureReason | None = None
    detail: str = ""


class KeyRing:
    """The private keys of one corp, parsed lazily and once per process."""

    def __init__(self, materials: Iterable[KeyMaterial]) -> None:
        self._materials = {material.version: material for material in materials}
        self._loaded: dict[int, rsa.RSAPrivateKey] = {}

    def __repr__(self) -> str:
        return f"KeyRing(versions={self.versions()})"

    def versions(self) -> list[int]:
        return sorted(self._materials)

    def materials(self) -> list[KeyMaterial]:
        return [self._materials[version] for version in self.versions()]

    def identity(self) -> tuple[tuple[int, str], ...]:
        """What identifies this ring's content without revealing it (to detect changes)."""
        return tuple((version, hashlib.sha256(self._materials[version].pem).hexdigest()) for version in self.versions())

    def preload(self) -> None:
        """Load every key now: a key that cannot be read raises ``PrivateKeyError`` here,
        before anything is fetched, instead of quarantining every record of its version."""
        for version in self.versions():
            self._key(version)

    def _key(self, version: int) -> rsa.RSAPrivateKey:
        key = self._loaded.get(version)
        if key is None:
            key = self._loaded[version] = self._materials[version].load()
        return key

    def unwrap(self, publickey_ver: int, encrypt_random_key: str) -> UnwrapResult:
        if publickey_ver not in self._materials:
            return UnwrapResult(
                None,
                FailureReason.UNKNOWN_KEY_VERSION,
                f"no private key for publickey_ver {publickey_ver}; add it with "
                f"`wecom-audit keys add --version {publickey_ver} FILE`, then `wecom-audit quarantine retry`",
            )
        try:
            ciphertext = base64.b64decode(encrypt_random_key, validate=True)
        except (binascii.Error, ValueError):
            return UnwrapResult(None, FailureReason.DECRYPT_FAILED, "encrypt_random_key is not base64")
        try:
            key = self._key(publickey_ver)
        except PrivateKeyError as exc:
            return UnwrapResult(None, FailureReason.KEY_UNREADABLE, str(exc))
        try:
            random_key = key.decrypt(ciphertext, padding.PKCS1v15())
        except ValueError:
            return UnwrapResult(
                None,
                FailureReason.WRONG_KEY,
                f"RSA decryption failed with the key for publickey_ver {publickey_ver}: "
                "the registered private key does not match the public key WeCom used",
            )
        if not (
            RANDOM_KEY_MIN_BYTES <= len(random_key) <= RANDOM_KEY_MAX_BYTES and _PRINTABLE_ASCII.fullmatch(random_key)
        ):
            return UnwrapResult(
                None,
                FailureReason.WRONG_KEY,
                f"the key registered for publickey_ver {publickey_ver} decrypts the random key to "
                "bytes of the wrong shape: it is not the private key WeCom used for this version",
            )
        return UnwrapResult(random_key)


class KeyStore:
    """Private key files by corp and version under one directory (mode 0600).

    Layout: ``<keys_dir>/<corp_id>/v<version>.pem``. Keys named in the settings
    (``key_files``) are added to those found here.
    """

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir

    def corp_dir(self, corp_id: str) -> Path:
        return self.keys_dir / corp_id

    def add(
        self, corp_id: str, version: int, pem: bytes, passphrase: bytes | None = None, *, replace: bool = False
    ) -> KeyMaterial:
        if version < 1:
            raise PrivateKeyError(f"publickey_ver must be a positive number, not {version}")
        material = KeyMaterial(version, pem, passphrase, source="(new)")
        key = material.load()  # refuse anything that is not a readable RSA private key
        if key.key_size < 2048:
            raise PrivateKeyError(
                f"the key is RSA-{key.key_size}; WeCom requires RSA-2048",
                hint="generate one with: openssl genrsa -out private.pem 2048",
            )
        target = self.corp_dir(corp_id) / f"v{version}.pem"
        if target.exists() and not replace:
            raise PrivateKeyError(
                f"a key for publickey_ver {version} is already registered ({target})",
                hint="pass --replace to overwrite it",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(target.parent, 0o700)
        temporary = target.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        return KeyMaterial(version, pem, passphrase, source=str(target))

    def load(
        self,
        corp_id: str,
        extra_files: Mapping[int, Path] | None = None,
        passphrases: Mapping[int, bytes] | None = None,
    ) -> KeyRing:
        """Every key of the corp, each with its own passphrase (``passphrases`` by version)."""
        passphrases = passphrases or {}
        materials: dict[int, KeyMaterial] = {}
        directory = self.corp_dir(corp_id)
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                match = _KEY_FILE.match(path.name)
                if match:
                    version = int(match.group(1))
                    materials[version] = KeyMaterial(version, path.read_bytes(), passphrases.get(version), str(path))
        for version, path in (extra_files or {}).items():
            try:
                pem = path.read_bytes()
            except OSError as exc:
                raise PrivateKeyError(
                    f"key file for publickey_ver {version} cannot be read: {path} ({exc.strerror})",
                    hint="fix WECOM_AUDIT_WECOM__KEY_FILES or register the key with `wecom-audit keys add`",
                ) from None
            materials[version] = KeyMaterial(version, pem, passphrases.get(version), str(path))
        return KeyRing(materials.values())
