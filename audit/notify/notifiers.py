"""The ``Notifier`` interface and its three channels.

Each ``send`` either delivers or raises :class:`DeliveryError`; retrying is the caller's
business (see ``audit.notify.service``). Errors name the channel and what went wrong but
never the URL (a WeCom robot URL carries its key) nor any credential.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import httpx

from audit.notify.errors import DeliveryError, UnknownTargetError
from config.settings import NotifySettings

# WeCom rejects robot markdown content above 4096 bytes (UTF-8).
WECOM_MARKDOWN_MAX_BYTES = 4096
SIGNATURE_HEADER = "X-WecomAudit-Signature"
TIMESTAMP_HEADER = "X-WecomAudit-Timestamp"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What a notification says: a subject, a markdown body with masked excerpts only."""

    kind: str
    subject: str
    body: str
    alert_ids: tuple[int, ...]


class Notifier(Protocol):
    """One channel to one destination."""

    def send(self, message: OutgoingMessage) -> None: ...


class WeComRobotNotifier:
    """A WeCom group robot (群机器人) webhook, markdown message type."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self._url = url
        self._timeout_s = timeout_s

    @staticmethod
    def payload(message: OutgoingMessage) -> dict[str, object]:
        content = f"**{message.subject}**\n{message.body}"
        encoded = content.encode()
        if len(encoded) > WECOM_MARKDOWN_MAX_BYTES:
            content = encoded[: WECOM_MARKDOWN_MAX_BYTES - 3].decode(errors="ignore") + "…"
        return {"msgtype": "markdown", "markdown": {"content": content}}

    def send(self, message: OutgoingMessage) -> None:
        response = _post(self._url, json.dumps(self.payload(message), ensure_ascii=False).encode(), {}, self._timeout_s)
        try:
            errcode = int(json.loads(response.content).get("errcode", -1))
        except (ValueError, AttributeError):
            raise DeliveryError("wecom robot: response is not the expected JSON") from None
        if errcode != 0:
            raise DeliveryError(f"wecom robot: errcode {errcode}")


class WebhookNotifier:
    """A generic JSON webhook, signed: ``sha256=HMAC(secret, "<timestamp>." + body)``.

    The receiver recomputes the signature and rejects a timestamp too far from its clock
    (replay protection); see :func:`signature`.
    """

    def __init__(self, url: str, secret: str, *, timeout_s: float = 10.0) -> None:
        self._url = url
        self._secret = secret.encode()
        self._timeout_s = timeout_s

    def send(self, message: OutgoingMessage) -> None:
        timestamp = str(int(time.time()))
        body = json.dumps(
            {
                "kind": message.kind,
                "subject": message.subject,
                "text": message.body,
                "alert_ids": list(message.alert_ids),
            },
            ensure_ascii=False,
        ).encode()
        headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(self._secret, timestamp, body)}
        _post(self._url, body, headers, self._timeout_s)


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class EmailNotifier:
    """E-mail over SMTP, STARTTLS and login when configured."""

    def __init__(self, settings: NotifySettings, recipient: str) -> None:
        if not settings.smtp_host:
            raise UnknownTargetError("e-mail target without an SMTP server: set WECOM_AUDIT_NOTIFY__SMTP_HOST")
        self._settings = settings
        self._recipient = recipient

    def send(self, message: OutgoingMessage) -> None:
        settings = self._settings
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = settings.mail_from
        mail["To"] = self._recipient
        mail.set_content(message.body)
        try:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_s) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_username:
                    smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp: {type(exc).__name__}") from None


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> httpx.Response:
    try:
        response = httpx.post(
            url, content=body, headers={"Content-Type": "application/json", **headers}, timeout=timeout_s
        )
    except httpx.HTTPError as exc:
        raise DeliveryError(f"http: {type(exc).__name__}") from None
    if not response.is_success:
        raise DeliveryError(f"http: status {response.status_code}")
    return response


class NotifierRegistry:
    """Resolves a routing target string to its notifier, from the notify settings."""

    def __init__(self, settings: NotifySettings) -> None:
        self._settings = settings

    def for_target(self, target: str) -> Notifier:
        channel, _, name = target.partition(":")
        settings = self._settings
        if channel == "email" and "@" in name:
            return EmailNotifier(settings, name)
        if channel == "webhook" and name in settings.webhooks:
            hook = settings.webhooks[name]
            return WebhookNotifier(hook.url, hook.secret.get_secret_value(), timeout_s=settings.timeout_s)
        if channel == "wecom" and name in settings.wecom_robots:
            return WeComRobotNotifier(settings.wecom_robots[name].get_secret_value(), timeout_s=settings.timeout_s)
        raise UnknownTargetError(
            f"target {target!r} is not configured: use email:<address>, or add "
            f"WECOM_AUDIT_NOTIFY__WEBHOOKS__<name>__URL / WECOM_AUDIT_NOTIFY__WECOM_ROBOTS__<name>"
        )
