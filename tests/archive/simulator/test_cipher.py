"""The simulated company encrypts in the real Finance SDK format (spec §1.1b).

``decrypt_message`` is the reference ``DecryptData``: these tests pin down what it returns
for intact and tampered records. ``tests/archive/test_fake_sdk_abi.py`` checks the fake
SDK's C code against the same table, and Tencent's own library too when it is present;
every code below was first observed on Tencent's library.
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import padding

from archive.simulator import cipher
from archive.simulator.cipher import DecryptError, LibraryAbort, SdkKeyInfo

PLAINTEXT = json.dumps(
    {"msgid": "m1", "action": "send", "msgtype": "text", "text": {"content": "你好，会话存档 🎉"}},
    ensure_ascii=False,
).encode("utf-8")
K1 = b"k1-0123456789abcdefghijklmnopqr!"
W = "Wq3+Wq3/" * 4
LAYOUT = SdkKeyInfo(K1, pre_len=7, end_len=5, s_len=11)
JUNK = (cipher.BASE64_ALPHABET * 2)[: 13 + 7 + 11 + 5]
ABORT = "abort"


def build(
    *, key_info: SdkKeyInfo | bytes = LAYOUT, key_w: str = W, body_k1: bytes = K1, plaintext: bytes = PLAINTEXT
) -> tuple[str, str]:
    """A fixed record ``(K, M)`` laid out by ``LAYOUT``; ``K`` may say something else."""
    body = cipher.aes_encrypt_b64(body_k1, plaintext, iv=bytes(16))
    info = key_info.encode() if isinstance(key_info, SdkKeyInfo) else key_info
    key = cipher.aes_encrypt_b64(key_w.encode("ascii"), info, iv=bytes(range(16)))
    return key, cipher.assemble_chat_msg(body, W, LAYOUT, JUNK)


def tampered_records() -> dict[str, tuple[str, str, int | str]]:
    """Name → (K, M, what Tencent's DecryptData does: a return code or ``ABORT``)."""
    key, msg = build()
    tail = len(msg) - LAYOUT.end_len
    return {
        "intact": (key, msg, 0),
        "head junk changed": (key, "x" * 13 + msg[13:], 0),
        "end junk changed": (key, msg[:tail] + "?" * LAYOUT.end_len, 0),
        "empty key": ("", msg, 10008),
        "key truncated": (key[:-4], msg, 10008),
        "key sealed with another W": (build(key_w="A" * 32)[0], msg, 10008),
        "W in the message changed": (key, msg[:13] + "B" * 32 + msg[45:], 10008),
        "message only 13 characters": (key, msg[:13], 10008),
        "SdkKeyInfo not protobuf": (build(key_info=b"\xff" * 8)[0], msg, 10005),
        "SdkKeyInfo without s_len": (build(key_info=replace(LAYOUT, s_len=0))[0], msg, 10005),
        "s_len half the message": (build(key_info=replace(LAYOUT, s_len=len(msg) // 2))[0], msg, 10005),
        "pre_len past the end": (build(key_info=replace(LAYOUT, pre_len=len(msg)))[0], msg, 10005),
        "end_len past the end": (build(key_info=replace(LAYOUT, end_len=len(msg)))[0], msg, 10005),
        "end_len negative": (build(key_info=replace(LAYOUT, end_len=-1))[0], msg, 10005),
        "k1 wrong": (build(key_info=replace(LAYOUT, k1=b"K" * 32))[0], msg, 10006),
        "body lost its last group": (key, msg[: tail - 4] + msg[tail:], 10006),
        "pre_len one too small": (build(key_info=replace(LAYOUT, pre_len=6))[0], msg, 10006),
        "message shorter than 13": (key, msg[:12], ABORT),
        "empty message": (key, "", ABORT),
        "s_len past the end": (
            build(key_info=replace(LAYOUT, pre_len=len(msg) - 48, s_len=10))[0],
            msg,
            ABORT,
        ),
        "key of only '='": ("====", msg, ABORT),
    }


def outcome(key: str, msg: str) -> int | str:
    try:
        plaintext = cipher.decrypt_message(key, msg)
    except DecryptError as exc:
        return exc.sdk_code
    except LibraryAbort:
        return ABORT
    assert plaintext == PLAINTEXT
    return 0


@pytest.mark.parametrize(("name", "case"), list(tampered_records().items()))
def test_tampering_gives_the_documented_code(name: str, case: tuple[str, str, int | str]) -> None:
    key, msg, expected = case
    assert outcome(key, msg) == expected


def test_records_are_in_the_real_format() -> None:
    pair = cipher.CorpKeyPair.generate(3)
    rng = random.Random(20261207)
    for size in [0, 1, 15, 16, 17, 100, 4096, 100_000]:
        plaintext = rng.randbytes(size)
        record = cipher.encrypt_message(plaintext, pair.private_key.public_key(), 3)
        assert record.publickey_ver == 3
        wrapped = base64.b64decode(record.encrypt_random_key, validate=True)
        assert len(wrapped) == 256  # RSA-2048
        random_key = pair.private_key.decrypt(wrapped, padding.PKCS1v15())
        assert len(random_key) == cipher.RANDOM_KEY_CHARS == 88
        assert cipher.decrypt_message(random_key, record.encrypt_chat_msg) == plaintext
        # Base64-looking through and through: junk, W and body use the same alphabet.
        assert set(record.encrypt_chat_msg) <= set(cipher.BASE64_ALPHABET + "=")
        info = SdkKeyInfo.decode(cipher.sdk_aes_decrypt(record.encrypt_chat_msg[13:45].encode(), random_key) or b"")
        assert len(info.k1) == 32
        assert 0 <= info.pre_len <= cipher.MAX_PRE_JUNK_CHARS
        assert 0 <= info.end_len <= cipher.MAX_END_JUNK_CHARS
        assert 1 <= info.s_len <= cipher.MAX_SPLIT_CHARS


def test_seal_is_reproducible_from_its_byte_source() -> None:
    first = cipher.seal(PLAINTEXT, random.Random(1).randbytes)
    assert first == cipher.seal(PLAINTEXT, random.Random(1).randbytes)
    assert first != cipher.seal(PLAINTEXT, random.Random(2).randbytes)
    assert cipher.decrypt_message(*first) == PLAINTEXT


def test_key_info_round_trip() -> None:
    for info in [LAYOUT, SdkKeyInfo(), SdkKeyInfo(b"\x00\xff", -45, -(2**31), 2**31 - 1)]:
        assert SdkKeyInfo.decode(info.encode()) == info
    # proto2: unknown fields are skipped, the last occurrence of a field wins.
    assert SdkKeyInfo.decode(LAYOUT.encode() + b"\x28\x05\x20\x0c").s_len == 12
    for broken in [b"\x00", b"\x0c", b"\x20", b"\x0a\x05ab", b"\x2e"]:
        with pytest.raises(ValueError, match=r"\w"):
            SdkKeyInfo.decode(broken)


def test_the_library_base64_decoder_is_lenient() -> None:
    assert cipher.sdk_b64decode(b"QUJD") == b"ABC"
    assert cipher.sdk_b64decode(b"QUJDRA==") == b"ABCD"
    assert cipher.sdk_b64decode(b"QUJDRA") == b"ABC"  # a short tail is ignored
    assert cipher.sdk_b64decode(b"QU!D") == cipher.sdk_b64decode(b"QUAD")  # foreign characters read as "A"
    assert cipher.sdk_b64decode(b"QUJD=") == b"AB"  # every trailing "=" drops a byte
    with pytest.raises(LibraryAbort, match="length_error"):
        cipher.sdk_b64decode(b"=")
