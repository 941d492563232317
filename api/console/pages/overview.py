"""The overview: ingest health per corp (lag, last pull, quarantine, completeness, when the
hash chain last verified), alerts by severity over time, and the busiest risky groups —
each part shown to those whose role covers it, counted within their scope."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from litestar import Request, Response, get

from api.auth.guards import context_of
from api.console.auth import principal_of, signed_in
from api.console.i18n import translator
from api.console.render import language, render, zone_of
from api.unit_of_work import Db
from archive import status as status_figures
from archive.clock import utcnow
from archive.directory.names import Names
from audit.detect.hits import Severity
from audit.monitor.overview import OverviewPeriods
from audit.monitor.overview import overview as overview_figures
from audit.monitor.queries import GroupRisk
from audit.security.roles import Permission

ALERT_DAYS = 14
GROUP_DAYS = 7
GROUPS_SHOWN = 10
GROUPS_RANKED = 200  # rank before the scope filter, so a scoped reviewer still gets a full list
PERIODS = OverviewPeriods(ALERT_DAYS, GROUP_DAYS, GROUPS_RANKED, GROUPS_SHOWN)
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


def _health(request: Request[Any, Any, Any], corps: list[status_figures.CorpHealth]) -> list[CorpHealth]:
    context = context_of(request)
    t = translator(language(request))
    zone = zone_of(request)
    thresholds = context.completeness_thresholds

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%m-%d %H:%M") if moment else t("common.never")

    result = []
    for corp in corps:
        status, lag, gaps, checkpoint = corp.status, corp.lag, corp.gaps, corp.checkpoint
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
        result.append(CorpHealth(corp.corp_id, tiles))
    return result


def _alert_chart(request: Request[Any, Any, Any], days: list[date], counts: dict[tuple[date, str], int]) -> str | None:
    t = translator(language(request))
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


def _groups_chart(request: Request[Any, Any, Any], riskiest: list[GroupRisk], names: Names) -> str | None:
    t = translator(language(request))
    shown = list(riskiest)
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


def _status_chart(request: Request[Any, Any, Any], counts: dict[str, int]) -> str | None:
    t = translator(language(request))
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
def overview(request: Request[Any, Any, Any], db: Db) -> Response[str]:
    principal = principal_of(request)
    figures = overview_figures(db, principal, context_of(request).settings, utcnow(), zone_of(request), PERIODS)
    return render(
        request,
        "overview.html",
        principal=principal,
        health=None if figures.health is None else _health(request, figures.health),
        alert_chart=None
        if figures.alerts_by_day is None
        else _alert_chart(request, figures.alert_days, figures.alerts_by_day),
        status_chart=None
        if figures.open_alerts_by_status is None
        else _status_chart(request, figures.open_alerts_by_status),
        groups_chart=None
        if figures.riskiest_groups is None
        else _groups_chart(request, figures.riskiest_groups, figures.names),
        can_alerts=principal.can(Permission.ALERTS_READ),
        can_groups=principal.can(Permission.MONITOR_READ),
        alert_days=ALERT_DAYS,
        group_days=GROUP_DAYS,
    )


HANDLERS = [overview]
