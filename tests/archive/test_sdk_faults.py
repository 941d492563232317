"""The faults real users hit, injected at the vendor edge (fake SDK switches, simulated
WeCom errors): transient codes recover, configuration errors stop with what to do, a
record that crashes the SDK is quarantined without stopping the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.models import Message, PullRun, QuarantinedRecord
from archive.puller import PullReport
from archive.simulator.cipher import encrypt_message
from archive.simulator.store import StoredChat
from tests.conftest import Edge


@pytest.fixture
def pulled_edge(edge: Edge) -> Edge:
    edge.simulator.populate(400, messages_per_day=20_000)
    edge.register_keys()
    return edge


def run_pull(edge: Edge) -> PullReport:
    context = edge.context()
    try:
        return context.puller(edge.simulator.corp_id).run()
    finally:
        context.close()


def test_network_error_10001_is_retried_and_recovers(pulled_edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECOM_FAKE_SDK_CHATDATA_RC", "10001")
    monkeypatch.setenv("WECOM_FAKE_SDK_CHATDATA_RC_TIMES", "2")
    report = run_pull(pulled_edge)
    assert report.status == "completed" and report.stored == 400


def test_unreadable_chatdata_is_retried(pulled_edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECOM_FAKE_SDK_CHATDATA_GARBLE_TIMES", "1")
    report = run_pull(pulled_edge)
    assert report.status == "completed" and report.stored == 400


@pytest.mark.parametrize(
    ("code", "error_code", "hint"),
    [
        ("10010", "sdk_data_expired", "retention window"),
        ("10009", "sdk_configuration", "可信IP"),
    ],
)
def test_permanent_sdk_codes_stop_with_a_clear_error(
    pulled_edge: Edge, monkeypatch: pytest.MonkeyPatch, code: str, error_code: str, hint: str
) -> None:
    monkeypatch.setenv("WECOM_FAKE_SDK_CHATDATA_RC", code)
    report = run_pull(pulled_edge)
    assert report.status == "failed" and report.error_code == error_code
    assert report.error is not None and code in report.error and hint in report.error
    assert report.stored == 0
    with pulled_edge.database.sessions() as session:
        run = session.scalars(select(PullRun)).one()
    assert run.status == "failed" and run.error_code == error_code


def test_retries_are_bounded(pulled_edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECOM_FAKE_SDK_CHATDATA_RC", "10003")
    report = run_pull(pulled_edge)
    assert report.status == "failed" and report.error_code == "sdk_transient"


@pytest.mark.parametrize(("errcode", "hint"), [(301042, "可信IP"), (301053, "enable")])
def test_wecom_errcodes_inside_a_successful_call_are_checked(pulled_edge: Edge, errcode: int, hint: str) -> None:
    pulled_edge.server.faults.chatdata_errcode = errcode
    report = run_pull(pulled_edge)
    assert report.status == "failed" and str(errcode) in (report.error or "") and hint in (report.error or "")


def test_wrong_secret_says_which_secret(pulled_edge: Edge) -> None:
    from pydantic import SecretStr

    pulled_edge.settings.wecom.archive_secret = SecretStr("not-the-archive-secret")
    report = run_pull(pulled_edge)
    assert report.status == "failed" and "40001" in (report.error or "")
    assert "会话内容存档 Secret" in (report.error or "")
    assert "not-the-archive-secret" not in (report.error or "")


def test_a_record_that_crashes_the_sdk_is_quarantined_and_the_run_goes_on(
    pulled_edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECOM_FAKE_SDK_CRASH_SEQ", "123")
    context = pulled_edge.context()
    report = context.puller(pulled_edge.simulator.corp_id).run()
    restarts = context.source(pulled_edge.simulator.corp_id).worker_restarts
    context.close()
    assert report.status == "completed"
    assert (report.stored, report.quarantined) == (399, 1)
    assert restarts == 2  # crashed twice (the threshold), then the record was set aside
    with pulled_edge.database.sessions() as session:
        row = session.scalars(select(QuarantinedRecord)).one()
        assert session.scalar(select(func.count()).select_from(Message)) == 399
    assert (row.seq, row.reason) == (123, "sdk_crash")


def test_a_corrupt_plaintext_is_quarantined(pulled_edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECOM_FAKE_SDK_CORRUPT_SEQ", "7,8")
    report = run_pull(pulled_edge)
    assert report.status == "completed"
    assert report.quarantine_reasons == {"unparsable": 2}
    with pulled_edge.database.sessions() as session:
        assert sorted(session.scalars(select(QuarantinedRecord.seq))) == [7, 8]


def test_a_missing_library_is_a_clear_error(pulled_edge: Edge, tmp_path: object) -> None:
    from pathlib import Path

    from archive.errors import ArchiveError

    pulled_edge.settings.sdk.library_path = Path(str(tmp_path)) / "libnothing.so"
    with pytest.raises(ArchiveError, match="does not exist"):
        run_pull(pulled_edge)


def test_a_record_that_aborts_tencents_decrypt_data_is_quarantined_and_the_pull_goes_on(
    pulled_edge: Edge, monkeypatch: pytest.MonkeyPatch, tencent_sdk_library: Path
) -> None:
    # Tencent's DecryptData throws std::out_of_range through extern "C" for an encrypt_chat_msg
    # under 13 characters: the process aborts (spec §1.1a). The fake forwards DecryptData to it.
    monkeypatch.setenv("WECOM_FAKE_SDK_DECRYPT_LIBRARY", str(tencent_sdk_library))
    store = pulled_edge.simulator.store
    seq = store.max_seq() + 1
    key = pulled_edge.simulator.current_key
    good = encrypt_message(b"{}", key.private_key.public_key(), key.version)
    msgtime_ms = store.last_msgtime_ms() or 0
    record = StoredChat(seq, "aborts-tencent", key.version, good.encrypt_random_key, "ABCDEFGHIJKL", msgtime_ms)
    store.append([(seq, record)], [])
    pulled_edge.simulator.populate(50, messages_per_day=20_000)

    report = run_pull(pulled_edge)
    assert report.status == "completed", report.error
    assert (report.stored, report.quarantined) == (450, 1)
    with pulled_edge.database.sessions() as session:
        row = session.scalars(select(QuarantinedRecord)).one()
    assert (row.seq, row.reason) == (seq, "sdk_crash")
    assert "crashed" in row.detail
