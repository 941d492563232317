"""Media: every attachment type downloads byte-exact through the fake SDK in ≤ 512 KiB
chunks, resumes after a crash without fetching finished chunks again, and md5 mismatches
are retried, then failed with the reason."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from archive.media.models import MediaTask
from archive.simulator.conversations import GeneratedMessage
from archive.simulator.server import MEDIA_CHUNK_BYTES
from tests.conftest import Edge

BIG = 5 * MEDIA_CHUNK_BYTES + 12_345  # six chunks, the last one short


def big_file_message(edge: Edge, msgid: str, data: bytes) -> None:
    """A file message whose attachment spans several chunks (appended to the simulator)."""
    sdkfileid = "BIG" + hashlib.sha256(msgid.encode()).hexdigest() * 3
    edge.simulator.store.append([], [(sdkfileid, data, hashlib.md5(data).hexdigest(), int(time.time() * 1000))])
    edge.simulator.inject(
        [
            {
                "msgid": msgid,
                "action": "send",
                "from": edge.simulator.company.employees[0].userid,
                "tolist": [edge.simulator.company.customers[0].external_userid],
                "roomid": "",
                "msgtime": int(time.time() * 1000),
                "msgtype": "file",
                "file": {
                    "md5sum": hashlib.md5(data).hexdigest(),
                    "filename": "年度报告.pdf",
                    "fileext": "pdf",
                    "filesize": len(data),
                    "sdkfileid": sdkfileid,
                },
            }
        ]
    )


def pull(edge: Edge) -> None:
    context = edge.context()
    assert context.puller(edge.simulator.corp_id).run().status == "completed"
    context.close()


def test_every_media_type_round_trips_byte_exact(edge: Edge) -> None:
    sent: list[GeneratedMessage] = []
    edge.simulator.populate(2500, messages_per_day=20_000, record=sent)
    big_file_message(edge, "big_1", os.urandom(BIG))
    edge.register_keys()
    pull(edge)
    context = edge.context()
    report = context.media_downloader(edge.simulator.corp_id).run()
    context.close()

    expected = {blob.sdkfileid: blob for message in sent for blob in message.media}
    with edge.database.sessions() as session:
        tasks = list(session.scalars(select(MediaTask)))
    assert report.failed == 0
    assert len(tasks) == report.downloaded >= len(expected)
    types = set()
    for task in tasks:
        assert task.status == "done" and task.blob_sha256
        with context.blob_store.open(task.blob_sha256) as handle:
            data = handle.read()
        source = (
            expected[task.sdkfileid].data
            if task.sdkfileid in expected
            else edge.simulator.store.media_bytes(task.sdkfileid)
        )
        assert data == source
        types.add(task.extension)
    assert {"jpg", "amr", "mp4", "pdf"} <= types
    big = next(t for t in tasks if t.msgid == "big_1")
    assert big.stored_size == BIG and big.content_type == "application/octet-stream"
    offsets = [offset for sdkfileid, offset in edge.server.media_requests if sdkfileid == big.sdkfileid]
    assert offsets == [i * MEDIA_CHUNK_BYTES for i in range(6)]


def test_sdk_worker_crash_mid_file_resumes_without_refetching(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    big_file_message(edge, "big_2", os.urandom(BIG))
    edge.register_keys()
    pull(edge)
    monkeypatch.setenv("WECOM_FAKE_SDK_MEDIA_CRASH_AFTER_CHUNKS", "2")  # every worker dies on its 3rd chunk
    context = edge.context()
    report = context.media_downloader(edge.simulator.corp_id).run()
    restarts = context.source(edge.simulator.corp_id).worker_restarts
    context.close()
    assert report.downloaded == 1
    assert restarts >= 2
    offsets = [offset for _, offset in edge.server.media_requests]
    assert sorted(offsets) == [i * MEDIA_CHUNK_BYTES for i in range(6)], "each chunk fetched exactly once"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_killed_job_resumes_from_committed_progress(edge: Edge) -> None:
    data = os.urandom(BIG)
    big_file_message(edge, "big_3", data)
    edge.register_keys()
    pull(edge)
    served_before_kill = 3
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "media", "fetch"],
        env=edge.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(edge.server.media_requests) < served_before_kill and time.monotonic() < deadline:
        time.sleep(0.001)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = len(edge.server.media_requests)
    assert served_before_kill <= killed_at < 6, "the kill must land mid-file"

    finished = subprocess.run(
        [sys.executable, "-m", "api.cli", "media", "fetch"], env=edge.env(), capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr
    offsets = [offset for _, offset in edge.server.media_requests]
    resumed = offsets[killed_at:]
    assert resumed[0] >= (killed_at - 1) * MEDIA_CHUNK_BYTES, "finished chunks are not downloaded again"
    assert resumed[-1] == 5 * MEDIA_CHUNK_BYTES
    with edge.database.sessions() as session:
        task = session.scalars(select(MediaTask)).one()
    with edge.context().blob_store.open(task.blob_sha256 or "") as handle:
        assert handle.read() == data


def test_md5_mismatch_is_retried_then_fails_with_the_reason(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    big_file_message(edge, "corrupt_once", os.urandom(40_000))
    edge.register_keys()
    pull(edge)
    monkeypatch.setenv("WECOM_FAKE_SDK_MEDIA_CORRUPT_TIMES", "1")
    context = edge.context()
    report = context.media_downloader(edge.simulator.corp_id).run()
    context.close()
    assert (report.downloaded, report.md5_retries, report.failed) == (1, 1, 0)

    big_file_message(edge, "corrupt_always", os.urandom(40_000))
    pull(edge)
    monkeypatch.setenv("WECOM_FAKE_SDK_MEDIA_CORRUPT_TIMES", "1000")
    context = edge.context()
    report = context.media_downloader(edge.simulator.corp_id).run()
    context.close()
    assert report.failed == 1 and report.failures == {"md5_mismatch": 1}
    with edge.database.sessions() as session:
        task = session.scalars(select(MediaTask).where(MediaTask.msgid == "corrupt_always")).one()
    assert task.status == "failed" and task.attempts == 3
    assert task.failure is not None and task.failure.startswith("md5 mismatch after 3 downloads")
    assert task.blob_sha256 is not None  # what WeCom served is kept as evidence


def test_expired_media_fails_permanently_oldest_first(edge: Edge) -> None:
    now_ms = int(time.time() * 1000)
    edge.simulator.populate(400, messages_per_day=20_000, end_ms=now_ms - 6 * 86_400_000)  # older than retention
    edge.register_keys()
    # The puller itself cannot see them either (WeCom dropped them): store them as if pulled in time.
    edge.server.retention_s = 10 * 86_400
    pull(edge)
    edge.server.retention_s = 5 * 86_400
    context = edge.context()
    report = context.media_downloader(edge.simulator.corp_id).run()
    context.close()
    assert report.downloaded == 0 and report.failed > 0
    assert set(report.failures) == {"sdk_data_expired"}
    with edge.database.sessions() as session:
        statuses = {t.status for t in session.scalars(select(MediaTask))}
    assert statuses == {"failed"}
