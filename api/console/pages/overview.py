"""The overview: ingest health per corp (lag, last pull, quarantine, completeness, when the
hash chain last verified), alerts by severity over time, and the busiest risky groups —
each part shown to those whose role covers it, counted within their scope."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get

from api.auth.guards import context_of
from api.console.auth import principal_of, signed_in
from api.console.i18n import translator
from api.console.people import people_of
from api.console.render import language, render, zone_of
from archive import repository
from archive.clock import utcnow
from archive.completeness import service as completeness
from archive.directory.names import Names
from archive.integrity import repository as integrity
from archive.status import collect_status
from audit.alerts import queries as alert_counts
from audit.detect.hits import Severity
from audit.monitor import queries as monitor
from audit.security.principal import Principal
from audit.security.roles import Permission
from audit.security.scope import conversation_visible, resolve_scope
from config.database import session_scope

ALERT_DAYS = 14
GROUP_DAYS = 7
GROUPS_SHOWN = 10
GROUPS_RANKED = 200  # rank before the scope filter, so a scoped reviewer still gets a full list
STATUS_COLOURS = {"new": "#d9622b", "claimed": "#e0a526", "escalated": "#b3261e", "resolved": "#8fb8a8"}
SEVERITY_COLOURS = {"low": "#8fb8a8", "medium": "#e0a526", "high": "#d9622b", "critical": "#b3261e"}

MESSAGES = {
    "ov.ingest": ("数据接入", "Ingest health"),
    "ov.corp": ("企业 {corp}", "Corp {corp}"),
    "ov.messages": ("已存档消息", "Messages archived"),
    "ov.lag": ("最新消息距今", "Newest message age"),
    "ov.exposure": ("可能缺失的最早消息", "Oldest possibly missing"),
    "ov.last_pull": ("上次拉取", "Last pull"),
    "ov.pull.completed": ("成功", "completed"),
    "ov.pull.failed": ("失败", "failed"),
    "ov.pull.running": ("进行中", "running"),
    "ov.pull.interrupted": (
        "已中断（进程被终止，下次拉取会接着进行）",
        "interrupted (the process was stopped; the next pull continues)",
    ),
    "ov.quarantine": ("隔离中的消息", "Quarantined"),
    "ov.gaps": ("序号缺口", "Seq gaps"),
    "ov.gaps.missing": ("缺 {missing} 条", "{missing} missing"),
    "ov.media": ("待下载附件", "Media pending"),
    "ov.chain": ("哈希链最近检查点", "Latest chain checkpoint"),
    "ov.chain.never": ("尚无检查点", "no checkpoint yet"),
    "ov.chain.links": ("{count} 条记录", "{count} records"),
    "ov.no_corp": ("还没有配置企业，也没有存档数据。", "No corp is configured and nothing is archived yet."),
    "ov.no_corp.hint": ("配置企业后运行 wecom-audit pull。", "Configure a corp, then run wecom-audit pull."),
    "ov.alerts": ("近 {days} 天告警（按严重程度）", "Alerts of the last {days} days, by severity"),
    "ov.alerts.none": ("近期没有告警。", "No alerts recently."),
    "ov.alert_status": ("告警处理状态", "Alerts by review state"),
    "ov.groups": ("近 {days} 天风险最高的群", "Riskiest groups of the last {days} days"),
    "ov.groups.none": ("近期没有群聊数据。", "No group activity recently."),
    "ov.risk": ("风险分", "Risk score"),
    "ov.hits": ("命中", "Hits"),
    "ov.duration.s": ("{n} 秒", "{n} s"),
    "ov.duration.m": ("{n} 分钟", "{n} min"),
    "ov.duration.h": ("{n} 小时", "{n} h"),
    "ov.duration.d": ("{n} 天", "{n} d"),
    "severity.low": ("低", "low"),
    "severity.medium": ("中", "medium"),
    "severity.high": ("高", "high"),
    "severity.critical": ("严重", "critical"),
    "status.new": ("新", "new"),
    "status.claimed": ("已认领", "claimed"),
    "status.escalated": ("已升级", "escalated"),
    "status.resolved": ("已处理", "resolved"),
}


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    state: str  # ok | warn | bad | "" (neutral)
    note: str = ""


@dataclass(frozen=True)
class CorpHealth:
    corp_id: str
    tiles: list[Tile]


def duration(seconds: float | None, t: Any) -> str:
    if seconds is None:
        return str(t("common.none"))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return str(t(f"ov.duration.{unit}", n=int(seconds // size)))
    return str(t("ov.duration.s", n=int(seconds)))


def group_label(conversation_id: int, roomid: str | None, names: Names) -> str:
    """A chart axis has no hover: the group's name, else (not synced yet) the conversation
    number and the room id's tail."""
    if roomid and names.of(roomid).synced:
        return names.label(roomid)
    return f"#{conversation_id} …{roomid[-4:]}" if roomid else f"#{conversation_id}"


def _health(request: Request[Any, Any, Any], now: datetime) -> list[CorpHealth]:
    context = context_of(request)
    t = translator(language(request))
    zone = zone_of(request)
    thresholds = context.completeness_thresholds

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%m-%d %H:%M") if moment else t("common.never")

    result = []
    with session_scope(context.session_factory) as session:
        corp_ids = sorted({c.corp_id for c in context.settings.corps()} | set(repository.known_corp_ids(session)))
        for corp_id in corp_ids:
            status = collect_status(session, corp_id, now)
            lag = completeness.lag(session, corp_id, now)
            gaps = completeness.gap_summary(session, corp_id)
            checkpoint = integrity.latest_checkpoint(session, corp_id)
            run = status.last_run
            exposure_h = (lag.exposure_s or 0) / 3600
            exposure_state = (
                "bad"
                if exposure_h >= thresholds.lag_critical_h
                else "warn"
                if exposure_h >= thresholds.lag_warning_h
                else "ok"
            )
            tiles = [
                Tile(t("ov.messages"), f"{status.counts.messages:,}", ""),
                Tile(
                    t("ov.exposure"),
                    duration(lag.exposure_s, t),
                    exposure_state,
                    t("ov.lag") + " " + duration(lag.message_lag_s, t),
                ),
                Tile(
                    t("ov.last_pull"),
                    when(run.started_at if run else None),
                    ""
                    if run is None
                    else "ok"
                    if run.status == "completed"
                    else "warn"
                    if run.status in ("running", "interrupted")
                    else "bad",
                    t(f"ov.pull.{run.status}") if run else "",
                ),
                Tile(
                    t("ov.quarantine"),
                    f"{status.counts.quarantined_open:,}",
                    "bad" if status.counts.quarantined_open else "ok",
                ),
                Tile(
                    t("ov.gaps"),
                    f"{gaps.gaps:,}",
                    "bad" if gaps.gaps else "ok",
                    t("ov.gaps.missing", missing=gaps.missing) if gaps.gaps else "",
                ),
                Tile(t("ov.media"), f"{lag.pending_media:,}", "warn" if lag.failed_media else ""),
                Tile(
                    t("ov.chain"),
                    when(checkpoint.created_at) if checkpoint else t("ov.chain.never"),
                    "ok" if checkpoint else "warn",
                    t("ov.chain.links", count=checkpoint.count) if checkpoint else "",
                ),
            ]
            result.append(CorpHealth(corp_id, tiles))
    return result


def _alert_chart(request: Request[Any, Any, Any], principal: Principal, now: datetime) -> str | None:
    t = translator(language(request))
    zone = zone_of(request)
    last_day = now.astimezone(zone).date()
    days = [last_day - timedelta(days=offset) for offset in range(ALERT_DAYS - 1, -1, -1)]
    with session_scope(context_of(request).session_factory) as session:
        counts = alert_counts.alerts_by_day_and_severity(
            session, resolve_scope(session, principal), zone, last_day, ALERT_DAYS
        )
    if not counts:
        return None
    option = {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 40, "right": 16, "top": 36, "bottom": 28},
        "xAxis": {"type": "category", "data": [day.strftime("%m-%d") for day in days]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "name": t(f"severity.{severity.value}"),
                "type": "bar",
                "stack": "alerts",
                "itemStyle": {"color": SEVERITY_COLOURS[severity.value]},
                "data": [counts.get((day, severity.value), 0) for day in days],
            }
            for severity in Severity
        ],
    }
    return json.dumps(option, ensure_ascii=False)


def _groups_chart(request: Request[Any, Any, Any], principal: Principal, now: datetime) -> str | None:
    context = context_of(request)
    t = translator(language(request))
    # Rollup days are local days of the detection zone (as on the groups page), not UTC days.
    last_day = now.astimezone(ZoneInfo(context.settings.detection.timezone)).date()
    first_day = last_day - timedelta(days=GROUP_DAYS - 1)
    with session_scope(context.session_factory) as session:
        scope = resolve_scope(session, principal)
        ranked = []
        for corp_id in repository.known_corp_ids(session):
            ranked += monitor.rank_groups(session, corp_id, first_day, last_day, limit=GROUPS_RANKED)
        ranked.sort(key=lambda group: group.risk_score, reverse=True)
        shown = [g for g in ranked if g.risk_score > 0 and conversation_visible(session, scope, g.conversation_id)][
            :GROUPS_SHOWN
        ]
        names = people_of(session, {g.roomid for g in shown if g.roomid})
    if not shown:
        return None
    shown.reverse()  # ECharts draws the first category at the bottom
    option = {
        "animation": False,
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0},
        "grid": {"left": 120, "right": 24, "top": 36, "bottom": 24},
        "xAxis": {"type": "value"},
        "yAxis": {
            "type": "category",
            "data": [group_label(g.conversation_id, g.roomid, names) for g in shown],
            "axisLabel": {"width": 110, "overflow": "truncate"},
        },
        "series": [
            {
                "name": t("ov.risk"),
                "type": "bar",
                "itemStyle": {"color": "#d9622b"},
                "data": [round(g.risk_score, 2) for g in shown],
            },
            {"name": t("ov.hits"), "type": "bar", "itemStyle": {"color": "#8fb8a8"}, "data": [g.hits for g in shown]},
        ],
    }
    return json.dumps(option, ensure_ascii=False)


def _status_chart(request: Request[Any, Any, Any], principal: Principal) -> str | None:
    t = translator(language(request))
    with session_scope(context_of(request).session_factory) as session:
        counts = alert_counts.open_alerts_by_status(session, resolve_scope(session, principal))
    if not counts:
        return None
    option = {
        "animation": False,
        "tooltip": {"trigger": "item"},
        "legend": {"bottom": 0},
        "series": [
            {
                "type": "pie",
                "radius": ["40%", "68%"],
                "data": [
                    {
                        "name": t(f"status.{status}"),
                        "value": count,
                        "itemStyle": {"color": STATUS_COLOURS.get(status, "#999")},
                    }
                    for status, count in sorted(counts.items())
                ],
            }
        ],
    }
    return json.dumps(option, ensure_ascii=False)


@get("/", guards=[signed_in()], sync_to_thread=True)
def overview(request: Request[Any, Any, Any]) -> Response[str]:
    principal = principal_of(request)
    now = utcnow()
    can_alerts = principal.can(Permission.ALERTS_READ)
    return render(
        request,
        "overview.html",
        principal=principal,
        health=_health(request, now) if principal.can(Permission.ARCHIVE_STATUS) else None,
        alert_chart=_alert_chart(request, principal, now) if can_alerts else None,
        status_chart=_status_chart(request, principal) if can_alerts else None,
        groups_chart=_groups_chart(request, principal, now) if principal.can(Permission.MONITOR_READ) else None,
        can_alerts=can_alerts,
        can_groups=principal.can(Permission.MONITOR_READ),
        alert_days=ALERT_DAYS,
        group_days=GROUP_DAYS,
    )


HANDLERS = [overview]
