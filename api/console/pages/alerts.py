"""Alerts: the review queue (filters, bulk actions), one alert with its evidence, trail,
notes and tags, and the sampling queue of unflagged conversations.

Everything is a use case of ``audit.review`` (``queue``, ``actions``, ``sampling``), the
same calls as ``api.routes.workflow`` and ``api.routes.review``, within the caller's data
scope. An alert carries masked excerpts only; its messages open in the conversation view
(``/console/conversations/<id>?anchor=``), which reads them through the access gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from api.auth.guards import context_of
from api.console.auth import principal_of, signed_in
from api.console.nav import CONSOLE_PATH
from api.console.pages.formdata import FORM_BODY, Form, back, corp_ids, query_string
from api.console.render import render
from api.unit_of_work import Db
from archive.clock import utcnow
from archive.directory.names import Place, places_of
from audit.alerts.evidence import masked_explanation
from audit.alerts.models import Alert
from audit.detect.hits import Severity
from audit.errors import InvalidInput
from audit.review import actions, queue, sampling
from audit.review import service as review
from audit.review.actions import NOTE_MAX_CHARS, TAG_MAX_CHARS, ReviewStep
from audit.review.models import ReviewSample
from audit.review.queue import AlertFilters
from audit.security.roles import Permission

ALERTS_PER_PAGE = 50
SAMPLES_SHOWN = sampling.SAMPLES_SHOWN
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


def form_of(data: dict[str, Any]) -> Form:
    """A posted form (parsed by Litestar: one value, or a list of repeated ones, per name)."""
    values: dict[str, list[str]] = {}
    files: dict[str, UploadFile] = {}
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, UploadFile):
                files[key] = item
            else:
                values.setdefault(key, []).append(str(item))
    return Form(values, files)


def _excerpt(alert: Alert) -> str:
    for match in alert.explanation.get("matches", []):
        if match.get("excerpt"):
            return str(match["excerpt"])
    return ""


@get("/alerts", guards=READ, sync_to_thread=True)
def alerts_page(
    request: Request[Any, Any, Any],
    db: Db,
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
    corps = corp_ids(request, db)
    chosen_corp = corp if corp in corps else (corps[0] if corps else "")
    filters = Filters(
        status, severity, rule, assignee, int(group) if group else None, chosen_corp if len(corps) > 1 else ""
    )
    rows: list[AlertRow] = []
    page: list[Alert] = []
    choices = queue.FilterChoices([], [], [])
    if chosen_corp:
        who = principal.username if assignee == "me" else assignee if assignee not in ("", "none") else None
        wanted = AlertFilters(
            statuses=review.OPEN_STATUSES if status == "open" else () if status == "all" else (status,),
            min_severity=Severity(severity) if severity else None,
            rule=rule or None,
            assignee=who,
            unassigned=assignee == "none",
            conversation_id=filters.group,
        )
        listing = queue.alerts_for(db, principal, chosen_corp, wanted, limit=ALERTS_PER_PAGE, before_id=before)
        page = listing.alerts
        rows = [AlertRow(a, listing.place(a), _excerpt(a)) for a in page]
        choices = queue.filter_choices(db, principal, chosen_corp)
    here = f"{CONSOLE_PATH}/alerts{filters.query(before=before)}"
    return render(
        request,
        "alerts.html",
        principal=principal,
        rows=rows,
        filters=filters,
        corps=corps,
        rules=choices.rules,
        assignees=choices.assignees,
        groups=choices.groups,
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
    request: Request[Any, Any, Any], db: Db, alert_id: FromPath[int], saved: FromQuery[bool] = False
) -> Response[str]:
    principal = principal_of(request)
    detail = queue.alert_detail(db, principal, alert_id)
    alert = detail.alert
    matches = [m for m in masked_explanation(alert.explanation).get("matches", []) if m.get("message_id")]
    return render(
        request,
        "alert.html",
        principal=principal,
        alert=alert,
        where=detail.place,
        named_people=detail.people,  # whom a conversation-less alert is about
        matches=matches,
        trail=detail.trail,
        allowed=[*detail.allowed_actions, "note"],
        dispositions=review.DISPOSITIONS,
        can_review=principal.can(Permission.ALERTS_REVIEW),
        saved=saved,
    )


def step_of(action: str, form: Form) -> ReviewStep:
    """The review form (or the bulk form) as a step of the workflow."""
    return ReviewStep(
        action,
        note=form.text("note")[:NOTE_MAX_CHARS] or None,
        disposition=form.text("disposition") or None,
        assignee=form.text("assignee") or None,
    )


@post("/alerts/{alert_id:int}/review", guards=REVIEW, status_code=303, sync_to_thread=True)
def review_alert(
    request: Request[Any, Any, Any],
    db: Db,
    alert_id: FromPath[int],
    data: Annotated[dict[str, Any], FORM_BODY],
) -> Redirect:
    form = form_of(data)
    action = form.text("action")
    if action not in FORM_ACTIONS:
        raise InvalidInput(f"unknown review action {action!r}")
    # A refusal is an audit error of its kind (missing 404, bad assignee or note 400, a step
    # the alert's state refuses 409, with its hint): the console's error page says which.
    actions.review_alert(db, principal_of(request), alert_id, step_of(action, form), utcnow())
    return Redirect(f"{CONSOLE_PATH}/alerts/{alert_id}?saved=1", status_code=303)


@post("/alerts/{alert_id:int}/tags", guards=REVIEW, status_code=303, sync_to_thread=True)
def tag_alert(
    request: Request[Any, Any, Any],
    db: Db,
    alert_id: FromPath[int],
    data: Annotated[dict[str, Any], FORM_BODY],
) -> Redirect:
    form = form_of(data)
    step = ReviewStep(
        "tag", add_tags=[tag[:TAG_MAX_CHARS] for tag in form.items("add")], remove_tags=form.texts("remove")
    )
    actions.review_alert(db, principal_of(request), alert_id, step, utcnow())
    return Redirect(f"{CONSOLE_PATH}/alerts/{alert_id}?saved=1", status_code=303)


@post("/alerts/bulk", guards=REVIEW, status_code=303, sync_to_thread=True)
def bulk_review(request: Request[Any, Any, Any], db: Db, data: Annotated[dict[str, Any], FORM_BODY]) -> Redirect:
    """One action on many alerts: each alone (a refused one leaves the others done)."""
    form, principal = form_of(data), principal_of(request)
    ids, action = form.numbers("ids", "alert ids"), form.text("action")
    if action not in BULK_ACTIONS:
        raise InvalidInput(f"unknown bulk action {action!r}")
    result = (
        actions.review_alerts(db, principal, ids, step_of(action, form), actor=principal.username, now=utcnow())
        if ids
        else review.BulkResult()
    )
    return back(form.text("next"), done=len(result.done), refused=len(result.refused))


# --- the sampling queue -----------------------------------------------------------------------


@dataclass(frozen=True)
class SampleRow:
    sample: ReviewSample
    where: Place | None


@get("/alerts/samples", guards=READ, sync_to_thread=True)
def samples_page(
    request: Request[Any, Any, Any],
    db: Db,
    corp: FromQuery[str] = "",
    drawn: FromQuery[int | None] = None,
    completed: FromQuery[bool] = False,
) -> Response[str]:
    principal = principal_of(request)
    settings = context_of(request).settings
    zone = ZoneInfo(settings.detection.timezone)
    corps = corp_ids(request, db)
    chosen = corp if corp in corps else (corps[0] if corps else "")
    shown = sampling.samples_for(db, principal, chosen, limit=SAMPLES_SHOWN) if chosen else []
    labels = places_of(db, {s.conversation_id for s in shown})
    yesterday = (utcnow().astimezone(zone) - timedelta(days=1)).date()
    return render(
        request,
        "samples.html",
        principal=principal,
        rows=[SampleRow(s, labels.get(s.conversation_id)) for s in shown],
        corp=chosen if len(corps) > 1 else "",
        default_day=yesterday.isoformat(),
        default_rate=settings.alerts.sampling_rate,
        drawn=drawn,
        completed=completed,
        can_review=principal.can(Permission.ALERTS_REVIEW),
    )


@post("/alerts/samples/draw", guards=REVIEW, status_code=303, sync_to_thread=True)
def draw_samples(request: Request[Any, Any, Any], db: Db, data: Annotated[dict[str, Any], FORM_BODY]) -> Redirect:
    """Draw a day's sample, as ``wecom-audit alerts sample --day`` and ``POST /api/v1/alerts/samples`` do."""
    form = form_of(data)
    settings = context_of(request).settings
    try:
        day = date.fromisoformat(form.text("day"))
        rate = float(form.text("rate") or settings.alerts.sampling_rate)
    except ValueError:
        raise InvalidInput("give the day as YYYY-MM-DD and the share as a number between 0 and 1") from None
    corps = corp_ids(request, db)
    corp = form.text("corp") if form.text("corp") in corps else (corps[0] if corps else "")
    if not corp:
        raise InvalidInput("no corp is archived yet")
    drawn = sampling.draw_day(
        db,
        corp,
        day,
        zone=ZoneInfo(settings.detection.timezone),
        rate=rate,
        seed=settings.alerts.sampling_seed,
        now=utcnow(),
    )
    return back(f"{CONSOLE_PATH}/alerts/samples", drawn=len(drawn))


@post("/alerts/samples/{sample_id:int}/complete", guards=REVIEW, status_code=303, sync_to_thread=True)
def complete_sample(
    request: Request[Any, Any, Any],
    db: Db,
    sample_id: FromPath[int],
    data: Annotated[dict[str, Any], FORM_BODY],
) -> Redirect:
    note = form_of(data).text("note")[:NOTE_MAX_CHARS] or None
    sampling.complete_for(db, principal_of(request), sample_id, note=note, now=utcnow())
    return back(f"{CONSOLE_PATH}/alerts/samples", completed=1)


HANDLERS = [alerts_page, samples_page, alert_page, review_alert, tag_alert, bulk_review, draw_samples, complete_sample]
