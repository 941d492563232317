"""WeCom's callback: the official WXBizMsgCrypt vectors, and over HTTP — verification,
deliveries that pull at once or store contact events, and every kind of bad request
refused with a 4xx while nothing else happens."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from api.app import create_app
from api.routes.callback import pull_in_background
from archive.models import Message, PullRun
from archive.wecom.callback_crypto import CallbackCrypto, CallbackRejected, ReplayGuard
from audit.events.models import ContactEvent
from config.database import session_scope
from config.settings import CallbackSettings, CorpSettings, Settings
from tests.conftest import Edge, wait_for

# Spec §7.5, set A (Tencent's sample).
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
RECEIVE_ID = "wx5823bf96d3bd56c7"
GET_VECTOR = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
}
POST_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3T"
    "UUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff"
    "0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVM"
    "NS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2p"
    "DBS8R07+qN+E7Q=="
)
POST_VECTOR = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
}
POST_PLAINTEXT = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    "<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n"
    "<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>"
)
TEN_YEARS_S = 20 * 365 * 86_400


def envelope(encrypted: str) -> str:
    return f"<xml><ToUserName><![CDATA[{RECEIVE_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"


# --- the crypto, on the official vectors ------------------------------------------------------


def test_official_url_verification_vector() -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, RECEIVE_ID)
    assert crypto.verify_url(**GET_VECTOR) == "1616140317555161061"


def test_official_delivery_vector_with_a_pad_longer_than_an_aes_block() -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, RECEIVE_ID)
    assert crypto.decrypt_event(**POST_VECTOR, encrypted=POST_ENCRYPT) == POST_PLAINTEXT


def test_encrypt_round_trips_like_wecom() -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, RECEIVE_ID)
    assert crypto.encrypt("1616140317555161061", random_prefix=b"c41b64491c2468d0") == GET_VECTOR["echostr"]
    assert crypto.decrypt(crypto.encrypt("你好 <xml/>")) == "你好 <xml/>"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4"}, "bad_signature"),
        ({"nonce": "263014781"}, "bad_signature"),
        ({"echostr": GET_VECTOR["echostr"][:-4]}, "bad_signature"),
    ],
)
def test_tampered_vectors_are_rejected(change: dict[str, str], reason: str) -> None:
    with pytest.raises(CallbackRejected) as error:
        CallbackCrypto(TOKEN, AES_KEY, RECEIVE_ID).verify_url(**{**GET_VECTOR, **change})
    assert error.value.reason == reason


def test_a_message_for_another_corp_is_rejected() -> None:
    with pytest.raises(CallbackRejected) as error:
        CallbackCrypto(TOKEN, AES_KEY, "wwsomeoneelse").verify_url(**GET_VECTOR)
    assert error.value.reason == "wrong_receive_id"


def test_replay_guard_refuses_stale_and_repeated_requests() -> None:
    guard = ReplayGuard(window_s=300)
    guard.check("1000", "n1", now_s=1000.0)
    with pytest.raises(CallbackRejected, match="replayed_nonce"):
        guard.check("1000", "n1", now_s=1001.0)
    with pytest.raises(CallbackRejected, match="stale_timestamp"):
        guard.check("600", "n2", now_s=1000.0)
    with pytest.raises(CallbackRejected, match="bad_timestamp"):
        guard.check("soon", "n3", now_s=1000.0)


# --- over HTTP ------------------------------------------------------------------------------


def vector_app(tmp_path: Path, window_s: int = TEN_YEARS_S) -> TestClient[Any]:
    from api.context import AppContext

    settings = Settings(
        data_dir=tmp_path,
        wecom=CorpSettings(corp_id=RECEIVE_ID),
        callback=CallbackSettings(
            token=SecretStr(TOKEN), encoding_aes_key=SecretStr(AES_KEY), replay_window_s=window_s
        ),
    )
    return TestClient(app=create_app(AppContext(settings)))


def test_url_verification_answers_the_plaintext_only(tmp_path: Path) -> None:
    with vector_app(tmp_path) as client:
        response = client.get("/wecom/callback", params=GET_VECTOR)
        assert response.status_code == 200
        assert response.content == b"1616140317555161061"
        replayed = client.get("/wecom/callback", params=GET_VECTOR)
        assert replayed.status_code == 400
        assert replayed.headers["content-type"].startswith("application/problem+json")


def test_official_delivery_over_http(tmp_path: Path) -> None:
    with vector_app(tmp_path) as client:
        response = client.post("/wecom/callback", params=POST_VECTOR, content=envelope(POST_ENCRYPT))
        assert (response.status_code, response.text) == (200, "success")


def test_stale_timestamps_are_refused(tmp_path: Path) -> None:
    with vector_app(tmp_path, window_s=300) as client:
        assert client.get("/wecom/callback", params=GET_VECTOR).status_code == 400  # the vector is from 2014


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"<xml><Encrypt></Encrypt></xml>",
        b"<xml><Other>1</Other></xml>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<xml><Encrypt>&b;</Encrypt></xml>",
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>',
        b"<xml><Encrypt>" + b"A" * 70_000 + b"</Encrypt></xml>",
        b"<xml><Encrypt>%%%%</Encrypt></xml>",
    ],
)
def test_garbage_bodies_are_refused(tmp_path: Path, body: bytes) -> None:
    with vector_app(tmp_path) as client:
        response = client.post("/wecom/callback", params=POST_VECTOR, content=body)
        assert 400 <= response.status_code < 500, response.status_code


def test_bad_signature_and_missing_parameters_are_refused(tmp_path: Path) -> None:
    with vector_app(tmp_path) as client:
        bad = {**POST_VECTOR, "msg_signature": "0" * 40}
        assert client.post("/wecom/callback", params=bad, content=envelope(POST_ENCRYPT)).status_code == 400
        assert client.post("/wecom/callback", content=envelope(POST_ENCRYPT)).status_code == 400
        assert client.get("/wecom/callback").status_code == 400


@pytest.mark.parametrize("timestamp", ["9" * 400, "1" * 13, "+1409659813", " 1409659813", "١٤٠٩٦٥٩٨١٣"])
def test_a_validly_signed_callback_with_an_absurd_timestamp_is_refused(tmp_path: Path, timestamp: str) -> None:
    # Signed with the real token, so the request gets past the signature to the freshness
    # check: 400 digits used to overflow there (a 500).
    crypto = CallbackCrypto(TOKEN, AES_KEY, RECEIVE_ID)
    encrypted = crypto.encrypt("<xml><Event>msgaudit_notify</Event></xml>")
    params = {"msg_signature": crypto.signature(timestamp, "n1", encrypted), "timestamp": timestamp, "nonce": "n1"}
    with vector_app(tmp_path) as client:
        response = client.post("/wecom/callback", params=params, content=envelope(encrypted))
        echo = {**params, "msg_signature": crypto.signature(timestamp, "n1", encrypted), "echostr": encrypted}
        verification = client.get("/wecom/callback", params=echo)
    for answer in (response, verification):
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_an_unconfigured_callback_says_what_to_set(tmp_path: Path) -> None:
    from api.context import AppContext

    with TestClient(app=create_app(AppContext(Settings(data_dir=tmp_path)))) as client:
        response = client.get("/wecom/callback", params=GET_VECTOR)
    assert response.status_code == 503
    assert "WECOM_AUDIT_CALLBACK__TOKEN" in response.json()["detail"]


# --- real deliveries against the simulated company -----------------------------------------------


class Deliverer:
    def __init__(self, client: TestClient[Any], corp_id: str) -> None:
        self.client = client
        self.crypto = CallbackCrypto(TOKEN, AES_KEY, corp_id)
        self.corp_id = corp_id

    def post(self, event_xml: str, *, signature: str | None = None, timestamp: int | None = None) -> int:
        encrypted = self.crypto.encrypt(event_xml)
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = uuid.uuid4().hex[:10]
        params = {
            "msg_signature": signature or self.crypto.signature(stamp, nonce, encrypted),
            "timestamp": stamp,
            "nonce": nonce,
        }
        return self.client.post("/wecom/callback", params=params, content=envelope(encrypted)).status_code

    def event(self, name: str, **fields: str) -> str:
        extra = "".join(f"<{key}><![CDATA[{value}]]></{key}>" for key, value in fields.items())
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{name}]]></Event>{extra}</xml>"
        )


def _counts(edge: Edge) -> tuple[int, int, int]:
    with session_scope(edge.database.sessions) as session:
        return (
            session.scalar(select(func.count()).select_from(PullRun)) or 0,
            session.scalar(select(func.count()).select_from(Message)) or 0,
            session.scalar(select(func.count()).select_from(ContactEvent)) or 0,
        )


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_msgaudit_notify_pulls_at_once_debounced_and_bad_requests_change_nothing(edge: Edge) -> None:
    edge.settings.callback = CallbackSettings(
        token=SecretStr(TOKEN), encoding_aes_key=SecretStr(AES_KEY), debounce_s=3600
    )
    edge.simulator.populate(120, messages_per_day=20_000)
    edge.register_keys()
    context = edge.context()
    with TestClient(app=create_app(context, trigger_pull=pull_in_background(context))) as client:
        wecom = Deliverer(client, edge.simulator.corp_id)
        notify = wecom.event("msgaudit_notify")
        # Forged, stale and garbage deliveries: 4xx, and no pull, no message, no event.
        assert wecom.post(notify, signature="f" * 40) == 400
        assert wecom.post(notify, timestamp=int(time.time()) - 3600) == 400
        assert (
            client.post(
                "/wecom/callback", params={"msg_signature": "x", "timestamp": "1", "nonce": "1"}, content=b"\x00\xff"
            ).status_code
            == 400
        )
        time.sleep(0.5)  # give a (wrongly) started background pull the chance to show up
        assert _counts(edge) == (0, 0, 0)

        assert wecom.post(notify) == 200
        wait_for(lambda: _counts(edge)[1] == 120, timeout_s=60)
        assert wecom.post(notify) == 200  # within the debounce window: no second pull
        time.sleep(0.5)
        assert _counts(edge)[0] == 1
    context.close()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_contact_change_events_are_stored_for_the_detectors(edge: Edge) -> None:
    edge.settings.callback = CallbackSettings(token=SecretStr(TOKEN), encoding_aes_key=SecretStr(AES_KEY))
    context = edge.context()
    with TestClient(app=create_app(context)) as client:
        wecom = Deliverer(client, edge.simulator.corp_id)
        for change, extra in [
            ("del_follow_user", {}),
            ("del_external_contact", {"Source": "DELETE_BY_TRANSFER"}),
            ("transfer_fail", {"FailReason": "customer_refused"}),
            ("add_external_contact", {}),  # not a loss signal: acknowledged, not stored
        ]:
            event = wecom.event(
                "change_external_contact", ChangeType=change, UserID="zhangsan", ExternalUserID="wmEXTERNAL01", **extra
            )
            assert wecom.post(event) == 200
    with session_scope(edge.database.sessions) as session:
        stored = {
            (e.change_type, e.user_id, e.external_user_id, e.fail_reason) for e in session.scalars(select(ContactEvent))
        }
    assert stored == {
        ("del_follow_user", "zhangsan", "wmEXTERNAL01", None),
        ("del_external_contact", "zhangsan", "wmEXTERNAL01", None),
        ("transfer_fail", "zhangsan", "wmEXTERNAL01", "customer_refused"),
    }
    context.close()
