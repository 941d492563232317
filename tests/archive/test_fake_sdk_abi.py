"""The fake libWeWorkFinanceSdk_C.so by itself, through ctypes (contract: docs/fake-sdk.md).

A small stdlib HTTP server in a thread stands in for the simulator server. Tests whose
outcome depends on the library's process-wide fault counters, or that expect a crash,
run in a fresh Python subprocess that loads this module by path and uses ``FakeSdk``.

DecryptData is Tencent's algorithm: its results are compared with the Python reference
``archive.simulator.cipher.decrypt_message`` and with Tencent's own library behind the
forwarding switch (the ``tencent_sdk_library`` fixture).
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import random
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

from archive.sdk.native import declare
from archive.simulator import cipher
from tests.archive.simulator.test_cipher import ABORT, PLAINTEXT, tampered_records
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


def seal(plaintext: bytes, seed: int | None = None) -> tuple[bytes, bytes]:
    """(random key, encrypt_chat_msg) as the simulated company makes them; seeded if asked."""
    key, msg = cipher.seal(plaintext, random.Random(seed).randbytes if seed is not None else os.urandom)
    return key.encode("ascii"), msg.encode("ascii")


def reference(key: bytes, msg: bytes) -> tuple[int, bytes] | str:
    """What Tencent's DecryptData does: (rc, plaintext) or ABORT."""
    try:
        return 0, cipher.decrypt_message(key, msg)
    except cipher.DecryptError as exc:
        return exc.sdk_code, b""
    except cipher.LibraryAbort:
        return ABORT


def mutated_records(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    """Records with a few characters of K or M replaced, dropped or inserted."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        key, msg = (bytearray(part) for part in seal(rng.randbytes(rng.choice([0, 1, 40, 700])), seed + i))
        target = key if i % 3 == 0 else msg
        for _ in range(rng.randrange(1, 4)):
            pos = rng.randrange(len(target))
            op = rng.randrange(3)
            if op == 0:
                target[pos] = rng.choice(b"AZaz09+/= !\x7f\xff")
            elif op == 1:
                del target[pos]
            else:
                target.insert(pos, rng.choice(b"Aa0+/= "))
        out.append((bytes(key), bytes(msg)))
    return out


def make_record(seq: int, message: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """A chatdata item and the random key of its message (the library never sees the RSA wrap)."""
    key, msg = seal(json.dumps(message, ensure_ascii=False).encode("utf-8"))
    record = {
        "msgid": f"msg-{seq}",
        "encrypt_chat_msg": msg.decode("ascii"),
        "publickey_ver": 1,
        "seq": seq,
        "encrypt_random_key": "not-used-by-the-library",
    }
    return record, key


# --------------------------------------------------------------------------- ctypes binding


class FakeSdk:
    """Raw calls into the library, with the C signatures of ``archive.sdk.native``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        lib = ctypes.CDLL(os.fspath(path))
        declare(lib)  # the production binding's declarations: one table of the C ABI
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


def test_getters_never_return_null(sdk: FakeSdk) -> None:
    """Like Tencent's: a static "" for a NULL object, and NULL media data is "finished"."""
    lib = sdk.lib
    for getter in (lib.GetContentFromSlice, lib.GetData, lib.GetOutIndexBuf):
        pointer = getter(None)
        assert pointer
        assert ctypes.string_at(pointer) == b""
    assert lib.GetSliceLen(None) == lib.GetIndexLen(None) == lib.GetDataLen(None) == 0
    assert lib.IsMediaDataFinish(None) == 1


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
    message = {"msgtype": "text", "text": {"content": "你好 🎉\u0000"}}
    for plain in [
        b"",
        b"\x00",
        json.dumps(message, ensure_ascii=False).encode(),
        "会话存档".encode() * 5000,
        os.urandom(1 << 20),
    ]:
        key, msg = seal(plain)
        assert len(key) == 88
        assert sdk.decrypt(key, msg) == (0, plain)


def test_decrypt_is_thread_safe(sdk: FakeSdk) -> None:
    messages = [(*seal(p), p) for p in (os.urandom(n) for n in range(0, 4000, 97))]
    errors: list[str] = []

    def work() -> None:
        for _ in range(20):
            for key, msg, p in messages:
                if sdk.decrypt(key, msg) != (0, p):
                    errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize(
    ("name", "case"), [(name, case) for name, case in tampered_records().items() if case[2] != ABORT]
)
def test_decrypt_return_codes(sdk: FakeSdk, name: str, case: tuple[str, str, int | str]) -> None:
    key, msg, expected = case
    assert sdk.decrypt(key.encode(), msg.encode()) == (expected, PLAINTEXT if expected == 0 else b"")


def test_decrypt_null_arguments(sdk: FakeSdk) -> None:
    key, msg = seal(b"{}")
    assert sdk.decrypt(None, msg)[0] == 10000
    assert sdk.decrypt(key, None)[0] == 10000
    assert sdk.decrypt(None, None)[0] == 10000
    # Tencent's would write the result through the NULL pointer; ours refuses.
    assert sdk.lib.DecryptData(key, msg, None) == 10000


def test_decrypt_failure_leaves_the_slice_alone(sdk: FakeSdk) -> None:
    key, msg = seal(b'{"a":1}')
    sl = sdk.lib.NewSlice()
    try:
        assert sdk.lib.DecryptData(key, msg, sl) == 0
        assert sdk.lib.DecryptData(b"", msg, sl) == 10008
        assert sdk.slice_bytes(sl) == b'{"a":1}'
    finally:
        sdk.lib.FreeSlice(sl)


def test_decrypt_matches_the_reference_on_mutated_records(sdk: FakeSdk) -> None:
    """Tencent's base64 decoder is lenient and CBC has no integrity check: a corrupt record
    may still return 0 with garbage. The fake must agree byte for byte."""
    compared = 0
    for key, msg in mutated_records(400, seed=1):
        expected = reference(key, msg)
        if expected != ABORT:
            assert sdk.decrypt(key, msg) == expected, (key, msg)
            compared += 1
    assert compared > 350


@pytest.mark.parametrize(
    ("name", "exception"),
    [
        ("message shorter than 13", "std::out_of_range"),
        ("empty message", "std::out_of_range"),
        ("s_len past the end", "std::out_of_range"),
        ("key of only '='", "std::length_error"),
    ],
)
def test_decrypt_aborts_where_tencents_does(lib_path: Path, sim: Sim, name: str, exception: str) -> None:
    key, msg, expected = tampered_records()[name]
    assert expected == ABORT
    proc = run_isolated(
        lib_path,
        sim,
        f"""
        print("calling", flush=True)
        sdk.decrypt({key.encode()!r}, {msg.encode()!r})
        print("survived", flush=True)
        """,
    )
    assert proc.returncode == -signal.SIGABRT, proc.stderr
    assert proc.stdout.split() == ["calling"]
    assert f"terminate called after throwing an instance of '{exception}'\n  what():  basic_string::" in proc.stderr


# --------------------------------------------------------------------------- DecryptData forwarded

# Runs in `python -I -S`: nothing but the standard library is imported before the fake SDK,
# whose constructor loads Tencent's library (which aborts after a C++ extension, spec §1.1a).
FORWARD_SCRIPT = textwrap.dedent("""\
    import ctypes, json, sys
    lib = ctypes.CDLL(sys.argv[1])
    vp, cp = ctypes.c_void_p, ctypes.c_char_p
    lib.NewSlice.restype = vp
    lib.FreeSlice.argtypes = [vp]
    lib.GetContentFromSlice.restype = vp
    lib.GetContentFromSlice.argtypes = [vp]
    lib.GetSliceLen.argtypes = [vp]
    lib.DecryptData.argtypes = [cp, cp, vp]
    results = []
    for key, msg in json.load(sys.stdin):
        sl = lib.NewSlice()
        rc = lib.DecryptData(bytes.fromhex(key), bytes.fromhex(msg), sl)
        results.append([rc, ctypes.string_at(lib.GetContentFromSlice(sl), lib.GetSliceLen(sl)).hex()])
        lib.FreeSlice(sl)
    with open("/proc/self/maps") as maps:
        mapped = sorted({line.split()[-1] for line in maps if line.rstrip().endswith(".so")})
    print(json.dumps({"results": results, "mapped": mapped}))
    """)


def run_forwarded(
    lib_path: Path, library: str, cases: list[tuple[bytes, bytes]]
) -> tuple[subprocess.CompletedProcess[str], list[tuple[int, bytes]], list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env["WECOM_FAKE_SDK_DECRYPT_LIBRARY"] = library
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", FORWARD_SCRIPT, str(lib_path)],
        input=json.dumps([[key.hex(), msg.hex()] for key, msg in cases]),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_no_core_dump,
    )
    if proc.returncode != 0 or not proc.stdout:
        return proc, [], []
    out = json.loads(proc.stdout)
    return proc, [(rc, bytes.fromhex(data)) for rc, data in out["results"]], out["mapped"]


def test_forward_switch_decrypts_with_tencents_library(lib_path: Path, tencent_sdk_library: Path) -> None:
    library = str(tencent_sdk_library)
    rng = random.Random(20261207)
    plaintexts = [rng.randbytes(n) for n in (1, 15, 16, 17, 1 << 20)]
    plaintexts += ["会话存档审计 🎉".encode() * n for n in (1, 10, 30000)]
    plaintexts += [rng.randbytes(rng.randrange(1, 1 << 20)) for _ in range(8)]
    plaintexts += [rng.randbytes(rng.randrange(1, 3000)) for _ in range(200)]
    good = [seal(p) for p in plaintexts]
    bad = [(k.encode(), m.encode()) for k, m, expected in tampered_records().values() if expected != ABORT]
    bad += [(k, m) for k, m in mutated_records(300, seed=2) if reference(k, m) != ABORT]

    proc, results, mapped = run_forwarded(lib_path, library, good + bad)
    assert proc.returncode == 0, proc.stderr
    assert os.path.realpath(library) in {os.path.realpath(m) for m in mapped}
    assert results[: len(good)] == [(0, p) for p in plaintexts]
    assert results[len(good) :] == [reference(k, m) for k, m in bad]


def test_forward_switch_aborts_in_tencents_library(lib_path: Path, tencent_sdk_library: Path) -> None:
    library = str(tencent_sdk_library)
    key, msg, _ = tampered_records()["message shorter than 13"]
    proc, _, _ = run_forwarded(lib_path, library, [(key.encode(), msg.encode())])
    assert proc.returncode == -signal.SIGABRT
    assert "terminate called after throwing an instance of 'std::out_of_range'" in proc.stderr


def test_forward_switch_load_failure_is_internal_error(lib_path: Path, tmp_path: Path) -> None:
    key, msg = seal(b"{}")
    proc, results, _ = run_forwarded(lib_path, str(tmp_path / "missing.so"), [(key, msg)] * 3)
    assert proc.returncode == 0, proc.stderr
    assert results == [(10003, b"")] * 3
    assert len(proc.stderr.splitlines()) == 1
    assert "WECOM_FAKE_SDK_DECRYPT_LIBRARY" in proc.stderr


def test_forward_switch_set_after_loading_is_refused(lib_path: Path, sim: Sim) -> None:
    """Loading Tencent's library late could abort the process (a C++ extension may be loaded
    by then), so the switch only counts if it was set when the fake was loaded."""
    proc = run_isolated(
        lib_path,
        sim,
        """
        import os
        key, msg = T.seal(b"{}")
        os.environ["WECOM_FAKE_SDK_DECRYPT_LIBRARY"] = "/nonexistent/libWeWorkFinanceSdk_C.so"
        print(sdk.decrypt(key, msg)[0], sdk.decrypt(key, msg)[0])
        del os.environ["WECOM_FAKE_SDK_DECRYPT_LIBRARY"]
        print(sdk.decrypt(key, msg)[0])
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["10003", "10003", "0"]
    assert proc.stderr.count("was set after the library was loaded") == 1


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
    sim.state.records = [make_record(s, {"seq": s})[0] for s in (1, 2, 3)]
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
    made = {s: make_record(s, {"seq": s, "t": "文"}) for s in (1, 2, 3, 4)}
    sim.state.records = [record for record, _ in made.values()]
    keys = {s: key for s, (_, key) in made.items()}
    monkeypatch.setenv("WECOM_FAKE_SDK_CORRUPT_SEQ", "2, 4")
    rc, body = sdk.chat(handle)
    assert rc == 0
    records = {r["seq"]: r["encrypt_chat_msg"].encode() for r in json.loads(body)["chatdata"]}
    for seq in (1, 3):
        rc, plain = sdk.decrypt(keys[seq], records[seq])
        assert rc == 0
        assert json.loads(plain)["seq"] == seq
    for seq in (2, 4):
        rc, plain = sdk.decrypt(keys[seq], records[seq])
        assert rc == 0
        assert plain
        with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
            json.loads(plain)
    # Read at each call: switched off, the same message decrypts cleanly again.
    monkeypatch.delenv("WECOM_FAKE_SDK_CORRUPT_SEQ")
    assert json.loads(sdk.decrypt(keys[2], records[2])[1])["seq"] == 2


def test_crash_seq(lib_path: Path, sim: Sim) -> None:
    made = {s: make_record(s, {"seq": s}) for s in (7, 8, 9)}
    sim.state.records = [record for record, _ in made.values()]
    keys = {s: key for s, (_, key) in made.items()}
    proc = run_isolated(
        lib_path,
        sim,
        f"""
        rc, body = sdk.chat(h)
        recs = {{r["seq"]: r["encrypt_chat_msg"].encode() for r in json.loads(body)["chatdata"]}}
        keys = {keys!r}
        for seq in (7, 9, 8):
            rc, plain = sdk.decrypt(keys[seq], recs[seq])
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
