"""The simulated WeCom's HTTP server on loopback: what the fake Finance SDK talks to.

Speaks the wire protocol of docs/fake-sdk.md (``/finance/getchatdata``,
``/finance/getmediadata``). It honours WeCom's retention window (data older than
``retention_s`` is gone: not listed, media answers 10010) and can be told to answer with
WeCom's server-side errors (``faults``) to test how wecom-audit reacts.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from archive.simulator.store import SimulatorStore

MEDIA_CHUNK_BYTES = 512 * 1024  # the SDK's chunk size (spec §5)
DEFAULT_RETENTION_S = 5 * 24 * 3600
_RANGE = re.compile(r"^Range:bytes=(\d+)-(\d+)$")


@dataclass
class ServerFaults:
    """Errors the server answers with; change them at any time (tests do)."""

    chatdata_errcode: int = 0
    chatdata_http_status: int = 200


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

    def get_chat_data(self, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
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

    def get_media_data(self, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
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


def _json(status: int, document: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return status, {"Content-Type": "application/json; charset=utf-8"}, body


def _handler_class(server: SimulatorServer) -> type[BaseHTTPRequestHandler]:
    routes: dict[str, Callable[[dict[str, Any]], tuple[int, dict[str, str], bytes]]] = {
        "/finance/getchatdata": server.get_chat_data,
        "/finance/getmediadata": server.get_media_data,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as libcurl expects

        def do_POST(self) -> None:
            server.requests += 1
            route = routes.get(self.path.split("?", 1)[0])
            length = int(self.headers.get("Content-Length") or 0)
            payload = self.rfile.read(length) if length else b""
            if route is None:
                self._reply(404, {"Content-Type": "text/plain"}, b"not found")
                return
            try:
                request = json.loads(payload or b"{}")
            except ValueError:
                self._reply(400, {"X-Sdk-Rc": "10000"}, b"")
                return
            self._reply(*route(request if isinstance(request, dict) else {}))

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
