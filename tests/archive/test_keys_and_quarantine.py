"""Key ring by publickey_ver: unknown versions and wrong keys are quarantined with a reason
that says so, and recovered from the stored envelope once the right key is added."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr
from sqlalchemy import func, select

from archive.errors import PrivateKeyError
from archive.keyring import KeyRing, KeyStore
from archive.models import ArchiveCursor, Message, QuarantinedRecord
from archive.quarantine import retry_quarantine
from archive.simulator.cipher import CorpKeyPair
from tests.conftest import Edge


def test_unknown_key_version_is_quarantined_then_recovered(edge: Edge) -> None:
    edge.simulator.populate(300, messages_per_day=20_000, rotate_after=100)  # v1 then v2
    edge.register_keys(versions=[1])
    context = edge.context()
    corp_id = edge.simulator.corp_id

    report = context.puller(corp_id).run()
    assert report.status == "completed"
    assert (report.stored, report.quarantined) == (100, 200)
    assert report.quarantine_reasons == {"unknown_key_version": 200}
    assert report.to_seq == edge.simulator.store.max_seq(), "quarantined records still advance the cursor"

    with edge.database.sessions() as session:
        rows = list(session.scalars(select(QuarantinedRecord)))
    assert {row.publickey_ver for row in rows} == {2}
    assert all("keys add --version 2" in row.detail for row in rows)

    edge.register_keys(versions=[2])  # the admin adds the missing key …
    retried = retry_quarantine(corp_id, context.source(corp_id), edge.database.sessions)
    context.close()
    assert (retried.attempted, retried.recovered) == (200, 200)

    with edge.database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 300
        open_rows = session.scalar(select(func.count()).where(QuarantinedRecord.resolved_at.is_(None)))
        resolved = list(session.scalars(select(QuarantinedRecord)))
    assert open_rows == 0
    assert len(resolved) == 200 and all(row.attempts == 2 for row in resolved)  # kept, as a record


def test_wrong_key_for_a_version_is_detected_not_silently_garbled(edge: Edge) -> None:
    edge.simulator.populate(50, messages_per_day=20_000)
    impostor = CorpKeyPair.generate(1)  # registered as v1, but not the key WeCom used for v1
    context = edge.context()
    context.key_store.add(edge.simulator.corp_id, 1, impostor.private_pem())

    report = context.puller(edge.simulator.corp_id).run()
    assert report.status == "completed"
    assert report.quarantine_reasons == {"wrong_key": 50}
    with edge.database.sessions() as session:
        details = set(session.scalars(select(QuarantinedRecord.detail)))
    assert any("not the private key WeCom used" in d or "does not match" in d for d in details)

    # The right key replaces the impostor; retry recovers everything.
    edge.register_keys()
    retried = retry_quarantine(edge.simulator.corp_id, context.source(edge.simulator.corp_id), edge.database.sessions)
    context.close()
    assert retried.recovered == 50


def test_records_of_a_never_registered_key_stay_quarantined_on_retry(edge: Edge) -> None:
    stranger = CorpKeyPair.generate(9)
    edge.simulator.populate(20, messages_per_day=20_000, encrypt_with=stranger)
    edge.register_keys()
    context = edge.context()
    assert context.puller(edge.simulator.corp_id).run().quarantined == 20
    retried = retry_quarantine(edge.simulator.corp_id, context.source(edge.simulator.corp_id), edge.database.sessions)
    context.close()
    assert retried.recovered == 0 and retried.still_failing == {"unknown_key_version": 20}


def test_key_store_accepts_pkcs8_and_encrypted_keys(tmp_path: object) -> None:
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization

    pair = CorpKeyPair.generate(3)
    pkcs8 = pair.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"hunter2"),
    )
    store = KeyStore(Path(str(tmp_path)) / "keys")
    material = store.add("wwcorp", 3, pkcs8, b"hunter2")
    ring = store.load("wwcorp", passphrases={3: b"hunter2"})
    assert ring.versions() == [3]
    assert material.fingerprint() == ring.materials()[0].fingerprint()
    assert oct((Path(str(tmp_path)) / "keys" / "wwcorp" / "v3.pem").stat().st_mode & 0o777) == "0o600"
    assert "BEGIN" not in repr(ring) and "BEGIN" not in repr(ring.materials()[0])

    wrong = KeyRing(store.load("wwcorp", passphrases={3: b"nope"}).materials())
    result = wrong.unwrap(3, "AAAA")
    assert result.failure is not None and result.failure.value == "key_unreadable"


def _encrypted_pem(pair: CorpKeyPair, passphrase: bytes) -> bytes:
    return pair.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(passphrase),
    )


def test_an_encrypted_key_without_its_passphrase_stops_the_pull_before_anything_is_fetched(edge: Edge) -> None:
    edge.simulator.populate(50, messages_per_day=20_000)
    (pair,) = edge.simulator.key_pairs()
    context = edge.context()
    corp_id = edge.simulator.corp_id
    context.key_store.add(corp_id, 1, _encrypted_pem(pair, b"only the admin knows"), b"only the admin knows")

    with pytest.raises(PrivateKeyError) as raised:
        context.puller(corp_id).run()
    context.close()
    assert "cannot be read" in str(raised.value) and 'KEY_PASSPHRASES has its passphrase under "1"' in raised.value.hint
    with edge.database.sessions() as session:  # nothing fetched, quarantined or advanced
        assert session.scalar(select(func.count()).select_from(QuarantinedRecord)) == 0
        assert session.scalar(select(func.count()).select_from(ArchiveCursor)) == 0


def test_each_key_has_its_own_passphrase(edge: Edge) -> None:
    edge.simulator.populate(120, messages_per_day=20_000, rotate_after=60)  # v1 then v2
    context = edge.context()
    corp_id = edge.simulator.corp_id
    passphrases = {1: b"first key's passphrase", 2: b"second key's passphrase"}
    for pair in edge.simulator.key_pairs():
        pem = _encrypted_pem(pair, passphrases[pair.version])
        context.key_store.add(corp_id, pair.version, pem, passphrases[pair.version])
    edge.settings.wecom.key_passphrases = {v: SecretStr(p.decode()) for v, p in passphrases.items()}

    report = context.puller(corp_id).run()
    context.close()
    assert report.status == "completed" and (report.stored, report.quarantined) == (120, 0)
