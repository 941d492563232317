"""An async client of WeCom's HTTP API for one corp and one secret, and a blocking facade.

Access tokens follow spec §6.1: one token per secret, cached until shortly before it
expires (gettoken is rate-limited), and fetched again when WeCom answers 40014 (invalid)
or 42001 (expired) — the call is then retried once. Network errors, HTTP 5xx/429 and
WeCom's "busy" errcodes are retried with exponential backoff; any other errcode raises a
typed error at once, with what the operator should do.

Secrets and tokens travel in the query string (WeCom's design), so neither this module's
errors nor its log events ever include a URL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from archive.wecom.errors import (
    TOKEN_ERRCODES,
    TRANSIENT_ERRCODES,
    WeComApiError,
    WeComTransientError,
    error_for_errcode,
)
from config.logs import get_logger

DEFAULT_API_BASE_URL = "https://qyapi.weixin.qq.com"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRY_ATTEMPTS = 3
DEFAULT_RETRY_BACKOFF_S = 0.5
# A cached token is dropped this long before WeCom's expiry, so none expires mid-call.
TOKEN_EXPIRY_MARGIN_S = 300

# httpx logs every request line, URL included, at INFO: that would print the secret and tokens.
for _noisy in ("httpx", "httpcore"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

log = get_logger("archive.wecom")

_T = TypeVar("_T")


async def _awaited(awaitable: Awaitable[_T]) -> _T:
    return await awaitable


@dataclass(frozen=True)
class _AccessToken:
    value: str
    refresh_at: float  # on the client's monotonic clock


class WeComClient:
    """WeCom's HTTP API (``/cgi-bin``) with the token of one corp's 会话内容存档 secret.

    ``transport`` replaces httpx's network transport (tests, proxies). Use as an async
    context manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        corp_id: str,
        secret: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_attempts: int = DEFAULT_RETRY_ATTEMPTS,
        retry_backoff_s: float = DEFAULT_RETRY_BACKOFF_S,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if retry_attempts < 1:
            raise ValueError("retry_attempts must be at least 1")
        self.corp_id = corp_id
        self._secret = secret
        self._retry_attempts = retry_attempts
        self._retry_backoff_s = retry_backoff_s
        self._monotonic = monotonic
        self._sleep = sleep  # injectable so tests see the backoff without waiting for it
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport)
        self._token: _AccessToken | None = None
        self._token_lock = asyncio.Lock()  # concurrent calls share one gettoken

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def permit_users(self, user_type: int | None = None) -> list[str]:
        """The userids with the archiving licence (msgaudit/get_permit_user_list, spec §6.2).

        ``user_type``: 1 办公版, 2 服务版, 3 企业版; None lists every edition.
        """
        body: dict[str, Any] = {} if user_type is None else {"type": user_type}
        document = await self._call("POST", "/cgi-bin/msgaudit/get_permit_user_list", body)
        ids = document.get("ids")
        if not isinstance(ids, list) or not all(isinstance(userid, str) for userid in ids):
            raise WeComApiError(
                "WeCom msgaudit/get_permit_user_list answered without a list of ids",
                hint="check WECOM_AUDIT_WECOM__API_BASE_URL points at WeCom's API",
            )
        return ids

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """One API call with this client's token: its JSON answer when ``errcode`` is 0.

        Raises a :class:`WeComApiError` subclass for any other errcode (see ``errors.py``);
        used by the typed wrappers (``archive.wecom.contacts``)."""
        return await self._call(method, path, body, query=query)

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None, *, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        call = path.removeprefix("/cgi-bin/")
        token = await self._access_token()
        document = await self._request(method, path, call, params={**(query or {}), "access_token": token}, body=body)
        if _errcode(document) in TOKEN_ERRCODES:
            log.info("archive.wecom.token_refreshed", corp_id=self.corp_id, errcode=_errcode(document))
            self._forget(token)
            token = await self._access_token()
            document = await self._request(
                method, path, call, params={**(query or {}), "access_token": token}, body=body
            )
        if _errcode(document) != 0:
            raise error_for_errcode(_errcode(document), str(document.get("errmsg", "")), call)
        return document

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token is not None and self._monotonic() < self._token.refresh_at:
                return self._token.value
            document = await self._request(
                "GET", "/cgi-bin/gettoken", "gettoken", params={"corpid": self.corp_id, "corpsecret": self._secret}
            )
            errcode = _errcode(document)
            token, expires_in = document.get("access_token"), document.get("expires_in")
            if errcode != 0:
                raise error_for_errcode(errcode, str(document.get("errmsg", "")), "gettoken")
            if not isinstance(token, str) or not token or not isinstance(expires_in, int):
                raise WeComApiError(
                    "WeCom gettoken answered without a token",
                    hint="check WECOM_AUDIT_WECOM__API_BASE_URL points at WeCom's API",
                )
            self._token = _AccessToken(token, self._monotonic() + max(0, expires_in - TOKEN_EXPIRY_MARGIN_S))
            return token

    def _forget(self, token: str) -> None:
        if self._token is not None and self._token.value == token:
            self._token = None

    async def _request(
        self, method: str, path: str, call: str, *, params: dict[str, str], body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One call, retried while it fails transiently; the JSON answer, whatever its errcode."""
        delay = self._retry_backoff_s
        failure, errcode = "", None
        for attempt in range(1, self._retry_attempts + 1):
            try:
                response = await self._http.request(method, path, params=params, json=body)
            except httpx.TransportError as exc:  # connect errors, timeouts, broken connections
                failure = type(exc).__name__
            else:
                document = _document(response, call)
                if document is None:
                    failure = f"HTTP {response.status_code}"
                elif _errcode(document) in TRANSIENT_ERRCODES:
                    errcode = _errcode(document)
                    failure = f"errcode {errcode}"
                else:
                    return document
            if attempt < self._retry_attempts:
                log.warning("archive.wecom.retry", corp_id=self.corp_id, call=call, attempt=attempt, reason=failure)
                await self._sleep(delay)
                delay *= 2
        raise WeComTransientError(
            f"WeCom {call} failed {self._retry_attempts} times ({failure})",
            hint="check outbound HTTPS to WeCom's API (WECOM_AUDIT_WECOM__API_BASE_URL) and any proxy; "
            "the next scheduled check tries again",
            errcode=errcode,
        )


def _document(response: httpx.Response, call: str) -> dict[str, Any] | None:
    """The JSON object of a response; None for a transient HTTP status (5xx, 429)."""
    if response.status_code >= 500 or response.status_code == httpx.codes.TOO_MANY_REQUESTS:
        return None
    if response.status_code != httpx.codes.OK:
        raise WeComApiError(
            f"WeCom {call} answered HTTP {response.status_code}",
            hint="check WECOM_AUDIT_WECOM__API_BASE_URL and any proxy in between",
        )
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise WeComApiError(
            f"WeCom {call} answered something other than a JSON object",
            hint="check WECOM_AUDIT_WECOM__API_BASE_URL and any proxy in between",
        )
    return document


def _errcode(document: dict[str, Any]) -> int:
    errcode = document.get("errcode", 0)
    return errcode if isinstance(errcode, int) else -1


class BlockingWeComClient:
    """A :class:`WeComClient` for synchronous code (the CLI, scheduler jobs).

    It runs the async client on a private event loop that lives as long as this object,
    so keep one per corp for the process: its token cache saves a gettoken per call. Not
    for concurrent use from several threads.
    """

    def __init__(self, client: WeComClient) -> None:
        self._client = client
        self._runner = asyncio.Runner()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def permit_users(self, user_type: int | None = None) -> list[str]:
        return self._runner.run(self._client.permit_users(user_type))

    def run(self, operation: Callable[[WeComClient], Awaitable[_T]]) -> _T:
        """Run any async operation on the wrapped client, e.g.
        ``blocking.run(lambda client: WeComContacts(client).unassigned_customers())``."""
        return self._runner.run(_awaited(operation(self._client)))

    def close(self) -> None:
        try:
            self._runner.run(self._client.aclose())
        finally:
            self._runner.close()
