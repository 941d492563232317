"""How WeCom encrypts each archived message: the real record format (spec §1.1b).

This is not a format of our own. It was measured on Tencent's ``libWeWorkFinanceSdk_C.so``
(md5 ``f2db3dd1372c516db6290afbd1b5c698``, spec §1.1a): read from its disassembly, then
checked by feeding records built here to that library, which decrypts them to the exact
plaintext, and by comparing the return codes of malformed records with
``decrypt_message`` below. The fake SDK's C code (``fakesdk/fake_finance_sdk.c``)
implements the same ``DecryptData``; ``docs/fake-sdk.md`` has the return codes.

Per message (``K`` = the random key the integrator RSA-unwraps, ``M`` = ``encrypt_chat_msg``):

- ``k1``: a random 32-character key for the body; ``W``: 32 random base64-alphabet
  characters, the key of ``K`` and also ``M[13:45]``.
- ``body`` = base64(IV ‖ AES-256-CBC(k1, IV, PKCS#7(plaintext))).
- ``K`` = base64(IV' ‖ AES-256-CBC(W, IV', PKCS#7(SdkKeyInfo{k1, pre_len, end_len, s_len}))),
  always 88 characters; RSA-2048 PKCS#1 v1.5-wrapped with the corp's public key of the
  current ``publickey_ver`` it becomes ``encrypt_random_key``.
- ``M = J(13) + W + J(pre_len) + body[:s_len] + J(s_len) + body[s_len:] + J(end_len)``,
  ``J(n)`` being n junk characters.

Three inputs make the library abort the process instead of returning a code (a C++
exception escapes its ``extern "C"`` function): ``M`` shorter than 13 characters, an
``s_len`` past the end of what is left of ``M``, and base64 text ending in more ``=``
than it has decoded bytes. ``decrypt_message`` raises ``LibraryAbort`` for them.

UNCERTAIN (the library accepts any of them, so these are our choices, not WeCom's):
the alphabet of ``k1`` and of the junk, the ranges of ``pre_len``/``end_len``/``s_len``,
and whether WeCom's encoder writes ``SdkKeyInfo`` fields that are zero. The library's
base64 decoder is lenient (see ``sdk_b64decode``), so garbage in a record often still
"decrypts"; that is Tencent's behaviour, copied on purpose.
"""

from __future__ import annotations

import base64
import os
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# DecryptData's return codes (spec §1.4 names; the meaning inside DecryptData is §1.1b's).
SDK_OK: Final = 0
SDK_BAD_PARAMS: Final = 10000  # key or message NULL
SDK_BAD_KEY_INFO: Final = 10005  # SdkKeyInfo unparsable or inconsistent with the message
SDK_DECRYPT_FAILED: Final = 10006  # the body does not decrypt with k1
SDK_BAD_KEY: Final = 10008  # the random key does not decrypt with W

BASE64_ALPHABET: Final = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
KEY_PRINTABLE: Final = "".join(chr(c) for c in range(0x21, 0x7F))  # k1's alphabet (UNCERTAIN)
HEAD_JUNK_CHARS: Final = 13
W_CHARS: Final = 32
K1_CHARS: Final = 32
RANDOM_KEY_CHARS: Final = 88  # len(K): base64 of IV + 48 bytes of encrypted SdkKeyInfo
AES_KEY_BYTES: Final = 32
AES_BLOCK_BYTES: Final = 16
MAX_PRE_JUNK_CHARS: Final = 64
MAX_END_JUNK_CHARS: Final = 64
MAX_SPLIT_CHARS: Final = 256

RandomBytes: TypeAlias = Callable[[int], bytes]


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


class DecryptError(ValueError):
    """Tencent's ``DecryptData`` returns ``sdk_code`` for this input."""

    def __init__(self, sdk_code: int, reason: str) -> None:
        super().__init__(f"DecryptData returns {sdk_code}: {reason}")
        self.sdk_code = sdk_code
        self.reason = reason


class LibraryAbort(ValueError):
    """Tencent's ``DecryptData`` throws a C++ exception through ``extern "C"`` for this
    input, so the host process aborts (SIGABRT) instead of getting a return code."""

    def __init__(self, exception: str, what: str) -> None:
        super().__init__(f"DecryptData aborts the process: {exception}: {what}")
        self.exception = exception
        self.what = what


# --------------------------------------------------------------------------- SdkKeyInfo


@dataclass(frozen=True)
class SdkKeyInfo:
    """``wwmsgauditsdk.SdkKeyInfo`` (proto2): 1 ``k1`` string, 2 ``pre_len``, 3 ``end_len``,
    4 ``s_len`` (int32). Absent fields read as empty/zero."""

    k1: bytes = field(default=b"", repr=False)
    pre_len: int = 0
    end_len: int = 0
    s_len: int = 0

    def encode(self) -> bytes:
        """All four fields, in field order (UNCERTAIN whether WeCom omits zero ones)."""
        return (
            _varint(1 << 3 | 2)
            + _varint(len(self.k1))
            + self.k1
            + b"".join(_varint(number << 3) + _varint(value) for number, value in self._ints())
        )

    def _ints(self) -> tuple[tuple[int, int], ...]:
        return (2, self.pre_len), (3, self.end_len), (4, self.s_len)

    @classmethod
    def decode(cls, data: bytes) -> SdkKeyInfo:
        """Parse like libprotobuf's ``ParseFromString``; ``ValueError`` where it fails.

        Unknown fields and known fields of the wrong wire type are skipped, the last
        occurrence of a field wins, an int32 keeps the low 32 bits of its varint. A zero
        tag, an end-group tag, a bad wire type or a truncated value fail the parse.
        """
        values: dict[int, bytes | int] = {}
        pos = 0
        while pos < len(data):
            tag, pos = _read_varint(data, pos)
            tag &= 0xFFFFFFFF
            number, wire = tag >> 3, tag & 7
            if tag == 0 or wire == 4:
                raise ValueError("zero or end-group tag")
            if wire == 3:
                pos = _skip_group(data, pos, number, depth=1)
                continue
            value, pos = _read_value(data, pos, wire)
            if (number == 1 and wire == 2) or (number in (2, 3, 4) and wire == 0):
                values[number] = value
        k1, pre_len, end_len, s_len = (values.get(1, b""), *(values.get(n, 0) for n in (2, 3, 4)))
        assert isinstance(k1, bytes)
        assert isinstance(pre_len, int) and isinstance(end_len, int) and isinstance(s_len, int)
        return cls(k1, _wrap32(pre_len), _wrap32(end_len), _wrap32(s_len))


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # a negative int32 is written as its 64-bit two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for index in range(10):
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return result & ((1 << 64) - 1), pos
    raise ValueError("varint longer than 10 bytes")


def _read_value(data: bytes, pos: int, wire: int) -> tuple[bytes | int, int]:
    if wire == 0:
        return _read_varint(data, pos)
    if wire in (1, 5):
        end = pos + (8 if wire == 1 else 4)
        if end > len(data):
            raise ValueError("truncated fixed-width value")
        return data[pos:end], end
    if wire == 2:
        length, pos = _read_varint(data, pos)
        if length & 0xFFFFFFFF > 0x7FFFFFFF or pos + (length & 0xFFFFFFFF) > len(data):
            raise ValueError("bad length")
        end = pos + (length & 0xFFFFFFFF)
        return data[pos:end], end
    raise ValueError(f"wire type {wire}")


def _skip_group(data: bytes, pos: int, number: int, depth: int) -> int:
    # UNCERTAIN: libprotobuf bounds the recursion (default limit 100); records never nest.
    if depth > 100:
        raise ValueError("groups nested too deep")
    while True:
        if pos >= len(data):
            raise ValueError("unterminated group")
        tag, pos = _read_varint(data, pos)
        tag &= 0xFFFFFFFF
        inner_number, wire = tag >> 3, tag & 7
        if tag == 0:
            raise ValueError("zero tag in group")
        if wire == 4:
            if inner_number != number:
                raise ValueError("mismatched end-group")
            return pos
        if wire == 3:
            pos = _skip_group(data, pos, inner_number, depth + 1)
        else:
            _, pos = _read_value(data, pos, wire)


# --------------------------------------------------------------------------- the library's primitives

# Maps every byte outside the alphabet to "A", so the standard decoder sees what the library sees.
_DECODE_TABLE: Final = bytes(b if chr(b) in BASE64_ALPHABET else ord("A") for b in range(256))


def sdk_b64decode(text: bytes) -> bytes:
    """The library's own base64 decoder, which never rejects anything.

    It reads ``len // 4`` groups of four characters (the rest is ignored); a character
    outside ``A-Za-z0-9+/`` (``=`` and whitespace included) counts as ``A`` (0); then it
    drops one byte per ``=`` at the very end of the text. More trailing ``=`` than there
    are decoded bytes makes it call ``std::string::assign`` with a negative length, which
    throws ``std::length_error`` (``LibraryAbort``).
    """
    groups = len(text) // 4
    decoded = base64.b64decode(text[: 4 * groups].translate(_DECODE_TABLE))
    trailing = len(text) - len(text.rstrip(b"="))
    if trailing > len(decoded):
        raise LibraryAbort("std::length_error", "basic_string::assign")
    return decoded[: len(decoded) - trailing]


def sdk_aes_decrypt(key: bytes, text: bytes) -> bytes | None:
    """``aes(key, text)`` of §1.1b: the library's base64 decode, then AES-256-CBC with the
    first 16 bytes as IV and PKCS#7; the key zero-padded or truncated to 32 bytes.
    None where the library reports failure."""
    raw = sdk_b64decode(text) if text else b""
    if len(raw) < 2 * AES_BLOCK_BYTES or len(raw) % AES_BLOCK_BYTES:
        return None
    aes_key = key[:AES_KEY_BYTES].ljust(AES_KEY_BYTES, b"\0")
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(raw[:AES_BLOCK_BYTES])).decryptor()
    padded = decryptor.update(raw[AES_BLOCK_BYTES:]) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= AES_BLOCK_BYTES or padded[-pad:] != bytes([pad]) * pad:
        return None
    return padded[:-pad]


def aes_encrypt_b64(key: bytes, plaintext: bytes, iv: bytes | None = None) -> str:
    """base64(IV ‖ AES-256-CBC(key, IV, PKCS#7(plaintext))), what ``sdk_aes_decrypt`` undoes
    (the key zero-padded or truncated to 32 bytes the same way)."""
    key = key[:AES_KEY_BYTES].ljust(AES_KEY_BYTES, b"\0")
    iv = iv if iv is not None else os.urandom(AES_BLOCK_BYTES)
    padder = sym_padding.PKCS7(8 * AES_BLOCK_BYTES).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    sealed = encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()
    return base64.b64encode(iv + sealed).decode("ascii")


# --------------------------------------------------------------------------- encrypting (WeCom's side)


def random_chars(count: int, alphabet: str = BASE64_ALPHABET) -> str:
    """``count`` characters drawn uniformly from ``alphabet`` (junk and ``W`` by default)."""
    return _Draw(os.urandom).chars(count, alphabet)


def assemble_chat_msg(body: str, w: str, info: SdkKeyInfo, junk: str | None = None) -> str:
    """Place ``body`` and ``W`` among junk the way ``info`` says; ``junk`` is sliced, in
    order, into the four junk runs (13, pre_len, s_len, end_len characters), random
    base64 characters if not given."""
    if not 0 < info.s_len <= len(body) or info.pre_len < 0 or info.end_len < 0:
        raise ValueError("s_len must cut inside the body; junk lengths are not negative")
    sizes = (HEAD_JUNK_CHARS, info.pre_len, info.s_len, info.end_len)
    if junk is None:
        junk = random_chars(sum(sizes))
    if len(junk) < sum(sizes):
        raise ValueError("not enough junk")
    runs, start = [], 0
    for size in sizes:
        runs.append(junk[start : start + size])
        start += size
    head, pre, split, end = runs
    return head + w + pre + body[: info.s_len] + split + body[info.s_len :] + end


class _Draw:
    """Every random choice of one record, from one byte source (seedable in tests)."""

    def __init__(self, randbytes: RandomBytes) -> None:
        self.randbytes = randbytes

    def below(self, bound: int) -> int:
        return int.from_bytes(self.randbytes(8), "big") % bound  # bias < 2**-50

    def chars(self, count: int, alphabet: str) -> str:
        limit = 256 - 256 % len(alphabet)  # rejection sampling: uniform over the alphabet
        out: list[str] = []
        while len(out) < count:
            out.extend(alphabet[b % len(alphabet)] for b in self.randbytes(count - len(out)) if b < limit)
        return "".join(out)


def seal(plaintext: bytes, randbytes: RandomBytes = os.urandom) -> tuple[str, str]:
    """``(K, M)`` for one message: the random key (88 characters) and ``encrypt_chat_msg``.

    ``randbytes`` supplies all the randomness (keys, IVs, junk); pass a seeded one only
    in tests."""
    draw = _Draw(randbytes)
    k1 = draw.chars(K1_CHARS, KEY_PRINTABLE).encode("ascii")
    w = draw.chars(W_CHARS, BASE64_ALPHABET)
    body = aes_encrypt_b64(k1, plaintext, iv=randbytes(AES_BLOCK_BYTES))
    info = SdkKeyInfo(
        k1=k1,
        pre_len=draw.below(MAX_PRE_JUNK_CHARS + 1),
        end_len=draw.below(MAX_END_JUNK_CHARS + 1),
        # Strictly inside the body (len(body) >= 44), as the layout formula needs.
        s_len=1 + draw.below(min(len(body) - 1, MAX_SPLIT_CHARS)),
    )
    random_key = aes_encrypt_b64(w.encode("ascii"), info.encode(), iv=randbytes(AES_BLOCK_BYTES))
    assert len(random_key) == RANDOM_KEY_CHARS
    junk = draw.chars(HEAD_JUNK_CHARS + info.pre_len + info.s_len + info.end_len, BASE64_ALPHABET)
    return random_key, assemble_chat_msg(body, w, info, junk)


def encrypt_message(plaintext: bytes, public_key: rsa.RSAPublicKey, publickey_ver: int) -> EncryptedRecord:
    """One archived message as WeCom's GetChatData hands it out."""
    random_key, chat_msg = seal(plaintext)
    wrapped = public_key.encrypt(random_key.encode("ascii"), padding.PKCS1v15())
    return EncryptedRecord(publickey_ver, base64.b64encode(wrapped).decode("ascii"), chat_msg)


# --------------------------------------------------------------------------- decrypting (DecryptData)


def decrypt_message(random_key: bytes | str, encrypt_chat_msg: bytes | str) -> bytes:
    """Pure-Python reference of Tencent's ``DecryptData`` (spec §1.1b), for tests.

    Returns the plaintext, raises ``DecryptError`` with the library's return code, or
    ``LibraryAbort`` where the library would abort the process.
    """
    key, msg = (  # as C strings: what a C caller can pass
        (value.encode("utf-8") if isinstance(value, str) else value).split(b"\0", 1)[0]
        for value in (random_key, encrypt_chat_msg)
    )
    if len(msg) < HEAD_JUNK_CHARS:
        raise LibraryAbort("std::out_of_range", "basic_string::basic_string")
    w = msg[HEAD_JUNK_CHARS : HEAD_JUNK_CHARS + W_CHARS]
    info_bytes = sdk_aes_decrypt(w, key)
    if info_bytes is None:
        raise DecryptError(SDK_BAD_KEY, "the random key does not decrypt with W")
    try:
        info = SdkKeyInfo.decode(info_bytes)
    except ValueError as exc:
        raise DecryptError(SDK_BAD_KEY_INFO, f"SdkKeyInfo does not parse: {exc}") from None
    # The library compares as C int32 widened to size_t: a negative sum is huge.
    if info.s_len <= 0 or _size_t(_wrap32(2 * info.s_len)) >= len(msg):
        raise DecryptError(SDK_BAD_KEY_INFO, "s_len out of range")
    head = _size_t(_wrap32(info.pre_len + HEAD_JUNK_CHARS + W_CHARS))
    if head > len(msg):
        raise DecryptError(SDK_BAD_KEY_INFO, "pre_len out of range")
    rest = msg[head:]
    if info.s_len > len(rest):
        raise LibraryAbort("std::out_of_range", "basic_string::erase")
    rest = rest[: info.s_len] + rest[info.s_len + min(info.s_len, len(rest) - info.s_len) :]
    end = _size_t(info.end_len)
    if end > len(rest):
        raise DecryptError(SDK_BAD_KEY_INFO, "end_len out of range")
    plaintext = sdk_aes_decrypt(info.k1, rest[: len(rest) - end])
    if plaintext is None:
        raise DecryptError(SDK_DECRYPT_FAILED, "the body does not decrypt with k1")
    return plaintext


def _wrap32(value: int) -> int:
    """The low 32 bits as a C int32."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _size_t(value: int) -> int:
    return value & ((1 << 64) - 1)
