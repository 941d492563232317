"""Group monitoring: customer groups ranked by risk, and one group's volume, negative
share, hits and unanswered customers over time, with the word cloud of a day.

Counts come from the monitoring rollups, within the caller's data scope, through the same
use cases as the API's monitor routes (``audit.monitor.views``). The word cloud is made of
the chats' own words, so it is chat content: it needs ``content:read`` and a purpose, and
is read through the access gate (logged as ``content.top_words``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery

from api.auth.guards import context_of
from api.console.auth import principal_of, signed_in
from api.console.i18n import translator
from api.console.pages.formdata import corp_ids
from api.console.people import people_of
from api.console.render import language, render
from api.routes.content import reader_of
from api.unit_of_work import Db
from archive.clock import utcnow
from archive.directory.names import Name, Names
from audit.errors import InvalidInput
from audit.monitor import queries as monitor
from audit.monitor import views
from audit.security.roles import Permission

RANGES_DAYS = (7, 30, 90)
GROUPS_SHOWN = 100
GROUPS_CHARTED = 15
CLOUD_WORDS = 80
READ = [signed_in(Permission.MONITOR_READ)]
COLOURS = {"messages": "#1f6f5c", "negative": "#b3261e", "hits": "#d9622b", "unanswered": "#e0a526"}

MESSAGES = {
    "groups.title": ("群监控", "Group monitoring"),
    "groups.range": ("时间范围", "Period"),
    "groups.days": ("近 {days} 天", "Last {days} days"),
    "groups.chart": ("风险最高的群", "Riskiest groups"),
    "groups.empty": ("这段时间没有群聊数据。", "No group activity in this period."),
    "groups.empty.hint": (
        "监控汇总由调度器每分钟更新；也可以选择更长的时间范围。",
        "The scheduler updates the monitoring rollups every minute; or choose a longer period.",
    ),
    "groups.col.group": ("群", "Group"),
    "groups.col.messages": ("消息", "Messages"),
    "groups.col.days": ("活跃天数", "Active days"),
    "groups.col.negative": ("负面占比", "Negative share"),
    "groups.col.complaints": ("投诉", "Complaints"),
    "groups.col.hits": ("命中", "Hits"),
    "groups.col.unanswered": ("未回复客户", "Unanswered customers"),
    "groups.col.risk": ("风险分", "Risk score"),
    "groups.risk_help": (
        "风险分 = 按严重程度加权的命中 + 5×投诉 + 10×威胁 + 2×未回复客户 + 100×负面占比（消息少时打折）。",
        "Risk = hits weighted by severity + 5×complaints + 10×threats + 2×unanswered customers + "
        "100×negative share (damped for quiet groups).",
    ),
    "group.title": ("群 {room}", "Group {room}"),
    "group.back": ("返回群列表", "Back to the groups"),
    "group.alerts": ("此群的告警", "Alerts of this group"),
    "group.open": ("打开会话", "Open the conversation"),
    "group.volume": ("消息量", "Messages"),
    "group.active": ("活跃成员", "Active members"),
    "group.negative": ("负面情绪占比", "Negative share"),
    "group.hits": ("规则命中", "Rule hits"),
    "group.complaints": ("投诉", "Complaints"),
    "group.unanswered": ("未回复的客户", "Unanswered customers"),
    "group.no_data": ("这段时间此群没有消息。", "This group had no messages in this period."),
    "group.cloud": ("{day} 的词云", "Word cloud of {day}"),
    "group.cloud.days": ("选择日期", "Choose a day"),
    "group.cloud.none": ("这一天没有统计到词语。", "No words were counted for this day."),
    "group.cloud.purpose": (
        "词云由聊天内容组成，查看前请说明查阅目的。",
        "The word cloud is made of chat content: give a purpose to see it.",
    ),
    "group.cloud.give_purpose": ("说明目的", "Give a purpose"),
    "group.cloud.no_permission": (
        "词云属于聊天内容，您的角色不能查看。",
        "The word cloud is chat content, which your role does not read.",
    ),
}


@dataclass(frozen=True)
class Period:
    days: int
    first: date
    last: date


def _period(request: Request[Any, Any, Any], days: int) -> Period:
    if days not in RANGES_DAYS:
        raise InvalidInput(f"choose a period of {', '.join(map(str, RANGES_DAYS))} days")
    # Rollup days are local days of the detection zone (working hours and replies are there).
    last = utcnow().astimezone(ZoneInfo(context_of(request).settings.detection.timezone)).date()
    return Period(days, last - timedelta(days=days - 1), last)


def _room(names: Names, roomid: str | None, conversation_id: int) -> Name:
    """A group by name; one without a room id (never seen from WeCom) by its conversation."""
    if roomid is None:
        return Name(f"#{conversation_id}", f"#{conversation_id}", "group", synced=True)
    return names.of(roomid)


def _chart_label(room: Name) -> str:
    """A chart axis has no hover: a name, or an unsynced id shortened to fit."""
    return room.label if room.synced or len(room.id) <= 20 else f"{room.id[:8]}…{room.id[-8:]}"


@get("/groups", guards=READ, sync_to_thread=True)
def groups_page(request: Request[Any, Any, Any], db: Db, days: FromQuery[int] = 7) -> Response[str]:
    principal = principal_of(request)
    t = translator(language(request))
    period = _period(request, days)
    # Ranked first, then kept in scope: a scoped reviewer still gets a full list.
    visible = views.groups_in_scope(db, principal, corp_ids(request, db), period.first, period.last)
    names = people_of(db, {g.roomid for g in visible if g.roomid})
    shown = visible[:GROUPS_SHOWN]
    charted = list(reversed(shown[:GROUPS_CHARTED]))  # ECharts draws the first category at the bottom
    chart = (
        json.dumps(
            {
                "animation": False,
                "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
                "grid": {"left": 150, "right": 24, "top": 16, "bottom": 24},
                "xAxis": {"type": "value"},
                "yAxis": {
                    "type": "category",
                    "data": [_chart_label(_room(names, g.roomid, g.conversation_id)) for g in charted],
                },
                "series": [
                    {
                        "name": t("groups.col.risk"),
                        "type": "bar",
                        "itemStyle": {"color": COLOURS["hits"]},
                        "data": [g.risk_score for g in charted],
                    }
                ],
            },
            ensure_ascii=False,
        )
        if charted
        else None
    )
    return render(
        request,
        "groups.html",
        principal=principal,
        groups=shown,
        chart=chart,
        period=period,
        ranges=RANGES_DAYS,
        rooms={g.conversation_id: _room(names, g.roomid, g.conversation_id) for g in shown},
    )


def _line_chart(
    days: list[str], name: str, values: list[Any], colour: str, *, kind: str = "bar", percent: bool = False
) -> str:
    return json.dumps(
        {
            "animation": False,
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 44, "right": 16, "top": 16, "bottom": 28},
            "xAxis": {"type": "category", "data": days},
            "yAxis": {"type": "value", "minInterval": 0 if percent else 1, **({"max": 100} if percent else {})},
            "series": [
                {
                    "name": name,
                    "type": kind,
                    "itemStyle": {"color": colour},
                    "lineStyle": {"color": colour},
                    "connectNulls": False,
                    "data": values,
                }
            ],
        },
        ensure_ascii=False,
    )


def _cloud(words: list[monitor.WordCount]) -> str:
    return json.dumps(
        {
            "animation": False,
            "tooltip": {},
            "series": [
                {
                    "type": "wordCloud",
                    "shape": "circle",
                    "sizeRange": [13, 52],
                    "rotationRange": [0, 0],
                    "gridSize": 6,
                    "textStyle": {"color": "#1f6f5c"},
                    "emphasis": {"textStyle": {"color": "#b3261e"}},
                    "data": [{"name": w.word, "value": w.count} for w in words],
                }
            ],
        },
        ensure_ascii=False,
    )


@get("/groups/{conversation_id:int}", guards=READ, sync_to_thread=True)
def group_page(
    request: Request[Any, Any, Any],
    db: Db,
    conversation_id: FromPath[int],
    days: FromQuery[int] = 30,
    day: FromQuery[str] = "",
) -> Response[str]:
    principal = principal_of(request)
    t = translator(language(request))
    period = _period(request, days)
    detail = views.group_detail(db, principal, conversation_id, period.first, period.last)
    room = _room(detail.names, detail.roomid, conversation_id)
    points, totals = detail.points, detail.totals
    labels = [p.day.strftime("%m-%d") for p in points]
    charts = (
        [
            (
                t("group.volume"),
                _line_chart(labels, t("group.volume"), [p.messages for p in points], COLOURS["messages"]),
            ),
            (
                t("group.negative"),
                _line_chart(
                    labels,
                    t("group.negative"),
                    [None if p.negative_share is None else round(100 * p.negative_share, 1) for p in points],
                    COLOURS["negative"],
                    kind="line",
                    percent=True,
                ),
            ),
            (t("group.hits"), _line_chart(labels, t("group.hits"), [p.hits for p in points], COLOURS["hits"])),
            (
                t("group.unanswered"),
                _line_chart(
                    labels, t("group.unanswered"), [p.unanswered_customers for p in points], COLOURS["unanswered"]
                ),
            ),
        ]
        if points
        else []
    )
    active_days = [p.day for p in points if p.messages]
    try:
        cloud_day = date.fromisoformat(day) if day else (active_days[-1] if active_days else None)
    except ValueError:
        raise InvalidInput("give the day as YYYY-MM-DD") from None
    can_read = principal.can(Permission.CONTENT_READ)
    cloud: str | None = None
    cloud_words = 0
    if cloud_day is not None and can_read and principal.purpose:
        words = reader_of(request).through(
            views.TOP_WORDS_ACTION,
            {"conversation_id": conversation_id},
            lambda gate: views.top_words(gate, conversation_id, cloud_day, limit=CLOUD_WORDS),
        )
        cloud_words = len(words)
        cloud = _cloud(words) if words else None
    return render(
        request,
        "group.html",
        principal=principal,
        conversation_id=conversation_id,
        room=room,
        period=period,
        ranges=RANGES_DAYS,
        totals=totals,
        charts=charts,
        cloud=cloud,
        cloud_words=cloud_words,
        cloud_day=cloud_day,
        active_days=active_days,
        can_read=can_read,
        can_alerts=principal.can(Permission.ALERTS_READ),
    )


HANDLERS = [groups_page, group_page]
