"""The WeCom HTTP API client against the simulated WeCom's real HTTP server: the permit
list, access tokens cached and refreshed when WeCom says they expired, typed errors with
what to do, transient failures retried, and no secret or token in logs or errors."""

from __future__ import annotations

import asyncio
import io
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from archive.simulator.runtime import SimulatedWeCom
from archive.simulator.server import ACCESS_TOKEN_TTL_S, SimulatorServer
from archive.wecom.client import BlockingWeComClient, WeComClient
from archive.wecom.errors import WeComApiError, WeComConfigurationError, WeComTransientError
from config.logs import configure_logging

START_MS = 1_700_000_000_000


@dataclass
class WeCom:
    simulator: SimulatedWeCom
    server: SimulatorServer
    now_ms: list[int]

    def client(
        self, *, secret: str | None = None, corp_id: str | None = None, attempts: int = 3
    ) -> BlockingWeComClient:
        return BlockingWeComClient(
            WeComClient(
                self.server.url,
                corp_id or self.simulator.corp_id,
                self.simulator.archive_secret if secret is None else secret,
                timeout_s=5,
                retry_attempts=attempts,
                retry_backoff_s=0.01,
            )
        )

    def advance(self, seconds: int) -> None:
        self.now_ms[0] += seconds * 1000


@pytest.fixture
def wecom(tmp_path: Path) -> Iterator[WeCom]:
    simulator = SimulatedWeCom(tmp_path / "simulator", seed=11)
    now_ms = [START_MS]
    server = SimulatorServer(
        simulator.store, corp_id=simulator.corp_id, secret=simulator.archive_secret, clock_ms=lambda: now_ms[0]
    ).start()
    yield WeCom(simulator, server, now_ms)
    server.stop()
    simulator.close()


def test_the_permit_list_is_the_members_with_the_archiving_licence(wecom: WeCom) -> None:
    employees = wecom.simulator.company.employees
    with wecom.client() as client:
        permitted = client.permit_users()
        assert client.permit_users(user_type=3) == permitted
    assert permitted == [e.userid for e in employees if e.archived]
    assert any(not e.archived for e in employees), "the simulated company has members without a licence"


def test_the_token_is_fetched_once_and_reused(wecom: WeCom) -> None:
    with wecom.client() as client:
        client.permit_users()
        wecom.advance(ACCESS_TOKEN_TTL_S - 600)  # still valid on WeCom's clock
        client.permit_users()
    assert wecom.server.api_requests == [
        "/cgi-bin/gettoken",
        "/cgi-bin/msgaudit/get_permit_user_list",
        "/cgi-bin/msgaudit/get_permit_user_list",
    ]


def test_an_expired_token_is_refreshed_and_the_call_retried_once(wecom: WeCom) -> None:
    with wecom.client() as client:
        first = client.permit_users()
        wecom.advance(ACCESS_TOKEN_TTL_S + 1)  # WeCom's clock runs past the token's life
        assert client.permit_users() == first
    assert wecom.server.api_requests == [
        "/cgi-bin/gettoken",
        "/cgi-bin/msgaudit/get_permit_user_list",
        "/cgi-bin/msgaudit/get_permit_user_list",  # 42001
        "/cgi-bin/gettoken",
        "/cgi-bin/msgaudit/get_permit_user_list",
    ]


def test_a_wrong_secret_is_a_configuration_error_that_says_what_to_do(wecom: WeCom) -> None:
    with wecom.client(secret="not-the-archive-secret") as client, pytest.raises(WeComConfigurationError) as raised:
        client.permit_users()
    assert raised.value.errcode == 40001 and not raised.value.retryable
    assert "WECOM_AUDIT_WECOM__ARCHIVE_SECRET" in raised.value.hint
    assert wecom.server.api_requests == ["/cgi-bin/gettoken"], "a configuration error is not retried"


def test_a_wrong_corp_id_is_a_configuration_error(wecom: WeCom) -> None:
    with wecom.client(corp_id="ww0000000000000000") as client, pytest.raises(WeComConfigurationError) as raised:
        client.permit_users()
    assert raised.value.errcode == 40013 and "CORP_ID" in raised.value.hint


def test_archive_not_enabled_is_a_configuration_error(wecom: WeCom) -> None:
    wecom.server.faults.msgaudit_errcode = 301053
    with wecom.client() as client, pytest.raises(WeComConfigurationError) as raised:
        client.permit_users()
    assert raised.value.errcode == 301053 and "enable 会话内容存档" in raised.value.hint


def test_transient_http_errors_are_retried(wecom: WeCom) -> None:
    wecom.server.faults.cgi_unavailable = 2
    with wecom.client(attempts=3) as client:
        assert client.permit_users()
    assert wecom.server.api_requests.count("/cgi-bin/gettoken") == 3  # 503, 503, ok


def test_a_lasting_outage_ends_in_a_retryable_error(wecom: WeCom) -> None:
    wecom.server.faults.cgi_unavailable = 100
    with wecom.client(attempts=3) as client, pytest.raises(WeComTransientError) as raised:
        client.permit_users()
    assert raised.value.retryable and "HTTP 503" in str(raised.value)
    assert len(wecom.server.api_requests) == 3


def test_an_unreachable_api_ends_in_a_retryable_error(wecom: WeCom) -> None:
    url = wecom.server.url
    wecom.server.stop()
    client = BlockingWeComClient(WeComClient(url, "ww1", "secret", timeout_s=1, retry_backoff_s=0.01))
    with client, pytest.raises(WeComTransientError):
        client.permit_users()


def test_the_async_client_can_be_used_directly(wecom: WeCom) -> None:
    async def both() -> tuple[list[str], list[str]]:
        async with WeComClient(wecom.server.url, wecom.simulator.corp_id, wecom.simulator.archive_secret) as client:
            return await asyncio.gather(client.permit_users(), client.permit_users())

    first, second = asyncio.run(both())
    assert first == second
    assert wecom.server.api_requests.count("/cgi-bin/gettoken") == 1, "concurrent calls share one token"


def test_neither_secret_nor_token_reaches_logs_or_errors(wecom: WeCom) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", json_output=True, stream=stream)
    wecom.server.faults.cgi_unavailable = 1
    with wecom.client() as client:
        client.permit_users()
        wecom.advance(ACCESS_TOKEN_TTL_S + 1)
        client.permit_users()  # refreshes the token
    query = f"corpid={wecom.simulator.corp_id}&corpsecret={wecom.simulator.archive_secret}"
    with urllib.request.urlopen(f"{wecom.server.url}/cgi-bin/gettoken?{query}") as response:
        token = json.load(response)["access_token"]
    errors: list[str] = []
    for secret in ("wrong-secret-value", wecom.simulator.archive_secret):
        wecom.server.faults.cgi_unavailable = 100 if secret != "wrong-secret-value" else 0
        with wecom.client(secret=secret, attempts=2) as client, pytest.raises(WeComApiError) as raised:
            client.permit_users()
        errors.append(f"{raised.value} {raised.value.hint}")
    captured = stream.getvalue() + "\n".join(errors)
    assert "archive.wecom.retry" in captured and "archive.wecom.token_refreshed" in captured
    for secret in (wecom.simulator.archive_secret, "wrong-secret-value", token):
        assert secret not in captured
