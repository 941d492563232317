"""Over a real uvicorn server: a scenario that signs in, creates a token, reads messages,
searches, fails in every way it can — and neither a log line nor an error response holds a
password, token, cookie, key, secret or any message text."""

from __future__ import annotations

import io
import socket
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from api.app import ApiServer
from archive.wecom.callback_crypto import CallbackCrypto
from config.logs import configure_logging
from tests.api.world import CALLBACK_AES_KEY, CALLBACK_TOKEN, PASSWORD, PURPOSE, build_world, officer_token
from tests.conftest import Edge, wait_for

SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy", "x-request-id")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_no_secret_or_message_text_in_logs_or_errors(edge: Edge) -> None:
    world = build_world(edge)
    logs = io.StringIO()
    configure_logging("DEBUG", json_output=True, stream=logs)
    server = ApiServer(world.context, "127.0.0.1", free_port()).start()
    errors: list[str] = []
    secrets = [PASSWORD, CALLBACK_TOKEN, CALLBACK_AES_KEY, edge.simulator.archive_secret]
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            wait_for(lambda: _up(client), timeout_s=20)

            def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
                response = client.request(method, url, **kwargs)
                assert all(header in response.headers for header in SECURITY_HEADERS), url
                if response.status_code >= 400:
                    errors.append(response.text)
                return response

            call("POST", "/api/v1/auth/login", json={"username": "compliance_officer", "password": PASSWORD + "x"})
            call("POST", "/api/v1/auth/login", json={"username": PASSWORD, "password": PASSWORD})
            signed_in = call(
                "POST", "/api/v1/auth/login", json={"username": "compliance_officer", "password": PASSWORD}
            )
            csrf = signed_in.json()["csrf_token"]
            secrets += [csrf, signed_in.cookies["wecom_audit_session"]]
            created = call(
                "POST",
                "/api/v1/tokens",
                json={"name": "t", "permissions": ["content:read"]},
                headers={"X-CSRF-Token": csrf},
            )
            token = created.json()["secret"]
            secrets.append(token)
            secrets.append(officer_token(world, ["content:read"]))
            purpose = {"X-Access-Purpose": quote(PURPOSE)}
            bearer = {"Authorization": f"Bearer {token}", **purpose}
            # Reads of real messages, by cookie and by token.
            for headers in ({**purpose}, bearer):
                call("GET", f"/api/v1/messages/{world.in_message}", headers=headers)
                call("GET", f"/api/v1/messages/{world.in_message}/context", headers=headers)
                call("GET", f"/api/v1/conversations/{world.in_conversation}/messages", headers=headers)
            for text in world.message_texts[:5]:
                call("GET", "/api/v1/search", params={"q": text}, headers=bearer)
                call("GET", "/api/v1/search", params={"q": f"({text}"}, headers=bearer)  # syntax error
            # Failures of every kind.
            call("GET", "/api/v1/messages/999999999", headers=bearer)
            call("GET", "/api/v1/conversations", headers={"Authorization": f"Bearer {token}x"})
            call("GET", "/api/v1/conversations", headers={"Authorization": f"Token {token}"})
            call("POST", "/api/v1/users", json={"username": "u", "password": PASSWORD}, headers={"X-CSRF-Token": csrf})
            call(
                "POST", "/api/v1/users", content=f'{{"password": "{PASSWORD}"'.encode(), headers={"X-CSRF-Token": csrf}
            )
            call("PUT", "/api/v1/users/nobody/password", json={"password": PASSWORD})
            call("GET", "/api/v1/conversations?cursor=" + quote(PASSWORD))
            crypto = CallbackCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, edge.simulator.corp_id)
            sealed = crypto.encrypt(f"<xml><Content>{world.message_texts[0]}</Content></xml>")
            call(
                "POST",
                "/wecom/callback?msg_signature=0&timestamp=1&nonce=2",
                content=f"<xml><Encrypt>{sealed}</Encrypt></xml>",
            )
            call(
                "GET",
                "/wecom/callback",
                params={"msg_signature": "0", "timestamp": "1", "nonce": "2", "echostr": sealed},
            )
            call("POST", "/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    finally:
        server.stop()
        configure_logging("INFO")
    output = logs.getvalue()
    assert "api.request" in output and "wecom.callback.rejected" in output  # the capture worked
    texts = [text for text in world.message_texts if len(text) >= 2]
    for name, haystack in [("logs", output), ("error responses", "\n".join(errors))]:
        leaked_secrets = [s[:6] for s in secrets if s and s in haystack]
        leaked_texts = [t for t in texts if t in haystack]
        assert not leaked_secrets, f"secrets in {name}: {leaked_secrets}"
        assert not leaked_texts, f"message text in {name}: {leaked_texts[:3]}"
    assert len(errors) >= 12


def _up(client: httpx.Client) -> bool:
    try:
        return client.get("/health/live").status_code == 200
    except httpx.TransportError:
        return False
