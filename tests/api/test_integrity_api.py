"""The hash chain through the JSON API: verify one corp (the same function as ``wecom-audit
verify``), list and write checkpoints, find tampering; bad input 400, other roles 403."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from api.app import create_app
from archive.integrity.checkpoints import checkpoint_path, read_checkpoint_lines
from archive.integrity.models import ChainLink
from archive.models import Message
from config.database import session_scope
from tests.api.test_admin_routes import signed_in
from tests.api.world import World, build_world
from tests.conftest import Edge

VERIFY = "/api/v1/integrity/verify"
CHECKPOINTS = "/api/v1/integrity/checkpoints"


@pytest.fixture
def world(edge: Edge) -> World:
    return build_world(edge, messages=60, media=False)


def test_a_chain_verifies_is_checkpointed_and_tampering_is_found(world: World) -> None:
    corp_id = world.edge.simulator.corp_id
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "compliance_officer")
        assert client.get(CHECKPOINTS, headers=headers).json() == []
        verified = client.post(VERIFY, headers=headers)
        assert verified.status_code == 200, verified.text
        report = verified.json()
        assert (report["corp_id"], report["ok"], report["broken"]) == (corp_id, True, None)
        assert report["links_checked"] == report["head_position"] > 0
        assert report["checkpoint"]["position"] == report["head_position"]
        # The checkpoint is in the database and in the append-only file.
        listed = client.get(CHECKPOINTS, params={"corp_id": corp_id}, headers=headers).json()
        assert listed == [report["checkpoint"]]
        lines = [line for _, line in read_checkpoint_lines(checkpoint_path(world.context.settings, corp_id))]
        assert [line.id for line in lines if line] == [listed[0]["id"]]
        # Nothing new since: verifying again checks the checkpoint and writes none.
        again = client.post(VERIFY, json={"corp_id": corp_id}, headers=headers).json()
        assert (again["ok"], again["checkpoint"], again["checkpoints_checked"]) == (True, None, 2)
        written = client.post(CHECKPOINTS, json={}, headers=headers)
        assert written.status_code == 201 and written.json() == [{"corp_id": corp_id, "checkpoint": None}]

        with session_scope(world.context.session_factory) as session:
            session.execute(update(Message).where(Message.id == world.in_message).values(text="rewritten"))
        broken = client.post(VERIFY, json={"corp_id": corp_id}, headers=headers).json()
        assert broken["ok"] is False and broken["checkpoint"] is None
        assert broken["broken"]["check"] == "record_hash_mismatch" and broken["broken"]["position"] >= 1
        assert "rewritten" not in str(broken)  # positions, msgids and seqs; never content

        # Bounded runs check only their links (and write no checkpoint).
        with session_scope(world.context.session_factory) as session:
            position = session.execute(
                select(ChainLink.position).where(ChainLink.message_id == world.in_message)
            ).scalar_one()
        assert broken["broken"]["position"] == position
        head = report["head_position"]
        found = client.post(VERIFY, json={"from_position": position, "to_position": position}, headers=headers).json()
        assert (found["ok"], found["broken"]["position"], found["links_checked"]) == (False, position, 0)
        if position < head:
            after = client.post(VERIFY, json={"from_position": position + 1}, headers=headers).json()
            assert (after["ok"], after["links_checked"], after["to_position"]) == (True, head - position, head)
            assert after["checkpoint"] is None
        if position > 1:
            before = client.post(VERIFY, json={"to_position": position - 1}, headers=headers).json()
            assert (before["ok"], before["links_checked"], before["from_position"]) == (True, position - 1, 1)
        beyond = client.post(VERIFY, json={"from_position": head + 5}, headers=headers).json()
        assert (beyond["ok"], beyond["links_checked"]) == (True, 0)
        assert client.post(VERIFY, json={"from_position": 5, "to_position": 4}, headers=headers).status_code == 400
        assert client.post(VERIFY, json={"from_position": 0}, headers=headers).status_code == 400

        for bad in ({"corp_id": "../../etc"}, {"corp_id": ""}, {"corp": corp_id}, ["x"]):
            assert client.post(VERIFY, json=bad, headers=headers).status_code == 400, bad
            assert client.post(CHECKPOINTS, json=bad, headers=headers).status_code == 400, bad
        assert client.get(CHECKPOINTS, params={"corp_id": "a/b"}, headers=headers).status_code == 400


def test_checkpoints_are_written_for_every_chain_by_an_admin(world: World) -> None:
    corp_id = world.edge.simulator.corp_id
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "admin")
        written = client.post(CHECKPOINTS, headers=headers)
        assert written.status_code == 201, written.text
        (entry,) = written.json()
        assert entry["corp_id"] == corp_id and entry["checkpoint"]["position"] > 0
        assert [c["id"] for c in client.get(CHECKPOINTS, headers=headers).json()] == [entry["checkpoint"]["id"]]


@pytest.mark.parametrize("user", ["reviewer", "auditor", "manager"])
def test_other_roles_may_not_verify_or_checkpoint(world: World, user: str) -> None:
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, user)
        assert client.post(VERIFY, json={}, headers=headers).status_code == 403
        assert client.get(CHECKPOINTS, headers=headers).status_code == 403
        assert client.post(CHECKPOINTS, json={}, headers=headers).status_code == 403
    with TestClient(app=create_app(world.context)) as anonymous:
        assert anonymous.post(VERIFY, json={}).status_code == 401
