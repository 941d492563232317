"""The access log, for auditors: who read or changed what, when and why, and whether the
hash chain still verifies (``audit.accesslog.log`` search and verify, as the API's
``/api/v1/access-log`` routes). Rows hold ids, queries and counts, never chat content."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromQuery

from api.console.auth import principal_of, signed_in
from api.console.pages.formdata import query_string
from api.console.people import people_of
from api.console.render import render, zone_of
from api.unit_of_work import Db
from audit.accesslog import log as access_log
from audit.errors import InvalidInput
from audit.security.roles import Permission

ROWS_PER_PAGE = 100
AUDITOR = [signed_in(Permission.ACCESS_LOG_READ)]
# Common action families, offered as a menu (any prefix can be typed in the URL).
ACTION_FAMILIES = ("content.", "content.search", "content.conversation", "export.", "auth.", "admin.", "handover.")

MESSAGES = {
    "log.title": ("访问日志", "Access log"),
    "log.intro": (
        "每次查阅聊天内容和每个管理操作都记录在这里；每条记录以哈希链接到前一条，链头定期写入数据库之外的检查点文件，"
        "任何修改、删除或重排都能被发现。",
        "Every read of chat content and every admin action is recorded here; each row is hash-chained to the one "
        "before and the head is checkpointed to a file outside the database, so any edit, deletion or reordering "
        "is detected.",
    ),
    "log.actor": ("人员", "Who"),
    "log.action": ("操作（或前缀）", "Action (or prefix)"),
    "log.any": ("不限", "Any"),
    "log.since": ("起始日期", "From"),
    "log.until": ("截止日期（含）", "To (inclusive)"),
    "log.filter": ("筛选", "Filter"),
    "log.reset": ("清除", "Reset"),
    "log.col.position": ("序号", "#"),
    "log.col.when": ("时间", "When"),
    "log.col.role": ("角色", "Role"),
    "log.col.via": ("方式", "Via"),
    "log.token": ("API 令牌 #{id}", "API token #{id}"),
    "log.col.purpose": ("目的", "Purpose"),
    "log.col.target": ("对象", "Target"),
    "log.col.count": ("结果数", "Results"),
    "log.col.outcome": ("结果", "Outcome"),
    "log.col.hash": ("哈希", "Hash"),
    "log.outcome.allowed": ("允许", "allowed"),
    "log.outcome.denied": ("拒绝", "denied"),
    "log.empty": ("没有符合条件的记录。", "No entry matches."),
    "log.empty.hint": ("换一个人员或日期范围试试。", "Try another person or date range."),
    "log.older": ("更早的记录", "Older entries"),
    "log.newest": ("最新的记录", "Newest entries"),
    "log.chain": ("哈希链校验", "Hash chain"),
    "log.verify": ("立即校验整条链", "Verify the whole chain now"),
    "log.verify.hint": (
        "重新计算每条记录的哈希（与 wecom-audit access-log verify 相同）。",
        "Recomputes every row's hash (the same as wecom-audit access-log verify).",
    ),
    "log.verified": (
        "链完整：已校验 {checked} 条记录，链头位于第 {head} 条。",
        "The chain is intact: {checked} rows checked, head at {head}.",
    ),
    "log.broken": ("链已损坏（{count} 个问题）：", "The chain is broken ({count} problems):"),
}


# Target keys that hold a WeCom id (a person or a group), in the access-log vocabulary.
PERSON_TARGET_KEYS = ("userid", "external_userid", "handover_userid", "successor", "chat_id", "roomid")


def _people_in(target: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for key in PERSON_TARGET_KEYS:
        value = target.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item and item not in found:
                found.append(item)
    return found


def _day(value: str, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"give the {what} date as YYYY-MM-DD") from None


@get("/access-log", guards=AUDITOR, sync_to_thread=True)
def access_log_page(
    request: Request[Any, Any, Any],
    db: Db,
    actor: FromQuery[str] = "",
    action: FromQuery[str] = "",
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    before: FromQuery[int | None] = None,
    verify: FromQuery[bool] = False,
) -> Response[str]:
    zone = zone_of(request)
    first, last = _day(since, "from"), _day(until, "to")
    # Dates are the user's days: from the start of the first to the end of the last.
    query = access_log.AccessLogQuery(
        actor.strip() or None,
        action.strip() or None,
        datetime.combine(first, time(), zone) if first else None,
        datetime.combine(last + timedelta(days=1), time(), zone) if last else None,
    )
    rows = access_log.search(db, query, before_position=before, limit=ROWS_PER_PAGE)
    report = access_log.verify(db) if verify else None
    people = people_of(db, {p for row in rows for p in _people_in(row.target)})
    filters = {"actor": actor, "action": action, "since": since, "until": until}
    return render(
        request,
        "access_log.html",
        principal=principal_of(request),
        rows=rows,
        filters=filters,
        families=ACTION_FAMILIES,
        report=report,
        target_text=lambda target: json.dumps(target, ensure_ascii=False, sort_keys=True),
        # The people a row's target names, by name beside the raw (id-only) target.
        people_in=lambda target: [people.of(p) for p in _people_in(target)],
        older=query_string(**filters, before=rows[-1].position) if len(rows) == ROWS_PER_PAGE else None,
        newest=(query_string(**filters) or "?") if before is not None else None,
        verify_link=query_string(**filters, before=before, verify=1),
    )


HANDLERS = [access_log_page]
