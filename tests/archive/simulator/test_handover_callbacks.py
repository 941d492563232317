"""The simulated WeCom's contact-change callbacks: encrypted and signed like WeCom's
(WXBizMsgCrypt), POSTed over real HTTP when customers are deleted or transfers fail, and
accepted by wecom-audit's own callback endpoint, which stores them as contact events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from api.app import create_app
from archive.simulator.company import build_company
from archive.simulator.handover import HandoverWorld
from archive.wecom.callback_crypto import CallbackCrypto, CallbackRejected, parse_xml_fields
from audit.events.models import ContactEvent
from config.database import session_scope
from config.settings import CallbackSettings
from tests.archive.simulator.handover_edge import START_MS, HandoverEdge, handover_edge
from tests.conftest import Edge, wait_for

TOKEN = "simulatedToken"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
HOUR_S = 3600


class Receiver:
    """A real HTTP endpoint on loopback that keeps what it is POSTed."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                outer.received.append((query, self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"success")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/wecom/callback"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def handover(tmp_path: Path) -> Iterator[HandoverEdge]:
    with handover_edge(tmp_path) as handover:
        yield handover


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_the_handover_world_is_deterministic() -> None:
    first = HandoverWorld.build(build_company(11), START_MS)
    second = HandoverWorld.build(build_company(11), START_MS)
    assert first.departed == second.departed and first.follows == second.follows
    assert first.deletions == second.deletions and first.group_owner == second.group_owner
    assert len(first.departed) == 2 and len(first.deletions) == 4
    assert 30 <= sum(len(first.follows[u]) for u in first.departed) <= 60
    for deletion in first.deletions:  # deleted in the days before the member left
        assert 0 < first.departed[deletion.userid] - deletion.deleted_ms <= 3 * 86_400_000
        assert deletion.external_userid not in first.follows[deletion.userid]


def test_deletions_and_failed_transfers_are_posted_encrypted_and_signed(
    handover: HandoverEdge, receiver: Receiver
) -> None:
    world = handover.world
    crypto = CallbackCrypto(TOKEN, AES_KEY, world.company.corp_id)
    world.callbacks.configure(crypto, receiver.url)
    member = next(iter(world.departed))
    heir = next(e.userid for e in world.company.employees if world.active(e.userid))

    world.send_departure_deletions()
    active = next(u for u, book in world.follows.items() if len(book) > 2 and world.active(u))
    lost, dropped = world.follows[active][:2]
    world.customer_deletes_member(active, lost)
    world.delete_customer(active, dropped)
    customers = [ext for ext in world.follows[member] if ext not in world.too_often]
    handover.run(lambda api: api.transfer_resigned_customers(member, heir, customers))
    handover.clock.advance(3 * HOUR_S)
    handover.run(lambda api: api.resigned_transfer_results(member, heir))  # WeCom settles the refusal

    wait_for(lambda: len(receiver.received) == len(world.callbacks.deliveries) == 7)
    assert world.callbacks.failures == 0
    events = []
    for params, body in receiver.received:
        encrypted = parse_xml_fields(body)["Encrypt"]
        plain = crypto.decrypt_event(params["msg_signature"], params["timestamp"], params["nonce"], encrypted)
        events.append(parse_xml_fields(plain))
    changes = [(e["ChangeType"], e["UserID"], e["ExternalUserID"], e.get("FailReason")) for e in events]
    (refusing,) = world.refusing & set(customers)
    assert changes == [
        *[("del_external_contact", d.userid, d.external_userid, None) for d in world.deletions],
        ("del_follow_user", active, lost, None),
        ("del_external_contact", active, dropped, None),
        ("transfer_fail", heir, refusing, "customer_refused"),
    ]
    assert all(e["Event"] == "change_external_contact" and e["ToUserName"] == world.company.corp_id for e in events)
    first_deletion = world.deletions[0]
    assert int(events[0]["CreateTime"]) * 1000 == first_deletion.deleted_ms, "the time it happened"

    params, body = receiver.received[0]
    tampered = {**params, "nonce": params["nonce"] + "0"}
    with pytest.raises(CallbackRejected):
        crypto.decrypt_event(
            tampered["msg_signature"], tampered["timestamp"], tampered["nonce"], parse_xml_fields(body)["Encrypt"]
        )


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_simulator_callbacks_land_as_contact_events_in_the_audit_api(edge: Edge, tmp_path: Path) -> None:
    edge.settings.callback = CallbackSettings(token=SecretStr(TOKEN), encoding_aes_key=SecretStr(AES_KEY))
    world = HandoverWorld.build(edge.simulator.company, START_MS).install(edge.server)
    world.callbacks.configure(CallbackCrypto(TOKEN, AES_KEY, edge.simulator.corp_id))
    world.send_departure_deletions()
    context = edge.context()
    with TestClient(app=create_app(context)) as client:
        for delivery in world.callbacks.deliveries:
            response = client.post("/wecom/callback", params=delivery.params, content=delivery.body)
            assert response.status_code == 200
    with session_scope(edge.database.sessions) as session:
        stored = {(e.change_type, e.user_id, e.external_user_id) for e in session.scalars(select(ContactEvent))}
        times = {e.external_user_id: e.occurred_at for e in session.scalars(select(ContactEvent))}
    assert stored == {("del_external_contact", d.userid, d.external_userid) for d in world.deletions}
    for deletion in world.deletions:
        assert int(times[deletion.external_userid].timestamp() * 1000) == deletion.deleted_ms
    context.close()


def test_on_job_takeovers_and_limits_send_their_callbacks(handover: HandoverEdge) -> None:
    world = handover.world
    world.callbacks.configure(CallbackCrypto(TOKEN, AES_KEY, world.company.corp_id))
    active = [e.userid for e in world.company.employees if world.active(e.userid)]
    giver, taker = next(u for u in active if len(world.follows.get(u, [])) >= 3), active[-1]
    moved = [ext for ext in world.follows[giver] if ext not in world.follows.get(taker, [])][:3]
    world.customer_limits[taker] = len(world.follows.get(taker, [])) + 2
    handover.run(lambda api: api.transfer_customers(giver, taker, moved))
    handover.clock.advance(25 * HOUR_S)
    handover.run(lambda api: api.transfer_results(giver, taker))

    sent = [d.event for d in world.callbacks.deliveries]
    by_transfer = [(e["ChangeType"], e["UserID"], e.get("Source"), e.get("FailReason")) for e in sent]
    assert sorted(by_transfer, key=str) == sorted(
        [("del_external_contact", giver, "DELETE_BY_TRANSFER", None)] * 2
        + [("transfer_fail", taker, None, "customer_limit_exceed")],
        key=str,
    )
