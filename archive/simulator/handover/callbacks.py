"""The simulated WeCom's contact-change callbacks (spec §7.2, §7.3, §8.8).

Events are encrypted and signed with the WXBizMsgCrypt scheme (``CallbackCrypto``) and,
when a URL is configured, POSTed there over HTTP like WeCom does. Every delivery is also
kept (``deliveries``) so tests can hand them to an app without a network listener.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass

from archive.wecom.callback_crypto import CallbackCrypto

DELIVERY_TIMEOUT_S = 5.0  # WeCom expects an answer within 5 s (spec §7.4)


@dataclass(frozen=True)
class Delivery:
    """One callback as sent: the query parameters, the XML envelope and the plaintext event."""

    params: dict[str, str]
    body: str
    event: dict[str, str]


class ContactCallbacks:
    """Sends ``change_external_contact`` events for one corp; silent until configured."""

    def __init__(self, corp_id: str) -> None:
        self.corp_id = corp_id
        self.crypto: CallbackCrypto | None = None
        self.url: str | None = None
        self.deliveries: list[Delivery] = []
        self.failures = 0  # POSTs that did not reach the receiver (WeCom would retry; we count)
        self._lock = threading.Lock()

    def configure(self, crypto: CallbackCrypto, url: str | None = None) -> None:
        """Token/EncodingAESKey/corp id as set on WeCom's admin page, and the receiver's URL."""
        self.crypto, self.url = crypto, url

    def event(self, change: str, userid: str, external_userid: str, at_ms: int, **extra: str) -> dict[str, str]:
        return {
            "ToUserName": self.corp_id,
            "FromUserName": "sys",
            "CreateTime": str(at_ms // 1000),
            "MsgType": "event",
            "Event": "change_external_contact",
            "ChangeType": change,
            "UserID": userid,
            "ExternalUserID": external_userid,
            **extra,
        }

    def send(self, event: dict[str, str]) -> None:
        crypto = self.crypto
        if crypto is None:
            return
        # Values are ids and fixed words (no "]]>"), so CDATA needs no escaping here.
        plain = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in event.items()) + "</xml>"
        encrypted = crypto.encrypt(plain)
        # The envelope's timestamp is wall time: receivers check freshness against their own
        # clock. The event's CreateTime is the simulated time the change happened.
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        params = {
            "msg_signature": crypto.signature(timestamp, nonce, encrypted),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        )
        with self._lock:
            self.deliveries.append(Delivery(params, body, event))
        if not self.url:
            return
        request = urllib.request.Request(  # noqa: S310 - the configured callback URL (http in tests/demo)
            f"{self.url}?{urllib.parse.urlencode(params)}", data=body.encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_S) as response:  # noqa: S310
                response.read()
        except OSError:
            with self._lock:
                self.failures += 1
