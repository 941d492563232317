"""How the simulated WeCom encrypts each archived message (docs/fake-sdk.md).

Like WeCom: a fresh random key per message, RSA-2048 PKCS#1 v1.5-wrapped with the corp's
public key of the current ``publickey_ver``. The message cipher behind ``DecryptData`` is
the simulator's own (Tencent's is not public): AES-256-GCM keyed by SHA-256 of the
random-key string. The fake SDK's C code implements the decrypting side.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

RANDOM_KEY_BYTES = 64  # base64 → 88 printable characters, as reported for the real SDK
NONCE_BYTES = 12


@dataclass(frozen=True)
class EncryptedRecord:
    publickey_ver: int
    encrypt_random_key: str
    encrypt_chat_msg: str


@dataclass(frozen=True)
class CorpKeyPair:
    version: int
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def generate(cls, version: int) -> CorpKeyPair:
        return cls(version, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def from_pem(cls, version: int, pem: bytes) -> CorpKeyPair:
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return cls(version, key)

    def private_pem(self) -> bytes:
        """PKCS#1 PEM, the format WeCom's documentation uses (``openssl genrsa``)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )


def encrypt_message(plaintext: bytes, public_key: rsa.RSAPublicKey, publickey_ver: int) -> EncryptedRecord:
    random_key = base64.b64encode(os.urandom(RANDOM_KEY_BYTES))
    wrapped = public_key.encrypt(random_key, padding.PKCS1v15())
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(hashlib.sha256(random_key).digest()).encrypt(nonce, plaintext, None)
    return EncryptedRecord(
        publickey_ver,
        base64.b64encode(wrapped).decode("ascii"),
        base64.b64encode(nonce + sealed).decode("ascii"),
    )


def decrypt_message(random_key: bytes, encrypt_chat_msg: str) -> bytes:
    """The reference decryption (what the fake SDK's DecryptData does), for tests."""
    blob = base64.b64decode(encrypt_chat_msg)
    return AESGCM(hashlib.sha256(random_key).digest()).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], None)
