"""Exports carry a manifest of hashes; `verify_export` checks them with nothing but the
directory, and catches any edited byte."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from archive.integrity.errors import ExportError
from archive.integrity.export import MANIFEST_FILE, MESSAGES_FILE, export, verify_export
from archive.models import Message
from tests.archive.integrity.helpers import link_at, pull, run_verify
from tests.conftest import Edge


def export_all(edge: Edge, out_dir: Path, **filters: Any) -> int:
    return export(edge.database.sessions, edge.simulator.corp_id, out_dir, **filters).messages


def test_an_export_verifies_and_names_every_record_of_the_chain(edge: Edge, tmp_path: Path) -> None:
    pull(edge, 250)
    checkpoint = run_verify(edge).checkpoint
    assert checkpoint is not None

    assert export_all(edge, tmp_path / "export") == 250
    report = verify_export(tmp_path / "export")

    assert report.ok, report.problems
    assert report.messages == 250
    manifest = json.loads((tmp_path / "export" / MANIFEST_FILE).read_text())
    assert [position for position, _ in manifest["records"]] == list(range(1, 251))
    assert manifest["checkpoint"]["head_hash"] == checkpoint.head_hash == manifest["records"][-1][1]
    assert manifest["files"][0]["name"] == MESSAGES_FILE
    assert os.stat(tmp_path / "export" / MESSAGES_FILE).st_mode & 0o777 == 0o600


def test_an_export_of_one_conversation_and_period(edge: Edge, tmp_path: Path) -> None:
    pull(edge, 250)
    with edge.database.sessions() as session:
        conversation_id, first = session.execute(
            select(Message.conversation_id, func.min(Message.msgtime))
            .where(Message.conversation_id.is_not(None))
            .group_by(Message.conversation_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        expected = session.scalar(
            select(func.count()).where(Message.conversation_id == conversation_id, Message.msgtime > first)
        )

    exported = export_all(
        edge, tmp_path / "one", conversation_id=conversation_id, since=first + timedelta(microseconds=1)
    )

    assert exported == expected and 0 < exported < 250
    assert verify_export(tmp_path / "one").ok


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_an_edited_byte_of_the_messages_fails_verification(edge: Edge, tmp_path: Path, where: float) -> None:
    pull(edge, 60)
    export_all(edge, tmp_path / "export")
    path = tmp_path / "export" / MESSAGES_FILE

    flip(path, int(path.stat().st_size * where))
    report = verify_export(tmp_path / "export")

    assert not report.ok
    assert any(MESSAGES_FILE in problem for problem in report.problems)


@pytest.mark.parametrize("where", [0.0, 0.3, 0.6, 0.99])
def test_an_edited_byte_of_the_manifest_fails_verification(edge: Edge, tmp_path: Path, where: float) -> None:
    pull(edge, 60)
    export_all(edge, tmp_path / "export")
    path = tmp_path / "export" / MANIFEST_FILE

    flip(path, int(path.stat().st_size * where))

    assert not verify_export(tmp_path / "export").ok


def test_a_broken_chain_is_not_exported(edge: Edge, tmp_path: Path) -> None:
    pull(edge, 60)
    target = link_at(edge, 20)
    with edge.database.engine.begin() as connection:
        connection.execute(text("UPDATE messages SET sender = 'x' WHERE id = :id"), {"id": target.message_id})

    with pytest.raises(ExportError, match="position 20"):
        export_all(edge, tmp_path / "export")


def test_an_export_never_overwrites(edge: Edge, tmp_path: Path) -> None:
    pull(edge, 20)
    export_all(edge, tmp_path / "export")

    with pytest.raises(ExportError, match="already exists"):
        export_all(edge, tmp_path / "export")
