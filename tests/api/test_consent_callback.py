"""Callbacks for the consent ledger and WeCom's JSON mode: a signed ``msg_audit_approved``
(from the simulated company, XML or JSON) lands in the ledger; JSON envelopes and plaintexts
are verified like XML ones, and malformed JSON gets a 4xx with nothing acted on."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from api.app import create_app
from archive.consent import service
from archive.consent.models import ConsentEvent
from archive.simulator.consent import ConsentWorld
from archive.wecom.callback_crypto import CallbackCrypto, CallbackRejected, parse_callback_fields
from config.database import session_scope
from config.settings import CallbackSettings
from tests.api.test_callback import POST_ENCRYPT, POST_VECTOR, RECEIVE_ID, vector_app
from tests.conftest import Edge

TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


def test_json_fields_read_like_xml_fields() -> None:
    xml = parse_callback_fields(
        "<xml><ToUserName><![CDATA[ww1]]></ToUserName><CreateTime>1403610513</CreateTime>"
        "<Event><![CDATA[change_external_contact]]></Event></xml>"
    )
    as_json = parse_callback_fields(
        '\ufeff {"ToUserName": "ww1", "CreateTime": 1403610513, "Event": "change_external_contact"}'
    )
    assert xml == as_json == {"ToUserName": "ww1", "CreateTime": "1403610513", "Event": "change_external_contact"}


@pytest.mark.parametrize(
    "document",
    [
        "{",
        "[]",
        '"Encrypt"',
        '{"Encrypt": "a", "Encrypt": "b"}',
        "[" * 5000 + "]" * 5000,
        '{"Encrypt": "' + "A" * 70_000 + '"}',
        b'{"Encrypt": "\xff\xfe"}',
    ],
)
def test_malformed_json_is_rejected(document: str | bytes) -> None:
    with pytest.raises(CallbackRejected) as error:
        parse_callback_fields(document, "application/json")
    assert error.value.reason in ("bad_json", "too_large")


def test_a_json_content_type_with_an_xml_body_is_rejected() -> None:
    with pytest.raises(CallbackRejected, match="bad_json"):
        parse_callback_fields("<xml><Encrypt>x</Encrypt></xml>", "application/json; charset=utf-8")


def test_the_official_vector_in_a_json_envelope(tmp_path: Path) -> None:
    body = json.dumps({"ToUserName": RECEIVE_ID, "Encrypt": POST_ENCRYPT, "AgentID": 218})
    with vector_app(tmp_path) as client:
        response = client.post(
            "/wecom/callback", params=POST_VECTOR, content=body, headers={"Content-Type": "application/json"}
        )
        assert (response.status_code, response.text) == (200, "success")
        # The same envelope without a content type: told apart by its first character.
        replay = {**POST_VECTOR, "nonce": "other"}
        unsigned = client.post("/wecom/callback", params=replay, content=body)
        assert unsigned.status_code == 400  # the nonce is part of the signature: refused, not parsed wrongly


class Wecom:
    """Signs and posts events like WeCom, in XML or JSON mode."""

    def __init__(self, client: TestClient[Any], corp_id: str) -> None:
        self.client = client
        self.corp_id = corp_id
        self.crypto = CallbackCrypto(TOKEN, AES_KEY, corp_id)

    def post(self, plaintext: str, *, mode: str, envelope: str | None = None) -> int:
        encrypted = self.crypto.encrypt(plaintext)
        stamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        params = {"msg_signature": self.crypto.signature(stamp, nonce, encrypted), "timestamp": stamp, "nonce": nonce}
        if envelope is None:
            if mode == "json":
                envelope = json.dumps({"ToUserName": self.corp_id, "Encrypt": encrypted, "AgentID": 1000002})
            else:
                envelope = (
                    f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
                )
        headers = {"Content-Type": "application/json" if mode == "json" else "text/xml"}
        return self.client.post("/wecom/callback", params=params, content=envelope, headers=headers).status_code


def consent_events(edge: Edge) -> list[tuple[str, str, str, str, datetime]]:
    with session_scope(edge.database.sessions) as session:
        return [
            (e.party, e.external_userid, e.status, e.source, e.changed_at)
            for e in session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))
        ]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_signed_msg_audit_approved_from_the_simulator_lands_in_the_ledger(edge: Edge) -> None:
    edge.settings.callback = CallbackSettings(token=SecretStr(TOKEN), encoding_aes_key=SecretStr(AES_KEY))
    world = ConsentWorld(edge.simulator).install(edge.server)
    world.callbacks.configure(CallbackCrypto(TOKEN, AES_KEY, edge.simulator.corp_id))
    member, customer = world.story_pair()
    agreed_ms = 1_765_000_000_000
    world.change(member, customer, "Agree", agreed_ms)
    (delivery,) = world.callbacks.deliveries
    assert delivery.event["ChangeType"] == "msg_audit_approved"
    context = edge.context()
    with TestClient(app=create_app(context)) as client:
        response = client.post("/wecom/callback", params=delivery.params, content=delivery.body)
        assert response.status_code == 200
    assert consent_events(edge) == [
        (member, customer, "Agree", "callback", datetime.fromtimestamp(agreed_ms // 1000, UTC))
    ]
    with session_scope(edge.database.sessions) as session:
        (record,) = service.ledger(session, edge.simulator.corp_id, external_userid=customer)
    assert record.state is service.Agreement.AGREED
    context.close()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_json_mode_callbacks_are_verified_like_xml_and_bad_ones_change_nothing(edge: Edge) -> None:
    edge.settings.callback = CallbackSettings(token=SecretStr(TOKEN), encoding_aes_key=SecretStr(AES_KEY))
    corp_id = edge.simulator.corp_id
    event = {
        "ToUserName": corp_id,
        "FromUserName": "sys",
        "CreateTime": 1765000000,
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": "msg_audit_approved",
        "UserID": "zhangsan",
        "ExternalUserID": "wmJSONCUSTOMER01",
    }
    context = edge.context()
    with TestClient(app=create_app(context)) as client:
        wecom = Wecom(client, corp_id)
        # Refused: broken JSON envelopes, a JSON envelope of a broken JSON event, a wrong signature.
        assert wecom.post(json.dumps(event), mode="json", envelope='{"Encrypt": ') == 400
        assert wecom.post(json.dumps(event), mode="json", envelope='{"Encrypt": "x", "Encrypt": "y"}') == 400
        assert wecom.post(json.dumps(event), mode="json", envelope='{"ToUserName": "x"}') == 400
        assert wecom.post('{"Event": "change_external_contact", "ChangeType": ', mode="json") == 400
        assert wecom.post('[{"Event": "change_external_contact"}]', mode="json") == 400
        forged = CallbackCrypto("another-token", AES_KEY, corp_id).encrypt(json.dumps(event))
        assert (
            client.post(
                "/wecom/callback",
                params={"msg_signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "n"},
                content=json.dumps({"Encrypt": forged}),
                headers={"Content-Type": "application/json"},
            ).status_code
            == 400
        )
        time.sleep(0.2)
        assert consent_events(edge) == []

        # Accepted: JSON envelope + JSON event, and XML envelope + JSON event (each its own mode).
        assert wecom.post(json.dumps(event), mode="json") == 200
        assert wecom.post(json.dumps({**event, "UserID": "lisi"}), mode="xml") == 200
        assert wecom.post(json.dumps(event), mode="json") == 200  # WeCom's retry: stored once
    assert consent_events(edge) == [
        ("zhangsan", "wmJSONCUSTOMER01", "Agree", "callback", datetime.fromtimestamp(1765000000, UTC)),
        ("lisi", "wmJSONCUSTOMER01", "Agree", "callback", datetime.fromtimestamp(1765000000, UTC)),
    ]
    with session_scope(edge.database.sessions) as session:
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 2
    context.close()
