"""The simulated WeCom's HTTP server on loopback: what the fake Finance SDK talks to.

Speaks the wire protocol of docs/fake-sdk.md (``/finance/getchatdata``,
``/finance/getmediadata``). It honours WeCom's retention window (data older than
``retention_s`` is gone: not listed, media answers 10010) and can be told to answer with
WeCom's server-side errors (``faults``) to test how wecom-audit reacts.

It also speaks the part of WeCom's HTTP API (``/cgi-bin/…``, spec §6) that wecom-audit
calls directly, with WeCom's access-token rules: ``gettoken`` hands out a token valid for
7200 s on the server's clock (the same one again while it is valid), and every other call
answers 41001/40014/42001 for a missing, unknown or expired token.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from archive.simulator.store import SimulatorStore

MEDIA_CHUNK_BYTES = 512 * 1024  # the SDK's chunk size (spec §5)
DEFAULT_RETENTION_S = 5 * 24 * 3600
_RANGE = re.compile(r"^Range:bytes=(\d+)-(\d+)$")
ACCESS_TOKEN_TTL_S = 7200  # spec §6.1
# The store's meta key under which the simulated company keeps its archive permit list
# (the members whose archiving licence is enabled, spec §6.2): written by SimulatedWeCom.
PERMIT_USER_LIST_META_KEY = "permit_user_list"
PERMIT_USER_TYPES = frozenset({1, 2, 3})  # 办公版, 服务版, 企业版

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class ServerFaults:
    """Errors the server answers with; change them at any time (tests do)."""

    chatdata_errcode: int = 0
    chatdata_http_status: int = 200
    # /cgi-bin/msgaudit/* answer this errcode (e.g. 301053 archive not enabled, 48002).
    msgaudit_errcode: int = 0
    # The next this-many /cgi-bin requests answer HTTP 503 (a transient outage).
    cgi_unavailable: int = 0


class SimulatorServer:
    def __init__(
        self,
        store: SimulatorStore,
        *,
        corp_id: str,
        secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        retention_s: float = DEFAULT_RETENTION_S,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.corp_id = corp_id
        self.secret = secret
        self.retention_s = retention_s
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.faults = ServerFaults()
        self.requests = 0
        # (sdkfileid, offset) of every media chunk served, for tests of resumed downloads.
        self.media_requests: list[tuple[str, int]] = []
        # The path (never the query: it holds secrets and tokens) of every /cgi-bin request.
        self.api_requests: list[str] = []
        # Routes and secrets added by extensions (archive.simulator.handover installs the
        # customer-contact API); looked up per request, so they can be added after start().
        self.extra_routes: dict[tuple[str, str], Callable[[dict[str, str], bytes], Reply]] = {}
        self.extra_secrets: set[str] = set()
        self._tokens: dict[str, int] = {}  # access token → expiry on the server's clock (ms)
        self._tokens_lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler_class(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="wecom-simulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    # --- endpoints ----------------------------------------------------------------------

    def _retained_since_ms(self) -> int:
        return self.clock_ms() - int(self.retention_s * 1000)

    def get_chat_data(self, request: dict[str, Any]) -> Reply:
        error = self._check_credentials(request)
        if error:
            return _json(200, {"errcode": error[0], "errmsg": error[1], "chatdata": []})
        if self.faults.chatdata_http_status != 200:
            return _json(self.faults.chatdata_http_status, {"errcode": -1, "errmsg": "system busy"})
        if self.faults.chatdata_errcode:
            return _json(200, {"errcode": self.faults.chatdata_errcode, "errmsg": "simulated", "chatdata": []})
        seq, limit = int(request.get("seq", 0)), int(request.get("limit", 0))
        if not 1 <= limit <= 1000:
            return _json(200, {"errcode": 301058, "errmsg": "limit out of range", "chatdata": []})
        chats = self.store.chats_after(seq, limit, self._retained_since_ms())
        return _json(
            200,
            {
                "errcode": 0,
                "errmsg": "ok",
                "chatdata": [
                    {
                        "seq": c.seq,
                        "msgid": c.msgid,
                        "publickey_ver": c.publickey_ver,
                        "encrypt_random_key": c.encrypt_random_key,
                        "encrypt_chat_msg": c.encrypt_chat_msg,
                    }
                    for c in chats
                ],
            },
        )

    def get_media_data(self, request: dict[str, Any]) -> Reply:
        error = self._check_credentials(request)
        if error:
            return 403, {"X-Sdk-Rc": "10004"}, b""
        index = str(request.get("indexbuf", ""))
        match = _RANGE.match(index)
        if index and not match:
            return 400, {"X-Sdk-Rc": "10000"}, b""
        offset = int(match.group(1)) if match else 0
        sdkfileid = str(request.get("sdkfileid", ""))
        found = self.store.media_slice(sdkfileid, offset, MEDIA_CHUNK_BYTES)
        if found is None:
            return 404, {"X-Sdk-Rc": "10005"}, b""
        if self.store.media_msgtime_ms(sdkfileid) < self._retained_since_ms():
            return 410, {"X-Sdk-Rc": "10010"}, b""
        self.media_requests.append((sdkfileid, offset))
        data, total = found
        end = offset + len(data)
        finished = end >= total
        next_index = "" if finished else f"Range:bytes={end}-{end + MEDIA_CHUNK_BYTES - 1}"
        headers = {
            "X-Outindexbuf": next_index,
            "X-Is-Finish": "1" if finished else "0",
            "Content-Type": "application/octet-stream",
        }
        return 200, headers, data

    def _check_credentials(self, request: dict[str, Any]) -> tuple[int, str] | None:
        if request.get("corpid") != self.corp_id:
            return 40013, "invalid corpid"
        if request.get("secret") != self.secret:
            return 40001, "invalid credential"
        return None

    # --- the HTTP API (/cgi-bin) --------------------------------------------------------

    def get_token(self, query: dict[str, str], _body: bytes) -> Reply:
        secret = query.get("corpsecret")
        # One token pool for every secret: the simulator does not tell secrets' tokens apart.
        if secret in self.extra_secrets:
            secret = self.secret
        error = self._check_credentials({"corpid": query.get("corpid"), "secret": secret})
        if error:
            return _json(200, {"errcode": error[0], "errmsg": error[1]})
        now_ms = self.clock_ms()
        with self._tokens_lock:
            live = [(expiry, token) for token, expiry in self._tokens.items() if expiry > now_ms]
            if live:
                expiry, token = max(live)
            else:
                token, expiry = secrets.token_urlsafe(48), now_ms + ACCESS_TOKEN_TTL_S * 1000
                self._tokens[token] = expiry
        return _json(
            200,
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": (expiry - now_ms) // 1000},
        )

    def get_permit_user_list(self, query: dict[str, str], body: bytes) -> Reply:
        error = self._check_token(query.get("access_token"))
        if error:
            return _json(200, {"errcode": error[0], "errmsg": error[1]})
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return _json(200, {"errcode": 47001, "errmsg": "data format error"})
        user_type = request.get("type") if isinstance(request, dict) else None
        if user_type is not None and user_type not in PERMIT_USER_TYPES:
            return _json(200, {"errcode": 40058, "errmsg": "invalid type"})
        if self.faults.msgaudit_errcode:
            return _json(200, {"errcode": self.faults.msgaudit_errcode, "errmsg": "simulated"})
        # The simulated company has one licence edition: every type lists every member.
        ids = json.loads(self.store.get_meta(PERMIT_USER_LIST_META_KEY) or "[]")
        return _json(200, {"errcode": 0, "errmsg": "ok", "ids": ids})

    def check_token(self, token: str | None) -> tuple[int, str] | None:
        """(errcode, errmsg) when ``token`` is missing, unknown or expired; None when valid."""
        return self._check_token(token)

    def _check_token(self, token: str | None) -> tuple[int, str] | None:
        if not token:
            return 41001, "access_token missing"
        with self._tokens_lock:
            expiry = self._tokens.get(token)
        if expiry is None:
            return 40014, "invalid access_token"
        if expiry <= self.clock_ms():
            return 42001, "access_token expired"
        return None


def _json(status: int, document: dict[str, Any]) -> Reply:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return status, {"Content-Type": "application/json; charset=utf-8"}, body


def _handler_class(server: SimulatorServer) -> type[BaseHTTPRequestHandler]:
    # The fake SDK's routes take the JSON body; the HTTP API's take the query and the raw body.
    finance_routes: dict[str, Callable[[dict[str, Any]], Reply]] = {
        "/finance/getchatdata": server.get_chat_data,
        "/finance/getmediadata": server.get_media_data,
    }
    api_routes: dict[tuple[str, str], Callable[[dict[str, str], bytes], Reply]] = {
        ("GET", "/cgi-bin/gettoken"): server.get_token,
        ("POST", "/cgi-bin/msgaudit/get_permit_user_list"): server.get_permit_user_list,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as libcurl expects

        def do_GET(self) -> None:
            server.requests += 1
            self._api("GET", b"")

        def do_POST(self) -> None:
            server.requests += 1
            length = int(self.headers.get("Content-Length") or 0)
            payload = self.rfile.read(length) if length else b""
            if self.path.startswith("/cgi-bin/"):
                self._api("POST", payload)
                return
            route = finance_routes.get(self.path.split("?", 1)[0])
            if route is None:
                self._reply(404, {"Content-Type": "text/plain"}, b"not found")
                return
            try:
                request = json.loads(payload or b"{}")
            except ValueError:
                self._reply(400, {"X-Sdk-Rc": "10000"}, b"")
                return
            self._reply(*route(request if isinstance(request, dict) else {}))

        def _api(self, method: str, payload: bytes) -> None:
            url = urlsplit(self.path)
            route = api_routes.get((method, url.path)) or server.extra_routes.get((method, url.path))
            if route is None:
                self._reply(404, {"Content-Type": "text/plain"}, b"not found")
                return
            server.api_requests.append(url.path)
            if server.faults.cgi_unavailable > 0:
                server.faults.cgi_unavailable -= 1
                self._reply(503, {"Content-Type": "text/plain"}, b"service unavailable")
                return
            query = {name: values[0] for name, values in parse_qs(url.query).items()}
            self._reply(*route(query, payload))

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(HTTPStatus(status))
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the demo's terminal belongs to wecom-audit

    return Handler
