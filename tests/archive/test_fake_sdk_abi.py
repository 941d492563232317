"""The fake libWeWorkFinanceSdk_C.so by itself, through ctypes (contract: docs/fake-sdk.md).

A small stdlib HTTP server in a thread stands in for the simulator server. Tests whose
outcome depends on the library's process-wide fault counters, or that expect a crash,
run in a fresh Python subprocess that loads this module by path and uses ``FakeSdk``.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import require

REPO_ROOT = Path(__file__).resolve().parents[2]
CHUNK = 512 * 1024
ENV_PREFIX = "WECOM_FAKE_SDK_"

API = {
    "NewSdk",
    "Init",
    "GetChatData",
    "DecryptData",
    "GetMediaData",
    "DestroySdk",
    "NewSlice",
    "FreeSlice",
    "GetContentFromSlice",
    "GetSliceLen",
    "NewMediaData",
    "FreeMediaData",
    "GetOutIndexBuf",
    "GetData",
    "GetIndexLen",
    "GetDataLen",
    "IsMediaDataFinish",
}


# --------------------------------------------------------------------------- crypto


def random_key() -> str:
    """A per-message random key as the simulator makes it: base64 of 64 random bytes."""
    return base64.b64encode(os.urandom(64)).decode("ascii")


def encrypt(key: str, plaintext: bytes, nonce: bytes | None = None) -> str:
    """encrypt_chat_msg = base64(nonce ‖ AES-256-GCM(sha256(key)) ciphertext ‖ tag)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = nonce if nonce is not None else os.urandom(12)
    aes = AESGCM(hashlib.sha256(key.encode("ascii")).digest())
    return base64.b64encode(nonce + aes.encrypt(nonce, plaintext, None)).decode("ascii")


def make_record(seq: int, key: str, message: dict[str, Any]) -> dict[str, Any]:
    plaintext = json.dumps(message, ensure_ascii=False).encode("utf-8")
    return {
        "msgid": f"msg-{seq}",
        "encrypt_chat_msg": encrypt(key, plaintext),
        "publickey_ver": 1,
        "seq": seq,
        "encrypt_random_key": "not-used-by-the-library",
    }


# --------------------------------------------------------------------------- ctypes binding


class FakeSdk:
    """Minimal test-local ctypes binding of the SDK's C API."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        lib = ctypes.CDLL(os.fspath(path))
        vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        sigs: dict[str, tuple[Any, list[Any]]] = {
            "NewSdk": (vp, []),
            "Init": (i, [vp, cp, cp]),
            "GetChatData": (i, [vp, ctypes.c_ulonglong, ctypes.c_uint, cp, cp, i, vp]),
            "DecryptData": (i, [cp, cp, vp]),
            "GetMediaData": (i, [vp, cp, cp, cp, cp, i, vp]),
            "DestroySdk": (None, [vp]),
            "NewSlice": (vp, []),
            "FreeSlice": (None, [vp]),
            "GetContentFromSlice": (vp, [vp]),
            "GetSliceLen": (i, [vp]),
            "NewMediaData": (vp, []),
            "FreeMediaData": (None, [vp]),
            "GetOutIndexBuf": (vp, [vp]),
            "GetData": (vp, [vp]),
            "GetIndexLen": (i, [vp]),
            "GetDataLen": (i, [vp]),
            "IsMediaDataFinish": (i, [vp]),
        }
        for name, (restype, argtypes) in sigs.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        self.lib = lib

    def new(self, corpid: bytes = b"wwcorp", secret: bytes = b"s3cret") -> int:
        handle = self.lib.NewSdk()
        assert handle
        assert self.lib.Init(handle, corpid, secret) == 0
        return int(handle)

    def slice_bytes(self, sl: int) -> bytes:
        n = self.lib.GetSliceLen(sl)
        ptr = self.lib.GetContentFromSlice(sl)
        # The buffer is NUL-terminated for convenience, beyond its len.
        raw = ctypes.string_at(ptr, n + 1)
        assert raw[-1] == 0
        return raw[:-1]

    def chat(
        self,
        handle: int,
        seq: int = 0,
        limit: int = 100,
        proxy: bytes | None = None,
        passwd: bytes | None = None,
        timeout: int = 10,
    ) -> tuple[int, bytes]:
        sl = self.lib.NewSlice()
        try:
            rc = self.lib.GetChatData(handle, seq, limit, proxy, passwd, timeout, sl)
            return rc, self.slice_bytes(sl)
        finally:
            self.lib.FreeSlice(sl)

    def decrypt(self, key: bytes | None, msg: bytes | None) -> tuple[int, bytes]:
        sl = self.lib.NewSlice()
        try:
            rc = self.lib.DecryptData(key, msg, sl)
            return rc, self.slice_bytes(sl)
        finally:
            self.lib.FreeSlice(sl)

    def media(
        self, handle: int, index: bytes, fileid: bytes | None, timeout: int = 10
    ) -> tuple[int, bytes, bytes, int]:
        md = self.lib.NewMediaData()
        try:
            rc = self.lib.GetMediaData(handle, index, fileid, None, None, timeout, md)
            data = ctypes.string_at(self.lib.GetData(md), self.lib.GetDataLen(md))
            outindex = ctypes.string_at(self.lib.GetOutIndexBuf(md), self.lib.GetIndexLen(md))
            return rc, data, outindex, self.lib.IsMediaDataFinish(md)
        finally:
            self.lib.FreeMediaData(md)

    def download(self, handle: int, fileid: bytes) -> bytes:
        """The integrator's loop: one reused MediaData, indexbuf fed back until finished."""
        md = self.lib.NewMediaData()
        out = bytearray()
        index = b""
        try:
            for _ in range(1000):
                rc = self.lib.GetMediaData(handle, index, fileid, None, None, 10, md)
                assert rc == 0, rc
                out += ctypes.string_at(self.lib.GetData(md), self.lib.GetDataLen(md))
                index = ctypes.string_at(self.lib.GetOutIndexBuf(md), self.lib.GetIndexLen(md))
                if self.lib.IsMediaDataFinish(md):
                    return bytes(out)
            raise AssertionError("download never finished")
        finally:
            self.lib.FreeMediaData(md)


# --------------------------------------------------------------------------- simulator double


@dataclass
class Request:
    path: str
    raw_path: str
    body: dict[str, Any]
    headers: dict[str, str]
    client_port: int


@dataclass
class ServerState:
    chat_status: int = 200
    chat_body: bytes | None = None  # None: built from `records`
    chat_delay: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)
    media_errors: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests]


class _Server(ThreadingHTTPServer):
    state: ServerState


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.loads(raw)
        path = urlsplit(self.path).path
        st = self.server.state
        with st.lock:
            st.requests.append(Request(path, self.path, body, dict(self.headers), self.client_address[1]))
        if path == "/finance/getchatdata":
            self._chat(st, body)
        elif path == "/finance/getmediadata":
            self._media(st, body)
        else:
            self._send(404, b"")

    def _chat(self, st: ServerState, req: dict[str, Any]) -> None:
        if st.chat_delay:
            time.sleep(st.chat_delay)
        if st.chat_body is not None:
            self._send(st.chat_status, st.chat_body)
            return
        chatdata = [r for r in st.records if r["seq"] > req["seq"]][: req["limit"]]
        doc = {"errcode": 0, "errmsg": "ok", "chatdata": chatdata}
        self._send(st.chat_status, json.dumps(doc, ensure_ascii=False).encode("utf-8"))

    def _media(self, st: ServerState, req: dict[str, Any]) -> None:
        fileid = req["sdkfileid"]
        if fileid in st.media_errors:
            status, rc = st.media_errors[fileid]
            self._send(status, b"error", {"X-Sdk-Rc": str(rc)} if rc is not None else {})
            return
        data = st.media.get(fileid)
        if data is None:
            self._send(404, b"unknown sdkfileid", {"X-Sdk-Rc": "10005"})
            return
        start = 0
        if req["indexbuf"]:
            m = re.fullmatch(r"Range:bytes=(\d+)-(\d+)", req["indexbuf"])
            assert m, req["indexbuf"]
            start = int(m.group(1))
        chunk = data[start : start + CHUNK]
        end = start + len(chunk)
        finish = end >= len(data)
        nxt = f"Range:bytes={end}-{min(end + CHUNK, len(data)) - 1}"
        self._send(200, chunk, {"X-Outindexbuf": nxt, "X-Is-Finish": "1" if finish else "0"})


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def lib_path() -> Path:
    from archive.simulator.fakesdk import build_fake_sdk

    return build_fake_sdk()


@pytest.fixture(scope="session")
def sdk(lib_path: Path) -> FakeSdk:
    return FakeSdk(lib_path)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) and name != "WECOM_FAKE_SDK_BUILD_DIR":
            monkeypatch.delenv(name)


@dataclass
class Sim:
    url: str
    state: ServerState


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sim]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = ServerState()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("WECOM_FAKE_SDK_URL", url)
    try:
        yield Sim(url, server.state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def handle(sdk: FakeSdk) -> Iterator[int]:
    h = sdk.new()
    yield h
    sdk.lib.DestroySdk(h)


def _no_core_dump() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_isolated(lib_path: Path, sim: Sim, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with `T` (this module), `sdk` and `h` defined."""
    prelude = textwrap.dedent(f"""\
        import importlib.util, json, sys
        _spec = importlib.util.spec_from_file_location("_fake_sdk_abi", {str(Path(__file__))!r})
        T = importlib.util.module_from_spec(_spec)
        sys.modules["_fake_sdk_abi"] = T
        _spec.loader.exec_module(T)
        sdk = T.FakeSdk({str(lib_path)!r})
        h = sdk.new()
        """)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    full_env.update(env, WECOM_FAKE_SDK_URL=sim.url)
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_no_core_dump,
    )


def lines(proc: subprocess.CompletedProcess[str]) -> list[Any]:
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


# --------------------------------------------------------------------------- ABI


def test_exports_exactly_the_sdk_api(lib_path: Path) -> None:
    nm = shutil.which("nm")
    if nm is None:
        require("nm (binutils)", "install Debian's binutils (gcc depends on it)")
    out = subprocess.run([nm, "-D", "--defined-only", str(lib_path)], capture_output=True, text=True, check=True).stdout
    functions = {
        parts[-1]
        for parts in (line.split() for line in out.splitlines())
        if len(parts) >= 2 and parts[-2] in {"T", "t", "W", "w", "i"}
    }
    assert functions == API


def test_build_is_cached_and_errors_are_explained(
    lib_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archive.simulator.fakesdk import FakeSdkBuildError, build_fake_sdk

    before = lib_path.stat().st_mtime_ns
    assert build_fake_sdk() == lib_path
    assert lib_path.stat().st_mtime_ns == before

    monkeypatch.setenv("CC", "false")
    with pytest.raises(FakeSdkBuildError, match="libcurl4-openssl-dev libssl-dev"):
        build_fake_sdk(tmp_path / "lib.so")
    assert list(tmp_path.iterdir()) == []  # no temp file left behind


def test_init_validation(sdk: FakeSdk) -> None:
    lib = sdk.lib
    h = lib.NewSdk()
    assert h
    try:
        # Not initialised yet.
        sl = lib.NewSlice()
        assert lib.GetChatData(h, 0, 10, None, None, 5, sl) == 10000
        lib.FreeSlice(sl)
        assert lib.Init(None, b"corp", b"secret") == 10000
        assert lib.Init(h, None, b"secret") == 10000
        assert lib.Init(h, b"", b"secret") == 10000
        assert lib.Init(h, b"corp", None) == 10000
        assert lib.Init(h, b"corp", b"") == 10000
        assert lib.Init(h, b"corp", b"secret") == 0
        assert lib.Init(h, b"corp2", b"secret2") == 0  # re-Init replaces, no leak
    finally:
        lib.DestroySdk(h)
    lib.DestroySdk(None)
    lib.FreeSlice(None)
    lib.FreeMediaData(None)


def test_new_slice_and_media_data_are_empty(sdk: FakeSdk) -> None:
    sl = sdk.lib.NewSlice()
    assert sdk.lib.GetSliceLen(sl) == 0
    sdk.lib.FreeSlice(sl)
    md = sdk.lib.NewMediaData()
    assert sdk.lib.GetDataLen(md) == sdk.lib.GetIndexLen(md) == 0
    assert sdk.lib.IsMediaDataFinish(md) == 0
    sdk.lib.FreeMediaData(md)


# --------------------------------------------------------------------------- GetChatData


def test_get_chat_data_body_verbatim(sdk: FakeSdk, sim: Sim) -> None:
    body = json.dumps(
        {"errcode": 0, "errmsg": "ok", "chatdata": [], "note": "中文 ✓ emoji 🎉"},
        ensure_ascii=False,
    ).encode("utf-8")
    sim.state.chat_body = body
    secret = b'se"cr\\et\n'
    h = sdk.new(corpid=b"ww\xe4\xb8\xad", secret=secret)
    try:
        seq = 2**64 - 1
        assert sdk.chat(h, seq=seq, limit=1000) == (0, body)
        req = sim.state.requests[-1]
        assert req.path == "/finance/getchatdata"
        assert req.headers["Content-Type"] == "application/json"
        assert req.body == {"corpid": "ww中", "secret": secret.decode(), "seq": seq, "limit": 1000}
    finally:
        sdk.lib.DestroySdk(h)


def test_get_chat_data_reuses_slice_and_connection(sdk: FakeSdk, sim: Sim, handle: int) -> None:
    sl = sdk.lib.NewSlice()
    try:
        sim.state.chat_body = b'{"errcode":0,"errmsg":"ok","chatdata":[]}' + b" " * 5000
        assert sdk.lib.GetChatData(handle, 0, 1, None, None, 5, sl) == 0
        assert sdk.slice_bytes(sl) == sim.state.chat_body
        sim.state.chat_body = b'{"errcode":40001,"errmsg":"invalid secret"}'
        assert sdk.lib.GetChatData(handle, 0, 1, None, None, 5, sl) == 0
        assert sdk.slice_bytes(sl) == sim.state.chat_body
    finally:
        sdk.lib.FreeSlice(sl)
    ports = {r.client_port for r in sim.state.requests}
    assert len(sim.state.requests) == 2
    assert len(ports) == 1  # one keep-alive connection per SDK handle


@pytest.mark.parametrize("limit", [0, 1001, 2**32 - 1])
def test_limit_out_of_range_is_bad_params(sdk: FakeSdk, sim: Sim, handle: int, limit: int) -> None:
    assert sdk.chat(handle, limit=limit)[0] == 10000
    assert sim.state.requests == []


def test_server_down_is_network_error(sdk: FakeSdk, handle: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("WECOM_FAKE_SDK_URL", f"http://127.0.0.1:{port}")
    assert sdk.chat(handle)[0] == 10001
    md = sdk.media(handle, b"", b"file")
    assert md[0] == 10001


def test_timeout_is_network_error(sdk: FakeSdk, sim: Sim, handle: int) -> None:
    sim.state.chat_delay = 2.5
    started = time.monotonic()
    assert sdk.chat(handle, timeout=1)[0] == 10001
    assert time.monotonic() - started < 2.4


@pytest.mark.parametrize(("status", "rc"), [(500, 10003), (502, 10003), (503, 10003), (404, 10002), (400, 10002)])
def test_http_status_errors(sdk: FakeSdk, sim: Sim, handle: int, status: int, rc: int) -> None:
    sim.state.chat_status = status
    sim.state.chat_body = b"oops"
    assert sdk.chat(handle)[0] == rc


def test_proxy_and_passwd_are_honoured(sdk: FakeSdk, sim: Sim, handle: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # The base URL is unreachable; the request only arrives through the "proxy".
    monkeypatch.setenv("WECOM_FAKE_SDK_URL", "http://wecom-sim.invalid:18930")
    sim.state.chat_body = b'{"errcode":0,"errmsg":"ok","chatdata":[]}'
    rc, body = sdk.chat(handle, proxy=sim.url.encode(), passwd=b"user:pw")
    assert (rc, body) == (0, sim.state.chat_body)
    req = sim.state.requests[-1]
    assert req.raw_path == "http://wecom-sim.invalid:18930/finance/getchatdata"
    expected = "Basic " + base64.b64encode(b"user:pw").decode()
    assert req.headers["Proxy-Authorization"] == expected


# --------------------------------------------------------------------------- DecryptData


def test_decrypt_success(sdk: FakeSdk) -> None:
    key = random_key()
    assert len(key) == 88
    plain = json.dumps({"msgtype": "text", "text": {"content": "你好 🎉\u0000"}}).encode()
    assert sdk.decrypt(key.encode(), encrypt(key, plain).encode()) == (0, plain)
    # Minimal message: 28 bytes, empty plaintext.
    assert sdk.decrypt(key.encode(), encrypt(key, b"").encode()) == (0, b"")
    # Longest allowed key.
    long_key = "k" * 1024
    assert sdk.decrypt(long_key.encode(), encrypt(long_key, b"{}").encode()) == (0, b"{}")


def test_decrypt_is_thread_safe(sdk: FakeSdk) -> None:
    key = random_key()
    cases = [(os.urandom(n), n) for n in range(0, 4000, 97)]
    messages = [(encrypt(key, p).encode(), p) for p, _ in cases]
    errors: list[str] = []

    def work() -> None:
        for _ in range(20):
            for msg, p in messages:
                if sdk.decrypt(key.encode(), msg) != (0, p):
                    errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_decrypt_wrong_key(sdk: FakeSdk) -> None:
    msg = encrypt(random_key(), b'{"a":1}').encode()
    assert sdk.decrypt(random_key().encode(), msg)[0] == 10006


@pytest.mark.parametrize("key", [None, b"", b"a" * 1025, b"abc\x7f", b"abc\x1f", b"ab\tc", "ключ".encode()])
def test_decrypt_bad_key(sdk: FakeSdk, key: bytes | None) -> None:
    msg = encrypt("x", b"{}").encode()
    assert sdk.decrypt(key, msg)[0] == 10008


def test_decrypt_garbage(sdk: FakeSdk) -> None:
    key = random_key()
    good = encrypt(key, b'{"hello":"world"}')
    raw = bytearray(base64.b64decode(good))
    raw[14] ^= 0x01
    tampered = base64.b64encode(bytes(raw))
    for msg in [
        None,
        b"",
        b"not base64 at all!",
        b"abc",  # bad length
        good[:-1].encode(),  # truncated
        base64.b64encode(os.urandom(27)),  # too short
        base64.b64encode(os.urandom(64)),  # random
        tampered,
    ]:
        assert sdk.decrypt(key.encode(), msg)[0] == 10006, msg


# --------------------------------------------------------------------------- GetMediaData


def test_media_multi_chunk_download_is_byte_exact(sdk: FakeSdk, sim: Sim, handle: int) -> None:
    data = bytearray(os.urandom(3 * CHUNK + 1000))
    data[0:16] = bytes(16)
    data[CHUNK - 2 : CHUNK + 2] = bytes(4)
    data[-3:] = bytes(3)
    sim.state.media["file-1"] = bytes(data)
    assert sdk.download(handle, b"file-1") == bytes(data)
    reqs = sim.state.requests
    assert [r.body["indexbuf"] for r in reqs] == [
        "",
        f"Range:bytes={CHUNK}-{2 * CHUNK - 1}",
        f"Range:bytes={2 * CHUNK}-{3 * CHUNK - 1}",
        f"Range:bytes={3 * CHUNK}-{3 * CHUNK + 999}",
    ]
    assert {r.body["sdkfileid"] for r in reqs} == {"file-1"}
    assert {r.body["corpid"] for r in reqs} == {"wwcorp"}
    assert len({r.client_port for r in reqs}) == 1


def test_media_single_call_fields(sdk: FakeSdk, sim: Sim, handle: int) -> None:
    sim.state.media["small"] = b"\x00\x01\x00"
    rc, data, outindex, finish = sdk.media(handle, b"", b"small")
    assert (rc, data, finish) == (0, b"\x00\x01\x00", 1)
    assert outindex == b"Range:bytes=3-2"


@pytest.mark.parametrize(
    ("fileid", "error", "rc"),
    [
        ("unknown", None, 10005),
        ("expired", (410, 10010), 10010),
        ("boom", (500, None), 10003),
        ("teapot", (418, None), 10002),
    ],
)
def test_media_errors(
    sdk: FakeSdk,
    sim: Sim,
    handle: int,
    fileid: str,
    error: tuple[int, int | None] | None,
    rc: int,
) -> None:
    if error is not None:
        sim.state.media_errors[fileid] = error
    assert sdk.media(handle, b"", fileid.encode())[0] == rc


def test_media_bad_params(sdk: FakeSdk, handle: int) -> None:
    assert sdk.media(handle, b"", None)[0] == 10000
    assert sdk.media(handle, b"", b"")[0] == 10000


# --------------------------------------------------------------------------- fault switches


def test_chatdata_rc_every_call(sdk: FakeSdk, sim: Sim, handle: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECOM_FAKE_SDK_CHATDATA_RC", "10001")
    for _ in range(3):
        assert sdk.chat(handle)[0] == 10001
    assert sim.state.requests == []
    monkeypatch.delenv("WECOM_FAKE_SDK_CHATDATA_RC")
    assert sdk.chat(handle)[0] == 0


def test_chatdata_rc_times(lib_path: Path, sim: Sim) -> None:
    proc = run_isolated(
        lib_path,
        sim,
        """
        for _ in range(4):
            print(json.dumps(sdk.chat(h)[0]))
        """,
        WECOM_FAKE_SDK_CHATDATA_RC="10003",
        WECOM_FAKE_SDK_CHATDATA_RC_TIMES="2",
    )
    assert lines(proc) == [10003, 10003, 0, 0]
    assert len(sim.state.requests) == 2


def test_chatdata_garble_times(lib_path: Path, sim: Sim) -> None:
    key = random_key()
    sim.state.records = [make_record(s, key, {"seq": s}) for s in (1, 2, 3)]
    proc = run_isolated(
        lib_path,
        sim,
        """
        for _ in range(3):
            rc, body = sdk.chat(h)
            print(json.dumps([rc, body.hex()]))
        """,
        WECOM_FAKE_SDK_CHATDATA_GARBLE_TIMES="2",
    )
    out = [(rc, bytes.fromhex(body)) for rc, body in lines(proc)]
    rc, full = out[2]
    assert rc == 0
    assert [r["seq"] for r in json.loads(full)["chatdata"]] == [1, 2, 3]
    for rc, body in out[:2]:
        assert rc == 0
        assert body == full[: len(full) // 2]
        with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
            json.loads(body)


def test_corrupt_seq(sdk: FakeSdk, sim: Sim, handle: int, monkeypatch: pytest.MonkeyPatch) -> None:
    key = random_key()
    sim.state.records = [make_record(s, key, {"seq": s, "t": "文"}) for s in (1, 2, 3, 4)]
    monkeypatch.setenv("WECOM_FAKE_SDK_CORRUPT_SEQ", "2, 4")
    rc, body = sdk.chat(handle)
    assert rc == 0
    records = {r["seq"]: r["encrypt_chat_msg"].encode() for r in json.loads(body)["chatdata"]}
    for seq in (1, 3):
        rc, plain = sdk.decrypt(key.encode(), records[seq])
        assert rc == 0
        assert json.loads(plain)["seq"] == seq
    for seq in (2, 4):
        rc, plain = sdk.decrypt(key.encode(), records[seq])
        assert rc == 0
        assert plain
        with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
            json.loads(plain)
    # Read at each call: switched off, the same message decrypts cleanly again.
    monkeypatch.delenv("WECOM_FAKE_SDK_CORRUPT_SEQ")
    assert json.loads(sdk.decrypt(key.encode(), records[2])[1])["seq"] == 2


def test_crash_seq(lib_path: Path, sim: Sim) -> None:
    key = random_key()
    sim.state.records = [make_record(s, key, {"seq": s}) for s in (7, 8, 9)]
    proc = run_isolated(
        lib_path,
        sim,
        f"""
        rc, body = sdk.chat(h)
        recs = {{r["seq"]: r["encrypt_chat_msg"].encode() for r in json.loads(body)["chatdata"]}}
        for seq in (7, 9, 8):
            rc, plain = sdk.decrypt({key!r}.encode(), recs[seq])
            print(json.dumps([seq, rc, json.loads(plain)["seq"]]), flush=True)
        print("survived", flush=True)
        """,
        WECOM_FAKE_SDK_CRASH_SEQ="8,100",
    )
    assert proc.returncode == -signal.SIGSEGV, proc.stderr
    assert proc.stdout.splitlines() == ["[7, 0, 7]", "[9, 0, 9]"]


def test_media_corrupt_times(lib_path: Path, sim: Sim) -> None:
    data = os.urandom(CHUNK + 10)
    sim.state.media["f"] = data
    proc = run_isolated(
        lib_path,
        sim,
        """
        for _ in range(3):
            print(sdk.download(h, b"f").hex())
        """,
        WECOM_FAKE_SDK_MEDIA_CORRUPT_TIMES="2",
    )
    out = [bytes.fromhex(line) for line in proc.stdout.split()]
    assert proc.returncode == 0, proc.stderr
    flipped = bytes([data[0] ^ 0xFF]) + data[1:]
    assert out == [flipped, flipped, data]


def test_media_crash_after_chunks(lib_path: Path, sim: Sim) -> None:
    sim.state.media["f"] = os.urandom(10)
    proc = run_isolated(
        lib_path,
        sim,
        """
        for i in range(5):
            print(sdk.media(h, b"", b"f")[0], flush=True)
        """,
        WECOM_FAKE_SDK_MEDIA_CRASH_AFTER_CHUNKS="2",
    )
    assert proc.returncode == -signal.SIGSEGV, proc.stderr
    assert proc.stdout.split() == ["0", "0"]
    assert len(sim.state.requests) == 2
