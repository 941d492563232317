"""Exporting chat content: a ZIP of messages.jsonl and manifest.json holding exactly the
messages the caller may see, with a manifest that proves the file, and one access-log row
that says who exported what and why."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from api.app import create_app
from archive.integrity.export import export as integrity_export
from archive.integrity.repository import read_head
from archive.models import Message
from audit.accesslog.models import AccessLogEntry
from config.database import session_scope
from tests.api.world import PASSWORD, PURPOSE, World, build_world
from tests.conftest import Edge


@pytest.fixture
def world(edge: Edge) -> World:
    return build_world(edge, media=False)


def signed_in(client: TestClient[Any], username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"], "X-Access-Purpose": PURPOSE}


def unpack(body: bytes) -> tuple[bytes, dict[str, Any], list[dict[str, Any]]]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert sorted(archive.namelist()) == ["manifest.json", "messages.jsonl"]
        lines = archive.read("messages.jsonl")
        manifest = json.loads(archive.read("manifest.json"))
    return lines, manifest, [json.loads(line) for line in lines.splitlines()]


def msgids_of(world: World, conversation_ids: set[int]) -> list[str]:
    with session_scope(world.context.session_factory) as session:
        return list(
            session.execute(
                select(Message.msgid)
                .where(Message.conversation_id.in_(conversation_ids))
                .order_by(Message.msgtime, Message.id)
            ).scalars()
        )


def exports_logged(world: World) -> list[AccessLogEntry]:
    with session_scope(world.context.session_factory) as session:
        return list(
            session.execute(
                select(AccessLogEntry)
                .where(AccessLogEntry.action == "content.export")
                .order_by(AccessLogEntry.position)
            ).scalars()
        )


def test_a_conversation_export_is_the_conversation_with_a_manifest_that_proves_it(world: World) -> None:
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "reviewer")
        response = client.post("/api/v1/exports", json={"conversation_id": world.in_conversation}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        assert response.headers["content-disposition"].startswith("attachment;")
        refused = client.post("/api/v1/exports", json={"conversation_id": world.out_conversation}, headers=headers)
        assert refused.status_code == 403

    lines, manifest, rows = unpack(response.content)
    assert [row["msgid"] for row in rows] == msgids_of(world, {world.in_conversation})
    assert all(
        set(row)
        == {
            "msgid",
            "corp_id",
            "conversation_id",
            "time",
            "sender",
            "recipients",
            "type",
            "text",
            "media_sha256",
            # Display names (issue 14); the staff are in the synced directory.
            "sender_name",
            "sender_synced",
            "recipient_names",
        }
        for row in rows
    )
    assert any(row["sender_synced"] and row["sender_name"] != row["sender"] for row in rows)
    assert all(len(row["recipient_names"]) == len(row["recipients"]) for row in rows)
    assert manifest["sha256"] == hashlib.sha256(lines).hexdigest()
    assert manifest["count"] == len(rows) > 0
    assert (manifest["exported_by"], manifest["purpose"], manifest["conversation_id"]) == (
        "reviewer",
        PURPOSE,
        world.in_conversation,
    )
    corp_id = world.edge.simulator.corp_id
    with session_scope(world.context.session_factory) as session:
        head = read_head(session, corp_id)
    assert manifest["chain_heads"] == [{"corp_id": corp_id, "position": head.position, "head_hash": head.head_hash}]

    logged = exports_logged(world)
    assert [(row.actor, row.purpose, row.outcome) for row in logged] == [
        ("reviewer", PURPOSE, "allowed"),
        ("reviewer", PURPOSE, "denied"),
    ]
    assert logged[0].result_count == len(rows)
    assert logged[0].target["sha256"] == manifest["sha256"]
    assert len(logged[0].target["message_ids"]) == len(rows)
    assert logged[1].target["conversation_id"] == world.out_conversation


def busiest_conversation(world: World) -> int:
    with session_scope(world.context.session_factory) as session:
        busiest: int | None = session.execute(
            select(Message.conversation_id)
            .where(Message.conversation_id.is_not(None))
            .group_by(Message.conversation_id)
            .order_by(func.count().desc(), Message.conversation_id)
            .limit(1)
        ).scalar_one()
    assert busiest is not None
    return busiest


def test_a_time_range_narrows_a_conversation_export(world: World) -> None:
    # The officer sees every conversation; the busiest one has messages on both sides of the
    # cut whatever the simulated company said this run.
    conversation_id = busiest_conversation(world)
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "compliance_officer")
        whole = unpack(
            client.post("/api/v1/exports", json={"conversation_id": conversation_id}, headers=headers).content
        )[2]
        assert len(whole) >= 2, "the simulated company held no conversation of two messages or more"
        since = whole[1]["time"]
        narrowed = client.post(
            "/api/v1/exports", json={"conversation_id": conversation_id, "since": since}, headers=headers
        )
        too_small = client.post(
            "/api/v1/exports", json={"conversation_id": conversation_id, "max_messages": 1}, headers=headers
        )
    assert [row["msgid"] for row in unpack(narrowed.content)[2]] == [
        row["msgid"] for row in whole if row["time"] >= since
    ]
    assert too_small.status_code == 400  # refused, never cut short
    assert "max_messages" in too_small.json()["hint"]


def test_a_query_export_holds_only_messages_in_scope(world: World) -> None:
    with TestClient(app=create_app(world.context)) as client:
        reviewer = unpack(
            client.post("/api/v1/exports", json={"query": ""}, headers=signed_in(client, "reviewer")).content
        )
    with TestClient(app=create_app(world.context)) as client:
        officer = unpack(
            client.post("/api/v1/exports", json={"query": ""}, headers=signed_in(client, "compliance_officer")).content
        )
    reviewer_ids = {row["msgid"] for row in reviewer[2]}
    officer_ids = {row["msgid"] for row in officer[2]}
    visible = set(msgids_of(world, world.reviewer_conversations))
    assert reviewer_ids and reviewer_ids <= visible
    assert not reviewer_ids & set(msgids_of(world, {world.out_conversation}))
    # The officer reads every department: the reviewer gets exactly the visible part of theirs.
    assert reviewer_ids == officer_ids & visible and reviewer_ids < officer_ids
    assert reviewer[1]["query"] == "" and reviewer[1]["count"] == len(reviewer[2])
    assert [row.result_count for row in exports_logged(world)] == [len(reviewer[2]), len(officer[2])]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_an_export_needs_exactly_one_selection_and_a_purpose(world: World) -> None:
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "compliance_officer")
        both = client.post("/api/v1/exports", json={"query": "x", "conversation_id": 1}, headers=headers)
        neither = client.post("/api/v1/exports", json={}, headers=headers)
        backwards = client.post(
            "/api/v1/exports",
            json={
                "conversation_id": world.in_conversation,
                "since": "2026-11-02T00:00:00Z",
                "until": "2026-11-01T00:00:00Z",
            },
            headers=headers,
        )
        no_purpose = client.post(
            "/api/v1/exports",
            json={"conversation_id": world.in_conversation},
            headers={"X-CSRF-Token": headers["X-CSRF-Token"]},
        )
    assert [both.status_code, neither.status_code, backwards.status_code] == [400, 400, 400]
    assert no_purpose.status_code == 428  # refused requests remembered no purpose


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_an_export_verifies_and_a_changed_one_does_not(world: World, tmp_path: Path) -> None:
    integrity_dir = tmp_path / "integrity"
    integrity_export(world.context.session_factory, world.edge.simulator.corp_id, integrity_dir)
    integrity_files = {path.name: path.read_bytes() for path in integrity_dir.iterdir()}
    integrity_zip = zipped(integrity_files)
    first_dropped = integrity_files["messages.jsonl"].split(b"\n", 1)[1]
    with TestClient(app=create_app(world.context)) as client:
        headers = signed_in(client, "reviewer")
        body = client.post("/api/v1/exports", json={"conversation_id": world.in_conversation}, headers=headers).content
        lines, manifest, rows = unpack(body)
        edited = lines.replace(b'"text":', b'"text" :', 1)
        changed = zipped({"messages.jsonl": edited, "manifest.json": json.dumps(manifest).encode()})

        def verify(data: bytes) -> dict[str, Any]:
            response = client.post(
                "/api/v1/exports/verify",
                files={"file": ("export.zip", data, "application/zip")},
                headers={"X-CSRF-Token": headers["X-CSRF-Token"]},
            )
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
            return result

        sound, tampered, chained, garbage = verify(body), verify(changed), verify(integrity_zip), verify(b"not a zip")
        shortened = verify(zipped({**integrity_files, "messages.jsonl": first_dropped}))
        damaged = verify(integrity_zip.replace(b"record_hash", b"record_hasx", 1))  # its CRC no longer matches
    assert sound == {"ok": True, "kind": "content", "messages": len(rows), "problem_count": 0, "problems": []}
    assert (tampered["ok"], tampered["kind"]) == (False, "content")
    assert any("SHA-256" in problem for problem in tampered["problems"])
    assert (chained["ok"], chained["kind"], chained["problem_count"]) == (True, "integrity", 0)
    assert chained["messages"] > 0
    assert (garbage["ok"], garbage["kind"]) == (False, "unknown")
    assert (shortened["ok"], shortened["kind"]) == (False, "integrity")
    assert (damaged["ok"], damaged["kind"]) == (False, "unknown")
    # Nothing was read from the database: no access-log row beyond the one export.
    assert len(exports_logged(world)) == 1
