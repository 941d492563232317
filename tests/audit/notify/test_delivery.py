"""Notifications reach real receivers: a signed webhook, a WeCom robot endpoint and an
SMTP server on loopback; a receiver that is down gets the notification on a later attempt."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from audit.alerts.routing import REVIEWER, RouteSpec, add_route
from audit.detect.hits import Severity
from audit.notify.models import Notification
from audit.notify.notifiers import SIGNATURE_HEADER, TIMESTAMP_HEADER, OutgoingMessage, WeComRobotNotifier
from audit.notify.service import deliver_due
from config.logs import configure_logging
from config.settings import NotifySettings, WebhookTarget
from tests.audit.alerts.helpers import CORP, T0, alert, conversation, minutes
from tests.audit.notify.receivers import HttpReceiver, SmtpReceiver
from tests.conftest import Database, _free_port

SECRET = "s3cret-hmac-key"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver(_free_port()).start()
    yield server
    server.stop()


def _settings(**overrides: object) -> NotifySettings:
    return NotifySettings.model_validate({"backoff_base_s": 30, "timeout_s": 2, **overrides})


def test_signed_webhook_is_delivered_and_verifiable(database: Database, receiver: HttpReceiver) -> None:
    settings = _settings(webhooks={"soc": WebhookTarget(url=receiver.url, secret=SecretStr(SECRET))})
    with database.sessions.begin() as session:
        add_route(session, CORP, RouteSpec("soc", REVIEWER, ["webhook:soc"]), T0)
        raised = alert(session, conversation(session, "pair:a|wmcust"))
        report = deliver_due(session, settings, T0)
        assert report.delivered == 1
        receipt = session.scalars(select(Notification)).one()
        assert (receipt.status, receipt.attempts, receipt.delivered_at) == ("delivered", 1, T0)

    [request] = receiver.received
    expected = hmac.new(
        SECRET.encode(), request.headers[TIMESTAMP_HEADER].encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(request.headers[SIGNATURE_HEADER], "sha256=" + expected)
    payload = request.json()
    assert payload["alert_ids"] == [raised.id]
    assert "off_platform_contact" in payload["subject"]
    assert "加*****" in payload["text"] and "加微信" not in payload["text"]  # masked excerpt only


def test_a_receiver_that_was_down_gets_it_on_the_next_attempt(database: Database) -> None:
    port = _free_port()  # nothing listens here yet
    settings = _settings(webhooks={"soc": WebhookTarget(url=f"http://127.0.0.1:{port}/hook", secret=SecretStr(SECRET))})
    with database.sessions.begin() as session:
        add_route(session, CORP, RouteSpec("soc", REVIEWER, ["webhook:soc"]), T0)
        alert(session, conversation(session, "pair:a|wmcust"))
        first = deliver_due(session, settings, T0)
        receipt = session.scalars(select(Notification)).one()
        assert (first.delivered, first.retried) == (0, 1)
        assert (receipt.status, receipt.attempts) == ("pending", 1)
        assert receipt.last_error == "http: ConnectError"
        assert receipt.next_attempt_at == T0 + timedelta(seconds=30)
        assert deliver_due(session, settings, T0 + timedelta(seconds=10)).delivered == 0  # backing off

    server = HttpReceiver(port).start()
    try:
        with database.sessions.begin() as session:
            assert deliver_due(session, settings, T0 + timedelta(seconds=31)).delivered == 1
            receipt = session.scalars(select(Notification)).one()
            assert (receipt.status, receipt.attempts, receipt.last_error) == ("delivered", 2, None)
    finally:
        server.stop()
    assert len(server.received) == 1


def test_gives_up_after_the_maximum_attempts(database: Database) -> None:
    settings = _settings(
        max_attempts=2,
        webhooks={"soc": WebhookTarget(url=f"http://127.0.0.1:{_free_port()}/x", secret=SecretStr(SECRET))},
    )
    with database.sessions.begin() as session:
        add_route(session, CORP, RouteSpec("soc", REVIEWER, ["webhook:soc"]), T0)
        alert(session, conversation(session, "pair:a|wmcust"))
        deliver_due(session, settings, T0)
        assert deliver_due(session, settings, T0 + minutes(5)).failed == 1
        receipt = session.scalars(select(Notification)).one()
        assert (receipt.status, receipt.attempts) == ("failed", 2)


def test_wecom_robot_gets_its_markdown_message(database: Database, receiver: HttpReceiver) -> None:
    robot_url = receiver.url + "?key=robot-key-secret"
    settings = _settings(wecom_robots={"desk": SecretStr(robot_url)})
    with database.sessions.begin() as session:
        add_route(session, CORP, RouteSpec("desk", REVIEWER, ["wecom:desk"]), T0)
        raised = alert(session, conversation(session, "pair:a|wmcust"))
        assert deliver_due(session, settings, T0).delivered == 1
    [request] = receiver.received
    payload = request.json()
    assert set(payload) == {"msgtype", "markdown"}
    assert payload["msgtype"] == "markdown"
    assert set(payload["markdown"]) == {"content"}
    assert payload["markdown"]["content"].startswith(f"**[MEDIUM] off_platform_contact · alert #{raised.id}**\n")


def test_wecom_robot_errcode_is_a_failed_attempt_without_the_key(database: Database, receiver: HttpReceiver) -> None:
    receiver.reply = {"errcode": 93000, "errmsg": "invalid webhook url"}
    settings = _settings(wecom_robots={"desk": SecretStr(receiver.url + "?key=robot-key-secret")})
    with database.sessions.begin() as session:
        add_route(session, CORP, RouteSpec("desk", REVIEWER, ["wecom:desk"]), T0)
        alert(session, conversation(session, "pair:a|wmcust"))
        deliver_due(session, settings, T0)
        receipt = session.scalars(select(Notification)).one()
        assert receipt.last_error == "wecom robot: errcode 93000"
        assert "robot-key-secret" not in repr(settings)


def test_robot_markdown_is_cut_to_wecoms_limit() -> None:
    message = OutgoingMessage("alert", "主题", "很长的内容" * 2000, (1,))
    content = WeComRobotNotifier.payload(message)["markdown"]
    assert isinstance(content, dict)
    assert len(str(content["content"]).encode()) <= 4096


def test_email_reaches_a_real_smtp_server(database: Database) -> None:
    smtp = SmtpReceiver(_free_port()).start()
    try:
        settings = _settings(smtp_host="127.0.0.1", smtp_port=smtp.port, mail_from="audit@example.com")
        with database.sessions.begin() as session:
            add_route(session, CORP, RouteSpec("mail", REVIEWER, ["email:officer@example.com"]), T0)
            raised = alert(session, conversation(session, "pair:a|wmcust"), severity=Severity.HIGH)
            assert deliver_due(session, settings, T0).delivered == 1
    finally:
        smtp.stop()
    [mail] = smtp.messages
    assert mail["To"] == "officer@example.com" and mail["From"] == "audit@example.com"
    assert mail["Subject"] == f"[HIGH] off_platform_contact · alert #{raised.id}"
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes) and "加*****" in payload.decode()
    assert "加微信" not in mail.as_string()


def test_a_flood_to_one_target_becomes_one_digest(database: Database, receiver: HttpReceiver) -> None:
    settings = _settings(
        digest_threshold=3,
        digest_window_minutes=10,
        webhooks={"soc": WebhookTarget(url=receiver.url, secret=SecretStr(SECRET))},
    )
    with database.sessions.begin() as session:
        add_route(session, CORP, RouteSpec("soc", REVIEWER, ["webhook:soc"]), T0)
        chat = conversation(session, "pair:a|wmcust")
        for n in range(8):
            alert(session, chat, rule=f"rule{n}")
        report = deliver_due(session, settings, T0)
        assert (report.delivered, report.held, report.digests) == (4, 5, 1)  # 3 alerts + 1 digest of 5
        for n in range(8, 12):  # more within the window: held until the next window
            alert(session, chat, rule=f"rule{n}")
        later = deliver_due(session, settings, T0 + minutes(5))
        assert (later.delivered, later.held, later.digests) == (0, 4, 0)
        final = deliver_due(session, settings, T0 + minutes(11))
        assert (final.delivered, final.digests) == (1, 1)
        statuses = sorted(n.status for n in session.scalars(select(Notification)))
        assert statuses.count("digested") == 9 and statuses.count("delivered") == 5
    kinds = [json.loads(r.body)["kind"] for r in receiver.received]
    assert kinds == ["alert", "alert", "alert", "digest", "digest"]
    assert json.loads(receiver.received[3].body)["subject"] == "5 alerts (digest)"


def test_nothing_secret_or_chat_text_is_logged(
    database: Database, receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    # Our own stream: an earlier test may have configured logging at another level or stream.
    stream = io.StringIO()
    configure_logging("DEBUG", json_output=True, stream=stream)
    settings = _settings(
        max_attempts=1,
        wecom_robots={"desk": SecretStr(f"http://127.0.0.1:{_free_port()}/?key=robot-key-secret")},
        webhooks={"soc": WebhookTarget(url=receiver.url, secret=SecretStr(SECRET))},
    )
    with caplog.at_level(logging.DEBUG), database.sessions.begin() as session:
        add_route(session, CORP, RouteSpec("all", REVIEWER, ["wecom:desk", "webhook:soc"]), T0)
        alert(session, conversation(session, "pair:a|wmcust"), normalised="加微信")
        deliver_due(session, settings, T0)
    output = caplog.text + stream.getvalue()
    assert "audit.notify" in output
    for secret in ("robot-key-secret", SECRET, "加微信"):
        assert secret not in output
