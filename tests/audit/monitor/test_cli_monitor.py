"""``wecom-audit monitor run``, ``groups top``, ``groups show`` and ``replies metrics`` as an
operator runs them: a real process on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from audit.monitor.worktime import WorkingCalendar
from tests.audit.monitor.helpers import CORP, Chat, Verdict, detect, group, single, store
from tests.conftest import Database

CALENDAR = WorkingCalendar.of("Asia/Shanghai", "09:00", "18:00", [1, 2, 3, 4, 5, 6, 7])
MEMBERS = ["lisi", "wangwu", "wmAlice", "woBob"]


def cli(database: Database, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WECOM_")},
        "WECOM_AUDIT_DATA_DIR": str(tmp_path / "data"),
        "WECOM_AUDIT_DATABASE__URL": database.url,
        "WECOM_AUDIT_WECOM__CORP_ID": CORP,
        "WECOM_AUDIT_DETECTION__WORKING_DAYS": "[1,2,3,4,5,6,7]",
        "WECOM_AUDIT_LOGGING__JSON": "true",
        "COLUMNS": "250",
    }
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_operator_commands_show_the_rollups(database: Database, tmp_path: Path) -> None:
    # Yesterday (local), within working hours every day of the week.
    yesterday = CALENDAR.local_day(datetime.now(UTC)) - timedelta(days=1)
    start, _ = CALENDAR.day_bounds(yesterday)
    at = start + timedelta(hours=10)
    ids = store(
        database,
        group(
            "room-cli",
            MEMBERS,
            [
                Chat("wmAlice", at, "理财产品赎回什么时候到账"),
                Chat("lisi", at + timedelta(minutes=5), "理财产品赎回T+1到账"),
                Chat("woBob", at + timedelta(minutes=6), "太慢了要投诉"),
            ],
        )
        + single("zhangsan", "wmCarol", [Chat("wmCarol", at, "在吗")]),
    )
    detect(database, {ids[2]: Verdict("negative", "complaint", (("abuse", "high"),))})

    ran = cli(database, tmp_path, "monitor", "run")
    assert ran.returncode == 0, ran.stderr
    assert "4 new messages" in ran.stdout and "2 reply-timeout" in ran.stdout
    assert "audit.monitor.completed" in ran.stderr  # the run is logged, with counts only:
    assert not any(word in ran.stdout + ran.stderr for word in ("理财", "赎回", "投诉", "wmAlice", "wmCarol"))

    top = cli(database, tmp_path, "groups", "top", "--json")
    assert top.returncode == 0, top.stderr
    (room,) = json.loads(top.stdout)
    assert room["roomid"] == "room-cli" and room["complaints"] == 1 and room["hit_points"] == 6

    shown = cli(database, tmp_path, "groups", "show", "room-cli", "--day", yesterday.isoformat())
    assert shown.returncode == 0, shown.stderr
    assert "理财产品×2" in shown.stdout and "赎回×2" in shown.stdout

    metrics = cli(database, tmp_path, "replies", "metrics", "--json")
    assert metrics.returncode == 0, metrics.stderr
    by_employee = {row["employee"]: row for row in json.loads(metrics.stdout)}
    assert by_employee["zhangsan"]["threads"] == 1 and by_employee["zhangsan"]["answered"] == 0
    assert by_employee["lisi"]["answered"] == 1 and by_employee["lisi"]["mean_response_minutes"] == 5

    missing = cli(database, tmp_path, "groups", "show", "no-such-room")
    assert missing.returncode == 1 and "groups top" in missing.stderr
