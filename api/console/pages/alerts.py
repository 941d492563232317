"""Alerts: the review queue (filters, bulk actions), one alert with its evidence, trail,
notes and tags, and the sampling queue of unflagged conversations.

Everything is the review workflow of ``audit.review`` (the same calls as
``api.routes.workflow``) within the caller's data scope. An alert carries masked excerpts
only; its messages open in the conversation view (``/console/conversations/<id>?anchor=``),
which reads them through the access gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.orm import Session

from api.auth.guards import context_of
from api.console.auth import principal_of, signed_in
from api.console.nav import CONSOLE_PATH
from api.console.pages.formdata import Form, back, corp_ids, in_thread, query_string, read_form
from api.console.people import people_of
from api.console.render import render
from archive.clock import utcnow
from archive.directory.names import Name, Place, places_of
from archive.models import Conversation
from audit.alerts import service as alerts
from audit.alerts.errors import AlertError, AlertNotFoundError
from audit.alerts.evidence import masked_explanation
from audit.alerts.models import Alert
from audit.alerts.visibility import PERSON_KEYS, visible_alerts
from audit.alerts.visibility import visible_alert as alert_in_scope
from audit.detect.hits import Severity
from audit.errors import Conflict, InvalidInput
from audit.review import sampling
from audit.review import service as review
from audit.review.errors import AssigneeRefusedError
from audit.review.models import AlertTrail, ReviewSample
from audit.security.errors import OutOfScope
from audit.security.principal import Principal
from audit.security.roles import Permission
from audit.security.scope import DataScope, conversation_visible, resolve_scope
from config.database import session_scope

ALERTS_PER_PAGE = 50
SAMPLES_SHOWN = 200
NOTE_MAX_CHARS = 2000
READ = [signed_in(Permission.ALERTS_READ)]
REVIEW = [signed_in(Permission.ALERTS_REVIEW)]
# The actions the review form and the bulk form offer (``note`` needs no state change).
FORM_ACTIONS = ("claim", "release", "escalate", "resolve", "false_positive", "reopen", "note")
BULK_ACTIONS = ("claim", "escalate", "resolve", "false_positive")

MESSAGES = {
    "alerts.title": ("告警审核", "Alert review"),
    "alerts.filters": ("筛选", "Filters"),
    "alerts.filter.status": ("状态", "State"),
    "alerts.filter.open": ("待处理（新 / 已认领 / 已升级）", "Open (new, claimed, escalated)"),
    "alerts.filter.all": ("全部", "All"),
    "alerts.filter.severity": ("最低严重程度", "Minimum severity"),
    "alerts.filter.any": ("不限", "Any"),
    "alerts.filter.rule": ("规则", "Rule"),
    "alerts.filter.assignee": ("处理人", "Assignee"),
    "alerts.filter.me": ("我", "Me"),
    "alerts.filter.unassigned": ("未分配", "Unassigned"),
    "alerts.filter.group": ("群聊", "Group"),
    "alerts.filter.corp": ("企业", "Corp"),
    "alerts.filter.apply": ("应用筛选", "Apply"),
    "alerts.filter.reset": ("清除", "Reset"),
    "alerts.empty": ("没有符合条件的告警。", "No alert matches."),
    "alerts.empty.hint": (
        "检测到风险内容时会在这里出现告警；试试“全部”状态或清除筛选。",
        "Alerts appear here when detection finds something; try the state “All” or reset the filters.",
    ),
    "alerts.col.when": ("时间", "When"),
    "alerts.col.severity": ("严重程度", "Severity"),
    "alerts.col.rule": ("规则", "Rule"),
    "alerts.col.where": ("会话", "Conversation"),
    "alerts.col.excerpt": ("摘录（已脱敏）", "Excerpt (masked)"),
    "alerts.col.status": ("状态", "State"),
    "alerts.col.assignee": ("处理人", "Assignee"),
    "alerts.col.select": ("选择", "Select"),
    "alerts.select": ("选择告警 {id}", "Select alert {id}"),
    "alerts.select_all": ("选择本页全部告警", "Select every alert on this page"),
    "alerts.next": ("更早的告警", "Older alerts"),
    "alerts.first": ("最新的告警", "Newest alerts"),
    "alerts.bulk": ("批量处理所选告警", "Act on the selected alerts"),
    "alerts.bulk.action": ("操作", "Action"),
    "alerts.bulk.submit": ("执行", "Apply"),
    "alerts.bulk.done": (
        "已处理 {done} 条告警，{refused} 条未能处理（状态不允许）。",
        "{done} alerts done, {refused} refused (not allowed in their state).",
    ),
    "alerts.bulk.none": ("请先勾选告警。", "Select alerts first."),
    "alerts.samples": ("抽检队列", "Sampling queue"),
    "alerts.group_chat": ("群 {room}", "Group {room}"),
    "alerts.single_chat": ("{a} ↔ {b}", "{a} ↔ {b}"),
    "alerts.no_conversation": ("（无会话）", "(no conversation)"),
    "alert.people": ("涉及人员", "People"),
    "alerts.messages": ("{count} 条消息", "{count} messages"),
    "alert.title": ("告警 #{id}", "Alert #{id}"),
    "alert.back": ("返回告警列表", "Back to the alerts"),
    "alert.facts": ("概况", "Facts"),
    "alert.category": ("类别", "Category"),
    "alert.source": ("来源", "Source"),
    "alert.window": ("时间窗口", "Window"),
    "alert.first_seen": ("首次出现", "First seen"),
    "alert.last_seen": ("最近出现", "Last seen"),
    "alert.disposition": ("处理结论", "Disposition"),
    "alert.routed": ("已通知", "Notified"),
    "alert.evidence": ("证据（已脱敏摘录）", "Evidence (masked excerpts)"),
    "alert.evidence.none": ("此告警没有逐条消息的证据。", "This alert lists no individual messages."),
    "alert.open_message": ("在会话中查看", "Show in the conversation"),
    "alert.open_conversation": ("打开会话", "Open the conversation"),
    "alert.content_note": (
        "查看原消息需要说明查阅目的，并会记入访问日志。",
        "Reading the messages asks for a purpose and is logged.",
    ),
    "alert.review": ("审核", "Review"),
    "alert.note": ("备注", "Note"),
    "alert.note.placeholder": ("处理说明、核查结果……", "What you found and did…"),
    "alert.disposition.choose": ("处理结论（解决时必填）", "Disposition (to resolve)"),
    "alert.assign_to": ("分配给（认领时，可留空）", "Assign to (when claiming; blank: yourself)"),
    "alert.no_actions": ("当前状态下没有可执行的操作。", "No action is possible in this state."),
    "alert.read_only": ("您的角色只能查看告警。", "Your role may only view alerts."),
    "alert.tags": ("标签", "Tags"),
    "alert.tags.none": ("无标签", "No tags"),
    "alert.tags.add": ("添加标签（逗号分隔）", "Add tags (comma-separated)"),
    "alert.tags.submit": ("添加标签", "Add tags"),
    "alert.tags.remove": ("移除标签 {tag}", "Remove tag {tag}"),
    "alert.trail": ("处理记录", "Trail"),
    "alert.trail.none": ("尚无处理记录。", "Nothing happened yet."),
    "alert.trail.who": ("人员", "Who"),
    "alert.trail.what": ("操作", "What"),
    "alert.trail.change": ("状态变化", "Change"),
    "alert.done": ("已保存。", "Saved."),
    "action.claim": ("认领", "Claim"),
    "action.release": ("退回队列", "Release"),
    "action.escalate": ("升级", "Escalate"),
    "action.resolve": ("解决", "Resolve"),
    "action.false_positive": ("误报", "False positive"),
    "action.reopen": ("重新打开", "Reopen"),
    "action.note": ("添加备注", "Add note"),
    "action.assign": ("分配", "Assign"),
    "action.tag": ("标签", "Tags"),
    "alerts.status.new": ("新", "new"),
    "alerts.status.claimed": ("已认领", "claimed"),
    "alerts.status.escalated": ("已升级", "escalated"),
    "alerts.status.resolved": ("已解决", "resolved"),
    "alerts.status.false_positive": ("误报", "false positive"),
    "disposition.no_action": ("无需处理", "No action"),
    "disposition.coached": ("已辅导", "Coached"),
    "disposition.warned": ("已警告", "Warned"),
    "disposition.disciplined": ("已处分", "Disciplined"),
    "disposition.reported": ("已上报", "Reported"),
    "disposition.customer_contacted": ("已联系客户", "Customer contacted"),
    "samples.title": ("抽检队列", "Sampling queue"),
    "samples.intro": (
        "按比例随机抽取未触发告警的会话做监督复查；同一天、同一种子的抽样结果可复现。",
        "A random share of conversations without alerts, drawn for supervisory review; "
        "the same day and seed give the same draw.",
    ),
    "samples.draw": ("抽取某一天的样本", "Draw a day's sample"),
    "samples.day": ("日期", "Day"),
    "samples.rate": ("抽样比例（0–1）", "Share (0–1)"),
    "samples.submit": ("抽取", "Draw"),
    "samples.drawn": ("已抽取 {count} 个会话。", "{count} conversations drawn."),
    "samples.pending": ("待复查", "To review"),
    "samples.reviewed": ("已复查", "Reviewed"),
    "samples.empty": ("抽检队列是空的。", "The sampling queue is empty."),
    "samples.empty.hint": (
        "抽取某一天的样本后，会话会出现在这里。",
        "Draw a day's sample and its conversations appear here.",
    ),
    "samples.period": ("时段（UTC）", "Period (UTC)"),
    "samples.conversation": ("会话", "Conversation"),
    "samples.complete": ("标记为已复查", "Mark reviewed"),
    "samples.note": ("复查备注", "Review note"),
    "samples.by": ("{who} 于 {when}", "{who} at {when}"),
    "samples.completed": ("已标记为已复查。", "Marked reviewed."),
}


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    where: Place | None  # None: the alert has no conversation
    excerpt: str


@dataclass(frozen=True)
class Filters:
    status: str
    severity: str
    rule: str
    assignee: str
    group: int | None
    corp: str

    def query(self, **changes: Any) -> str:
        values = {
            "status": self.status,
            "severity": self.severity,
            "rule": self.rule,
            "assignee": self.assignee,
            "group": self.group,
            "corp": self.corp,
        }
        return query_string(**(values | changes))


def _scope(session: Session, principal: Principal) -> DataScope:
    return resolve_scope(session, principal)


def visible_alert(session: Session, principal: Principal, alert_id: int) -> Alert:
    """The alert, if the caller's scope reaches it (``audit.alerts.visibility``, as the API's alert routes)."""
    alert = alert_in_scope(session, _scope(session, principal), alert_id)
    if alert is None:
        raise AlertNotFoundError(alert_id)
    return alert


def _excerpt(alert: Alert) -> str:
    for match in alert.explanation.get("matches", []):
        if match.get("excerpt"):
            return str(match["excerpt"])
    return ""


def _filter_clause(filters: Filters, scope: DataScope) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [visible_alerts(scope)]
    if filters.rule:
        clauses.append(Alert.rule == filters.rule)
    if filters.group is not None:
        clauses.append(Alert.conversation_id == filters.group)
    if filters.assignee == "none":
        clauses.append(Alert.assignee.is_(None))
    return and_(true(), *clauses)


def _choices(session: Session, corp: str, scope: DataScope) -> tuple[list[str], list[str], list[tuple[int, Name]]]:
    """The rules, assignees and group chats that alerts in scope have (for the filter menus)."""
    visible = visible_alerts(scope)
    rules = list(
        session.scalars(select(Alert.rule).where(Alert.corp_id == corp, visible).distinct().order_by(Alert.rule))
    )
    assignees = list(
        session.scalars(
            select(Alert.assignee)
            .where(Alert.corp_id == corp, visible, Alert.assignee.is_not(None))
            .distinct()
            .order_by(Alert.assignee)
        )
    )
    groups = session.execute(
        select(Conversation.id, Conversation.roomid)
        .where(
            Conversation.kind == "group",
            Conversation.id.in_(select(Alert.conversation_id).where(Alert.corp_id == corp, visible)),
        )
        .order_by(Conversation.roomid)
    ).all()
    # The group filter lists groups by name (the id beside it tells same-named ones apart).
    names = people_of(session, {row.roomid for row in groups if row.roomid})
    options = [(row.id, names.of(row.roomid or f"#{row.id}")) for row in groups]
    return (
        rules,
        [a for a in assignees if a],
        sorted(options, key=lambda option: (not option[1].synced, option[1].label)),
    )


@get("/alerts", guards=READ, sync_to_thread=True)
def alerts_page(
    request: Request[Any, Any, Any],
    status: FromQuery[str] = "open",
    severity: FromQuery[str] = "",
    rule: FromQuery[str] = "",
    assignee: FromQuery[str] = "",
    group: FromQuery[str] = "",
    corp: FromQuery[str] = "",
    before: FromQuery[int | None] = None,
    done: FromQuery[int | None] = None,
    refused: FromQuery[int | None] = None,
) -> Response[str]:
    principal = principal_of(request)
    if severity and severity not in {s.value for s in Severity}:
        raise InvalidInput(f"unknown severity {severity!r}")
    if status not in ("open", "all", *review.STATUSES):
        raise InvalidInput(f"unknown alert state {status!r}")
    if group and not group.isdigit():
        raise InvalidInput(f"unknown group {group!r}")
    with session_scope(context_of(request).session_factory) as session:
        corps = corp_ids(request, session)
        chosen_corp = corp if corp in corps else (corps[0] if corps else "")
        filters = Filters(
            status, severity, rule, assignee, int(group) if group else None, chosen_corp if len(corps) > 1 else ""
        )
        scope = _scope(session, principal)
        page: list[Alert] = []
        if chosen_corp:
            who = principal.username if assignee == "me" else assignee if assignee not in ("", "none") else None
            page = alerts.list_alerts(
                session,
                chosen_corp,
                statuses=review.OPEN_STATUSES if status == "open" else () if status == "all" else (status,),
                min_severity=Severity(severity) if severity else None,
                assignee=who,
                limit=ALERTS_PER_PAGE,
                before_id=before,
                visible=_filter_clause(filters, scope),
            )
        labels = places_of(session, {a.conversation_id for a in page if a.conversation_id})
        rows = [AlertRow(a, labels.get(a.conversation_id) if a.conversation_id else None, _excerpt(a)) for a in page]
        rules, assignees, groups = _choices(session, chosen_corp, scope) if chosen_corp else ([], [], [])
        session.expunge_all()
    here = f"{CONSOLE_PATH}/alerts{filters.query(before=before)}"
    return render(
        request,
        "alerts.html",
        principal=principal,
        rows=rows,
        filters=filters,
        corps=corps,
        rules=rules,
        assignees=assignees,
        groups=groups,
        severities=[s.value for s in Severity],
        statuses=review.STATUSES,
        dispositions=review.DISPOSITIONS,
        bulk_actions=BULK_ACTIONS,
        next_before=page[-1].id if len(page) == ALERTS_PER_PAGE else None,
        first_page=before is None,
        here=here,
        done=done,
        refused=refused,
        can_review=principal.can(Permission.ALERTS_REVIEW),
    )


@get("/alerts/{alert_id:int}", guards=READ, sync_to_thread=True)
def alert_page(
    request: Request[Any, Any, Any], alert_id: FromPath[int], saved: FromQuery[bool] = False
) -> Response[str]:
    principal = principal_of(request)
    with session_scope(context_of(request).session_factory) as session:
        alert = visible_alert(session, principal, alert_id)
        trail: Sequence[AlertTrail] = review.trail(session, alert_id)
        labels = places_of(session, {alert.conversation_id} if alert.conversation_id else set())
        # People a conversation-less alert is about (e.g. an employee's response time).
        named = [str(alert.explanation[key]) for key in PERSON_KEYS if alert.explanation.get(key)]
        named_people = [people_of(session, named).of(p) for p in named]
        session.expunge_all()
    matches = [m for m in masked_explanation(alert.explanation).get("matches", []) if m.get("message_id")]
    return render(
        request,
        "alert.html",
        principal=principal,
        alert=alert,
        where=labels.get(alert.conversation_id or 0),
        named_people=named_people,
        matches=matches,
        trail=trail,
        allowed=[*review.allowed_actions(alert.status), "note"],
        dispositions=review.DISPOSITIONS,
        can_review=principal.can(Permission.ALERTS_REVIEW),
        saved=saved,
    )


def apply_action(session: Session, alert_id: int, action: str, form: Form, actor: str, now: datetime) -> None:
    """One step of the review workflow (the same steps as ``POST /api/v1/alerts/{id}/review``)."""
    note = form.text("note")[:NOTE_MAX_CHARS] or None
    if action == "claim":
        review.claim(session, alert_id, actor=actor, now=now, assignee=form.text("assignee") or None)
    elif action == "release":
        review.release(session, alert_id, actor=actor, now=now, note=note)
    elif action == "escalate":
        review.escalate(session, alert_id, actor=actor, now=now, note=note)
    elif action == "resolve":
        disposition = form.text("disposition")
        if not disposition:
            raise InvalidInput("resolving needs a disposition", hint="choose one in the list, then resolve")
        review.resolve(session, alert_id, actor=actor, disposition=disposition, now=now, note=note)
    elif action == "false_positive":
        review.mark_false_positive(session, alert_id, actor=actor, now=now, note=note)
    elif action == "reopen":
        review.reopen(session, alert_id, actor=actor, now=now, note=note)
    elif action == "note":
        if not note:
            raise InvalidInput("a note needs text", hint="write the note, then add it")
        review.add_note(session, alert_id, actor=actor, note=note, now=now)
    else:
        raise InvalidInput(f"unknown review action {action!r}")


@post("/alerts/{alert_id:int}/review", guards=REVIEW, status_code=303)
async def review_alert(request: Request[Any, Any, Any], alert_id: FromPath[int]) -> Redirect:
    form, principal = await read_form(request), principal_of(request)
    action = form.text("action")

    def work() -> None:
        with session_scope(context_of(request).session_factory) as session:
            visible_alert(session, principal, alert_id)
            try:
                apply_action(session, alert_id, action, form, principal.username, utcnow())
            except AlertNotFoundError:
                raise
            except AssigneeRefusedError as exc:
                raise InvalidInput(str(exc), hint=exc.hint) from None
            except AlertError as exc:  # a step the alert's state refuses: say which and why
                raise Conflict(str(exc), hint="reload the alert to see its current state") from None

    await in_thread(work)
    return Redirect(f"{CONSOLE_PATH}/alerts/{alert_id}?saved=1", status_code=303)


@post("/alerts/{alert_id:int}/tags", guards=REVIEW, status_code=303)
async def tag_alert(request: Request[Any, Any, Any], alert_id: FromPath[int]) -> Redirect:
    form, principal = await read_form(request), principal_of(request)

    def work() -> None:
        with session_scope(context_of(request).session_factory) as session:
            visible_alert(session, principal, alert_id)
            review.tag(
                session,
                alert_id,
                actor=principal.username,
                now=utcnow(),
                add=[tag[:64] for tag in form.items("add")],
                remove=form.texts("remove"),
            )

    await in_thread(work)
    return Redirect(f"{CONSOLE_PATH}/alerts/{alert_id}?saved=1", status_code=303)


@post("/alerts/bulk", guards=REVIEW, status_code=303)
async def bulk_review(request: Request[Any, Any, Any]) -> Redirect:
    """One action on many alerts: each alone (a refused one leaves the others done)."""
    form, principal = await read_form(request), principal_of(request)
    ids, action = form.numbers("ids", "alert ids"), form.text("action")
    if action not in BULK_ACTIONS:
        raise InvalidInput(f"unknown bulk action {action!r}")

    def work() -> review.BulkResult:
        now = utcnow()
        with session_scope(context_of(request).session_factory) as session:
            scope = _scope(session, principal)
            visible = set(session.scalars(select(Alert.id).where(Alert.id.in_(ids), visible_alerts(scope))))
            if set(ids) - visible:
                raise OutOfScope("some of the selected alerts are outside your data scope")
            return review.bulk(
                session, ids, lambda alert_id: apply_action(session, alert_id, action, form, principal.username, now)
            )

    result = await in_thread(work) if ids else review.BulkResult()
    return back(form.text("next"), done=len(result.done), refused=len(result.refused))


# --- the sampling queue -----------------------------------------------------------------------


@dataclass(frozen=True)
class SampleRow:
    sample: ReviewSample
    where: Place | None


@get("/alerts/samples", guards=READ, sync_to_thread=True)
def samples_page(
    request: Request[Any, Any, Any],
    corp: FromQuery[str] = "",
    drawn: FromQuery[int | None] = None,
    completed: FromQuery[bool] = False,
) -> Response[str]:
    principal = principal_of(request)
    context = context_of(request)
    zone = ZoneInfo(context.settings.detection.timezone)
    with session_scope(context.session_factory) as session:
        corps = corp_ids(request, session)
        chosen = corp if corp in corps else (corps[0] if corps else "")
        scope = _scope(session, principal)
        found = sampling.samples(session, chosen) if chosen else []
        shown = [s for s in found if conversation_visible(session, scope, s.conversation_id)]
        shown.sort(key=lambda s: (s.status != sampling.PENDING, s.period, s.conversation_id))
        shown = shown[:SAMPLES_SHOWN]
        labels = places_of(session, {s.conversation_id for s in shown})
        session.expunge_all()
    yesterday = (utcnow().astimezone(zone) - timedelta(days=1)).date()
    return render(
        request,
        "samples.html",
        principal=principal,
        rows=[SampleRow(s, labels.get(s.conversation_id)) for s in shown],
        corp=chosen if len(corps) > 1 else "",
        default_day=yesterday.isoformat(),
        default_rate=context.settings.alerts.sampling_rate,
        drawn=drawn,
        completed=completed,
        can_review=principal.can(Permission.ALERTS_REVIEW),
    )


@post("/alerts/samples/draw", guards=REVIEW, status_code=303)
async def draw_samples(request: Request[Any, Any, Any]) -> Redirect:
    """Draw a day's sample, as ``wecom-audit alerts sample --day`` does."""
    form = await read_form(request)
    context = context_of(request)
    try:
        day = date.fromisoformat(form.text("day"))
        rate = float(form.text("rate") or context.settings.alerts.sampling_rate)
    except ValueError:
        raise InvalidInput("give the day as YYYY-MM-DD and the share as a number between 0 and 1") from None
    zone = ZoneInfo(context.settings.detection.timezone)
    start = datetime.combine(day, time(), zone).astimezone(UTC)

    def work() -> int:
        with session_scope(context.session_factory) as session:
            corps = corp_ids(request, session)
            corp = form.text("corp") if form.text("corp") in corps else (corps[0] if corps else "")
            if not corp:
                raise InvalidInput("no corp is archived yet")
            try:
                drawn = sampling.draw_sample(
                    session,
                    corp,
                    start=start,
                    end=start + timedelta(days=1),
                    rate=rate,
                    seed=context.settings.alerts.sampling_seed,
                    now=utcnow(),
                )
            except AlertError as exc:
                raise InvalidInput(str(exc)) from None
            return len(drawn)

    count = await in_thread(work)
    return back(f"{CONSOLE_PATH}/alerts/samples", drawn=count)


@post("/alerts/samples/{sample_id:int}/complete", guards=REVIEW, status_code=303)
async def complete_sample(request: Request[Any, Any, Any], sample_id: FromPath[int]) -> Redirect:
    form, principal = await read_form(request), principal_of(request)

    def work() -> None:
        with session_scope(context_of(request).session_factory) as session:
            sample = session.get(ReviewSample, sample_id)
            if sample is None or not conversation_visible(session, _scope(session, principal), sample.conversation_id):
                raise OutOfScope("this sample's conversation is outside your data scope")
            try:
                sampling.complete_sample(
                    session,
                    sample_id,
                    reviewer=principal.username,
                    note=form.text("note")[:NOTE_MAX_CHARS] or None,
                    now=utcnow(),
                )
            except AlertError as exc:
                raise InvalidInput(str(exc)) from None

    await in_thread(work)
    return back(f"{CONSOLE_PATH}/alerts/samples", completed=1)


HANDLERS = [alerts_page, samples_page, alert_page, review_alert, tag_alert, bulk_review, draw_samples, complete_sample]
