"""One conformance suite, two libraries: our fake SDK and Tencent's own (ADR 0018).

Every test runs against both, through our binding, in fresh processes (Tencent's library
must be loaded before any C++ extension, and two of its inputs abort the process). The
expected values are what was measured on Tencent's library (spec §1.1a, §1.1b); the fake
must give the same. Network calls go to a dead loopback proxy: nothing leaves the machine.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import padding

from archive.keyring import KeyMaterial, KeyRing
from archive.sdk.errors import SdkConfigurationError, SdkTransientError
from archive.sdk.source import FinanceSdkSource, MediaJob
from archive.sdk.worker import WorkerConfig
from archive.simulator import cipher
from archive.simulator.cipher import CorpKeyPair, SdkKeyInfo
from archive.source import ChatEnvelope, FailureReason

REPO = Path(__file__).resolve().parents[3]
PROBE = Path(__file__).with_name("probe.py")
PLAINTEXTS = [
    b"{}",
    '{"msgid":"m1","msgtype":"text","text":{"content":"您好，请问理财产品的收益是多少？"}}'.encode(),
    bytes(range(256)) * 40,  # binary, NULs included
    os.urandom(1 << 20),  # 1 MiB
]


@pytest.fixture(params=["fake", "tencent"])
def library(request: pytest.FixtureRequest) -> Path:
    path: Path = request.getfixturevalue("fake_sdk_library" if request.param == "fake" else "tencent_sdk_library")
    return path


def probe(library: Path, calls: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROBE), str(library)],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )


def answers(library: Path, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = probe(library, calls)
    assert result.returncode == 0, result.stderr[-2000:]
    replies: list[dict[str, Any]] = json.loads(result.stdout)
    return replies


def decrypt_call(key: str | None, message: str | None) -> dict[str, Any]:
    return {"op": "decrypt", "key": key, "message": message}


# --- Init, arguments, network ------------------------------------------------------------------


def test_init_succeeds_offline_and_refuses_empty_values(library: Path) -> None:
    calls = [
        {"op": "init", "corp_id": "ww0123456789abcdef", "secret": "any-secret"},
        {"op": "init", "corp_id": "", "secret": ""},
    ]
    assert [a["rc"] for a in answers(library, calls)] == [0, 10000]


def test_chat_data_limits_and_no_network(library: Path, dead_proxy: str) -> None:
    calls = [{"op": "chat", "limit": limit, "proxy": dead_proxy} for limit in (0, 1001, 100)]
    assert [(a["rc"], a["body"]) for a in answers(library, calls)] == [(10000, ""), (10000, ""), (10001, "")]


def test_media_data_errors(library: Path, dead_proxy: str) -> None:
    calls = [{"op": "media", "sdkfileid": fileid, "proxy": dead_proxy} for fileid in ("", "CtYBMzA2OTAyMDEw")]
    assert [(a["rc"], a["chunk"]) for a in answers(library, calls)] == [(10000, False), (10001, False)]


def test_getters_on_empty_objects_return_empty_strings_never_null(library: Path) -> None:
    (answer,) = answers(library, [{"op": "empty_objects"}])
    assert answer == {
        "GetContentFromSlice": "",
        "GetData": "",
        "GetOutIndexBuf": "",
        "GetSliceLen": 0,
        "GetDataLen": 0,
        "GetIndexLen": 0,
        "IsMediaDataFinish(NULL)": 1,
    }


def test_no_network_is_a_typed_retryable_error(library: Path, dead_proxy: str, tmp_path: Path) -> None:
    config = WorkerConfig(library_path=library, corp_id="ww0123456789abcdef", secret="s", proxy=dead_proxy)
    slept: list[float] = []
    source = FinanceSdkSource(config, KeyRing([]), retry_attempts=2, retry_backoff_s=0.01, sleep=slept.append)
    try:
        with pytest.raises(SdkTransientError) as raised:
            source.fetch(0, 1000)
        progress = source.download_media([MediaJob("CtYBMzA2OTAyMDEw", tmp_path / "partial", 1)])
    finally:
        source.close()
    assert raised.value.sdk_code == 10001 and raised.value.retryable
    assert len(slept) == 2 + 2  # two waits for GetChatData, two for the media file
    (media,) = progress
    assert isinstance(media.error, SdkTransientError) and media.error.sdk_code == 10001
    assert source.worker_restarts == 0  # errors came back as codes; nothing died


# --- DecryptData ----------------------------------------------------------------------------------


def test_records_in_the_real_format_decrypt_exactly(library: Path) -> None:
    sealed = [cipher.seal(plaintext) for plaintext in PLAINTEXTS]
    replies = answers(library, [decrypt_call(key, message) for key, message in sealed])
    assert [a["rc"] for a in replies] == [0] * len(PLAINTEXTS)
    assert [base64.b64decode(a["plaintext"]) for a in replies] == PLAINTEXTS


def _layout(info: SdkKeyInfo, body: str, w: str | None = None) -> tuple[str, str]:
    """A record with chosen key info: (K, M), K encrypted with M's own W."""
    w = w or cipher.random_chars(cipher.W_CHARS)
    key = cipher.aes_encrypt_b64(w.encode("ascii"), info.encode())
    return key, cipher.assemble_chat_msg(body, w, info)


def _raw(info: SdkKeyInfo, tail_chars: int) -> tuple[str, str]:
    """A record whose key info need not fit its message: (K, 13 junk + W + ``tail_chars`` junk)."""
    w = cipher.random_chars(cipher.W_CHARS)
    key = cipher.aes_encrypt_b64(w.encode("ascii"), info.encode())
    return key, cipher.random_chars(cipher.HEAD_JUNK_CHARS) + w + cipher.random_chars(tail_chars)


def _failing_cases() -> dict[str, tuple[str | None, str, int]]:
    _, message = cipher.seal(b'{"msgtype":"text"}')
    k1, iv = b"k" * cipher.K1_CHARS, b"\x01" * 16  # a fixed IV: every case is the same on every run
    body = cipher.aes_encrypt_b64(k1, b'{"msgtype":"text"}', iv)
    w = message[cipher.HEAD_JUNK_CHARS : cipher.HEAD_JUNK_CHARS + cipher.W_CHARS]
    not_protobuf = cipher.aes_encrypt_b64(w.encode("ascii"), b"\xff\xff\xff\xff not a protobuf", iv)
    too_short_body = body[:8]  # decodes to 6 bytes: no IV, no block
    return {
        "null key": (None, message, 10000),
        "a key blob W cannot decrypt": ("not-a-key", message, 10008),
        "key info that is not a protobuf": (not_protobuf, message, 10005),
        "s_len 0": (*_raw(SdkKeyInfo(k1, 3, 3, 0), 100), 10005),
        "2*s_len past the message": (*_raw(SdkKeyInfo(k1, 0, 0, 5000), 100), 10005),
        "pre_len past the message": (*_raw(SdkKeyInfo(k1, 400, 0, 8), 100), 10005),
        "end_len past what is left": (*_raw(SdkKeyInfo(k1, 0, 4000, 8), 100), 10005),
        "a body that does not decrypt": (*_layout(SdkKeyInfo(k1, 2, 2, 4), too_short_body), 10006),
        "the wrong k1": (*_layout(SdkKeyInfo(b"x" * 32, 2, 2, 4), body), 10006),
    }


FAILING = _failing_cases()


@pytest.mark.parametrize("case", list(FAILING))
def test_decrypt_failure_codes(library: Path, case: str) -> None:
    key, message, code = FAILING[case]
    if key is not None:  # the Python reference agrees with the code measured on Tencent's library
        with pytest.raises(cipher.DecryptError) as reference:
            cipher.decrypt_message(key, message)
        assert reference.value.sdk_code == code
    (answer,) = answers(library, [decrypt_call(key, message)])
    assert answer["rc"] == code


ABORTS: dict[str, Callable[[], tuple[str, str]]] = {
    "encrypt_chat_msg under 13 characters": lambda: (cipher.seal(b"{}")[0], "ABCDEFGHIJKL"),
    # 2*s_len < len(M) and pre_len + 45 <= len(M) pass, but after the first 45 + pre_len
    # characters are dropped only 5 remain, fewer than s_len: std::out_of_range.
    "s_len past the end": lambda: _raw(SdkKeyInfo(b"k" * 32, 150, 0, 50), 155),
    # The library's base64 decoder drops one byte per trailing "=": more "=" than decoded
    # bytes is a negative length, std::length_error.
    "a key of more '=' than it decodes to": lambda: ("=" * 88, cipher.seal(b"{}")[1]),
}


@pytest.mark.parametrize("case", list(ABORTS))
def test_the_inputs_that_abort_tencents_library_abort_both(library: Path, case: str) -> None:
    key, message = ABORTS[case]()
    with pytest.raises(cipher.LibraryAbort):
        cipher.decrypt_message(key, message)
    result = probe(library, [decrypt_call(key, message)])
    assert result.returncode == -signal.SIGABRT, result.stderr[-500:]


@pytest.mark.parametrize("case", list(ABORTS))
def test_a_record_that_aborts_the_library_is_quarantined_and_the_rest_decrypt(library: Path, case: str) -> None:
    pair = CorpKeyPair.generate(1)
    public = pair.private_key.public_key()

    def envelope(seq: int, random_key: str, message: str) -> ChatEnvelope:
        wrapped = base64.b64encode(public.encrypt(random_key.encode("ascii"), padding.PKCS1v15())).decode()
        return ChatEnvelope(seq, f"msg-{seq}", 1, wrapped, message)

    good = [envelope(seq, *cipher.seal(f'{{"n":{seq}}}'.encode())) for seq in (1, 2, 4)]
    bad = envelope(3, *ABORTS[case]())
    config = WorkerConfig(library_path=library, corp_id="ww0123456789abcdef", secret="s", proxy="http://127.0.0.1:9")
    source = FinanceSdkSource(config, KeyRing([KeyMaterial(1, pair.private_pem())]), crash_quarantine_threshold=2)
    try:
        records = source.decrypt([*good[:2], bad, good[2]])
    finally:
        source.close()
    assert [r.plaintext for r in records] == [b'{"n":1}', b'{"n":2}', None, b'{"n":4}']
    assert records[2].failure is FailureReason.SDK_CRASH
    assert "the SDK crashed 2 times decrypting this record" in records[2].detail
    assert source.worker_restarts == 2


def test_an_init_failure_is_a_configuration_error(library: Path) -> None:
    config = WorkerConfig(library_path=library, corp_id="", secret="", proxy="http://127.0.0.1:9")
    source = FinanceSdkSource(config, KeyRing([]))
    try:
        with pytest.raises(SdkConfigurationError, match="Init returned SDK code 10000"):
            source.fetch(0, 10)
    finally:
        source.close()
