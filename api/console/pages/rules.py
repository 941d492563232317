"""Rules and lexicons: the word groups detection matches (``audit.detect.rules``), edited
one at a time, imported and exported as CSV or Excel, and simulated over the last days of
stored messages before they are saved or enabled (``audit.review.simulate``).

The console edits the global groups (those every corp uses), as ``wecom-audit lexicon``
does; corp-specific groups are listed and managed through the API (``?corp_id=``). Every
change is an admin action in the access log with the same action names as the API
(``admin.rules.*``). A simulation writes nothing; its counts cover the whole corp, its
masked sample excerpts only conversations in the caller's scope (as the API's).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect

from api.auth.guards import context_of
from api.console.auth import principal_of, signed_in
from api.console.nav import CONSOLE_PATH
from api.console.pages.alerts import form_of
from api.console.pages.formdata import FORM_BODY, Form, back
from api.console.people import people_of
from api.console.render import render
from api.unit_of_work import Db
from archive.clock import utcnow
from archive.corps import corp_in_question
from archive.directory.names import Name
from audit.detect.hits import Severity
from audit.detect.rules import admin as rules_admin
from audit.detect.rules import io as rules_io
from audit.detect.rules.models import GLOBAL_CORP
from audit.detect.rules.spec import CHAT_KIND_SCOPES, DIRECTIONS, LexiconGroup, RuleError, RuleSet
from audit.errors import Conflict, InvalidInput, NotFound
from audit.review.simulate import RuleSimulation, simulate_for
from audit.security.roles import Permission

READ = [signed_in(Permission.RULES_READ)]
WRITE = [signed_in(Permission.RULES_WRITE)]
SIMULATION_DAYS = (1, 7, 30, 90)
NAME_MAX_CHARS = 128
LABEL_MAX_CHARS = 64
TERM_MAX_CHARS = 256
TERMS_MAX = 5000
IMPORT_MAX_BYTES = 4 << 20
EXCEL = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

MESSAGES = {
    "rules.title": ("规则与词库", "Rules and lexicons"),
    "rules.intro": (
        "每个词组的词语命中时产生该词组的规则命中（类别、严重程度）。修改会记入访问日志。",
        "Each word group's terms raise hits of its rule (category, severity). Changes are written to the access log.",
    ),
    "rules.new": ("新建词组", "New word group"),
    "rules.export_csv": ("导出 CSV", "Export CSV"),
    "rules.export_xlsx": ("导出 Excel", "Export Excel"),
    "rules.import": ("导入 CSV 或 Excel", "Import CSV or Excel"),
    "rules.import.file": ("文件（.csv / .xlsx，列：{columns}）", "File (.csv / .xlsx, columns: {columns})"),
    "rules.import.submit": ("导入", "Import"),
    "rules.import.hint": ("同名词组会被替换，其他词组保留。", "Groups of the same name are replaced; others are kept."),
    "rules.imported": ("已导入 {count} 个词组。", "{count} word groups imported."),
    "rules.saved": ("已保存词组 {name}。", "Word group {name} saved."),
    "rules.deleted": ("已删除词组 {name}。", "Word group {name} deleted."),
    "rules.empty": ("还没有词组。", "No word groups yet."),
    "rules.empty.hint": (
        "新建一个词组，或导入 CSV / Excel 文件。",
        "Create a word group or import a CSV or Excel file.",
    ),
    "rules.col.name": ("词组", "Group"),
    "rules.col.category": ("类别", "Category"),
    "rules.col.severity": ("严重程度", "Severity"),
    "rules.col.terms": ("词语", "Terms"),
    "rules.col.scope": ("适用范围", "Applies to"),
    "rules.col.enabled": ("状态", "State"),
    "rules.enabled": ("启用", "enabled"),
    "rules.disabled": ("停用", "disabled"),
    "rules.enable": ("启用", "Enable"),
    "rules.disable": ("停用", "Disable"),
    "rules.edit": ("编辑", "Edit"),
    "rules.delete": ("删除", "Delete"),
    "rules.delete.confirm": ("删除这个词组及其全部词语？", "Delete this word group and all its terms?"),
    "rules.scope.everywhere": ("全部会话", "everywhere"),
    "rules.scope.limited": ("部分部门/员工/群", "some departments, staff or groups"),
    "rules.corp_only": ("企业专属", "corp's own"),
    "rules.starter": (
        "正在使用内置的初始词库（尚未存入数据库）；第一次修改或导入时会先把它们存入数据库。",
        "The built-in starter lexicons are in use (not stored yet); the first change or import stores them first.",
    ),
    "rule.title.new": ("新建词组", "New word group"),
    "rule.title.edit": ("编辑词组 {name}", "Edit word group {name}"),
    "rule.back": ("返回规则列表", "Back to the rules"),
    "rule.name": ("名称（即规则名）", "Name (the rule's name)"),
    "rule.category": ("类别（如 fraud.rebate）", "Category (e.g. fraud.rebate)"),
    "rule.severity": ("严重程度", "Severity"),
    "rule.terms": ("词语（每行一个）", "Terms (one per line)"),
    "rule.exclusions": (
        "排除短语（包含词语但无风险，每行一个）",
        "Exclusions (harmless phrases containing a term; one per line)",
    ),
    "rule.allowed": (
        "允许的上下文（消息含有时不报，每行一个）",
        "Allowed contexts (a message containing one raises nothing; one per line)",
    ),
    "rule.direction": ("发送方向", "Direction"),
    "rule.direction.any": ("任意", "any"),
    "rule.direction.staff": ("员工发出", "sent by staff"),
    "rule.direction.customer": ("客户发出", "sent by customers"),
    "rule.chat_kind": ("会话类型", "Chats"),
    "rule.chat_kind.any": ("全部", "all"),
    "rule.chat_kind.single": ("单聊", "one-to-one"),
    "rule.chat_kind.group": ("群聊", "groups"),
    "rule.chat_kind.internal": ("内部会话", "internal"),
    "rule.departments": (
        "仅限部门（编号，逗号分隔；留空为全部）",
        "Only departments (ids, comma-separated; blank: all)",
    ),
    "rule.employees": ("仅限员工（userid，逗号分隔）", "Only staff (userids, comma-separated)"),
    "rule.rooms": ("仅限群（roomid，逗号分隔）", "Only groups (roomids, comma-separated)"),
    "rule.limited_to": ("即：", "That is: "),
    "rule.enabled": ("启用（保存后立即用于检测）", "Enabled (used by detection once saved)"),
    "rule.save": ("保存", "Save"),
    "rule.simulate": ("模拟（不保存）", "Simulate (saves nothing)"),
    "rule.simulate.days": ("模拟最近", "Simulate over the last"),
    "rule.simulate.day_option": ("{days} 天", "{days} days"),
    "rule.simulation": ("模拟结果", "Simulation"),
    "rule.simulation.summary": (
        "最近 {days} 天共扫描 {scanned} 条消息：命中 {hits} 次，涉及 {messages} 条消息，将产生 {alerts} 条告警。",
        "{scanned} messages of the last {days} days scanned: {hits} hits in {messages} messages, {alerts} alerts.",
    ),
    "rule.simulation.samples": (
        "命中示例（已脱敏，仅限您数据范围内的会话）",
        "Sample hits (masked; conversations in your scope only)",
    ),
    "rule.simulation.none": ("没有命中。", "Nothing would match."),
    "rule.simulation.nothing_saved": (
        "模拟不会保存词组，也不会产生命中或告警。",
        "A simulation saves nothing and raises no hit or alert.",
    ),
}


@dataclass(frozen=True)
class Draft:
    """The word group form as typed (kept when a simulation or an error re-shows it)."""

    original: str
    name: str
    category: str
    severity: str
    terms: str
    exclusions: str
    allowed: str
    direction: str
    chat_kind: str
    departments: str
    employees: str
    rooms: str
    enabled: bool

    @classmethod
    def of(cls, group: LexiconGroup | None) -> Draft:
        if group is None:
            return cls("", "", "", "medium", "", "", "", "any", "any", "", "", "", False)
        return cls(
            group.name,
            group.name,
            group.category,
            group.severity.value,
            "\n".join(group.terms),
            "\n".join(group.exclusions),
            "\n".join(group.allowed_contexts),
            group.direction,
            group.chat_kind,
            ", ".join(str(d) for d in sorted(group.departments)),
            ", ".join(sorted(group.employees)),
            ", ".join(sorted(group.rooms)),
            group.enabled,
        )

    @classmethod
    def from_form(cls, form: Form) -> Draft:
        return cls(
            form.text("original"),
            form.text("name"),
            form.text("category"),
            form.text("severity"),
            form.text("terms"),
            form.text("exclusions"),
            form.text("allowed"),
            form.text("direction", "any"),
            form.text("chat_kind", "any"),
            form.text("departments"),
            form.text("employees"),
            form.text("rooms"),
            form.checked("enabled"),
        )


def _texts(values: list[str], what: str, limit: int = TERM_MAX_CHARS) -> tuple[str, ...]:
    if len(values) > TERMS_MAX:
        raise InvalidInput(f"at most {TERMS_MAX} {what}")
    too_long = [v for v in values if len(v) > limit]
    if too_long:
        raise InvalidInput(f"{what} are at most {limit} characters: {too_long[0][:20]}…")
    return tuple(values)


def group_of(form: Form) -> LexiconGroup:
    """The form as a word group (the API's ``RuleGroupIn`` limits, checked here)."""
    name, category, severity = form.text("name"), form.text("category"), form.text("severity")
    if not name or len(name) > NAME_MAX_CHARS:
        raise InvalidInput(f"a word group needs a name of 1 to {NAME_MAX_CHARS} characters")
    if not category or len(category) > LABEL_MAX_CHARS:
        raise InvalidInput(f"a word group needs a category of 1 to {LABEL_MAX_CHARS} characters")
    if severity not in {s.value for s in Severity}:
        raise InvalidInput(f"severity must be one of {', '.join(s.value for s in Severity)}")
    terms = _texts(form.lines("terms"), "terms")
    if not terms:
        raise InvalidInput("a word group needs at least one term", hint="one term per line")
    direction, chat_kind = form.text("direction", "any"), form.text("chat_kind", "any")
    if direction not in DIRECTIONS or chat_kind not in CHAT_KIND_SCOPES:
        raise InvalidInput("unknown direction or chat kind")
    try:
        departments = frozenset(int(d) for d in form.items("departments"))
    except ValueError:
        raise InvalidInput("department ids are numbers") from None
    try:
        return LexiconGroup(
            name=name,
            category=category,
            severity=Severity(severity),
            terms=terms,
            direction=direction,
            chat_kind=chat_kind,
            departments=departments,
            employees=frozenset(_texts(form.items("employees"), "staff ids", LABEL_MAX_CHARS)),
            rooms=frozenset(_texts(form.items("rooms"), "room ids", LABEL_MAX_CHARS)),
            exclusions=_texts(form.lines("exclusions"), "exclusions"),
            allowed_contexts=_texts(form.lines("allowed"), "allowed contexts"),
            enabled=form.checked("enabled"),
        )
    except RuleError as exc:
        raise InvalidInput(str(exc)) from None


def _lexicon_dir(request: Request[Any, Any, Any]) -> Path | None:
    return context_of(request).settings.detection.lexicon_data_dir


@get("/rules", guards=READ, sync_to_thread=True)
def rules_page(
    request: Request[Any, Any, Any],
    db: Db,
    saved: FromQuery[str] = "",
    deleted: FromQuery[str] = "",
    imported: FromQuery[int | None] = None,
) -> Response[str]:
    principal = principal_of(request)
    groups, starter = rules_admin.lexicon(db, None, _lexicon_dir(request))
    return render(
        request,
        "rules.html",
        principal=principal,
        groups=groups,
        global_names=rules_admin.global_group_names(db, _lexicon_dir(request)),
        columns=", ".join(rules_io.COLUMNS),
        starter=starter,
        saved=saved,
        deleted=deleted,
        imported=imported,
        can_write=principal.can(Permission.RULES_WRITE),
    )


def _edit_page(
    request: Request[Any, Any, Any],
    draft: Draft,
    *,
    simulation: RuleSimulation | None = None,
    days: int = 7,
    error: str | None = None,
    status_code: int = 200,
    names: list[Name] | None = None,
) -> Response[str]:
    return render(
        request,
        "rule_edit.html",
        names=names,
        principal=principal_of(request),
        status_code=status_code,
        draft=draft,
        severities=[s.value for s in Severity],
        directions=DIRECTIONS,
        chat_kinds=CHAT_KIND_SCOPES,
        simulation=simulation,
        samples=simulation.samples.get(draft.name, []) if simulation else [],
        days=days,
        day_options=SIMULATION_DAYS,
        error=error,
    )


@get("/rules/new", guards=WRITE, sync_to_thread=False)
def new_rule(request: Request[Any, Any, Any]) -> Response[str]:
    return _edit_page(request, Draft.of(None))


@get("/rules/edit", guards=WRITE, sync_to_thread=True)
def edit_rule(request: Request[Any, Any, Any], db: Db, name: FromQuery[str]) -> Response[str]:
    group = rules_admin.global_group(db, name, _lexicon_dir(request))
    if group is None:
        raise NotFound(f"no global word group named {name!r}", hint="corp-specific groups are managed with the API")
    return _edit_page(request, Draft.of(group), names=_names_of(db, group))


def _names_of(db: Db, group: LexiconGroup) -> list[Name]:
    """The staff and groups a word group is limited to, by name (the fields hold their ids)."""
    ids = sorted({*group.employees, *group.rooms})
    names = people_of(db, ids)
    return [names.of(wecom_id) for wecom_id in ids]


def _simulate(request: Request[Any, Any, Any], db: Db, group: LexiconGroup, days: int) -> RuleSimulation:
    """The draft alone over the last ``days`` days (as ``POST /api/v1/rules/simulate``)."""
    settings = context_of(request).settings
    return simulate_for(
        db,
        principal_of(request),
        # Simulated as if enabled: judging a group before enabling it is the point.
        RuleSet((replace(group, enabled=True),)),
        corp_id=corp_in_question(db, settings, None),
        days=days,
        until=utcnow(),
        detection=settings.detection,
        alerts=settings.alerts,
    )


@post("/rules/save", guards=WRITE, sync_to_thread=True)
def save_rule(request: Request[Any, Any, Any], db: Db, data: Annotated[dict[str, Any], FORM_BODY]) -> Response[Any]:
    """Save the form (``action=save``) or simulate it without saving (``action=simulate``)."""
    form = form_of(data)
    draft = Draft.from_form(form)
    days = form.number("days", "the simulated days") or 7
    if days not in SIMULATION_DAYS:
        days = 7
    try:
        group = group_of(form)
    except InvalidInput as exc:
        return _edit_page(request, draft, days=days, error=str(exc), status_code=400)
    if form.text("action") == "simulate":
        simulation = _simulate(request, db, group, days)
        return _edit_page(request, draft, simulation=simulation, days=days, names=_names_of(db, group))
    try:
        # Checked before anything is stored: a refused save changes nothing.
        rules_admin.save(
            db, principal_of(request), group, original=draft.original, now=utcnow(), lexicon_dir=_lexicon_dir(request)
        )
    except (InvalidInput, Conflict, NotFound) as exc:
        return _edit_page(request, draft, days=days, error=str(exc), status_code=400)
    return back(f"{CONSOLE_PATH}/rules", saved=group.name)


@post("/rules/toggle", guards=WRITE, status_code=303, sync_to_thread=True)
def toggle_rule(request: Request[Any, Any, Any], db: Db, data: Annotated[dict[str, Any], FORM_BODY]) -> Redirect:
    form = form_of(data)
    name, enabled = form.text("name"), form.checked("enabled")
    rules_admin.set_enabled(db, principal_of(request), name, enabled, GLOBAL_CORP, utcnow(), _lexicon_dir(request))
    return back(f"{CONSOLE_PATH}/rules", saved=name)


@post("/rules/delete", guards=WRITE, status_code=303, sync_to_thread=True)
def delete_rule(request: Request[Any, Any, Any], db: Db, data: Annotated[dict[str, Any], FORM_BODY]) -> Redirect:
    name = form_of(data).text("name")
    rules_admin.delete(db, principal_of(request), name, GLOBAL_CORP, utcnow(), _lexicon_dir(request))
    return back(f"{CONSOLE_PATH}/rules", deleted=name)


@get("/rules/export.csv", guards=READ, sync_to_thread=True)
def export_csv(request: Request[Any, Any, Any], db: Db) -> Response[bytes]:
    # With a BOM: Excel opens a UTF-8 CSV of Chinese text correctly only with one.
    groups, _ = rules_admin.lexicon(db, None, _lexicon_dir(request))
    body = ("\ufeff" + rules_io.csv_text(groups)).encode("utf-8")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="lexicon.csv"'},
    )


@get("/rules/export.xlsx", guards=READ, sync_to_thread=True)
def export_xlsx(request: Request[Any, Any, Any], db: Db) -> Response[bytes]:
    groups, _ = rules_admin.lexicon(db, None, _lexicon_dir(request))
    return Response(
        rules_admin.excel_bytes(groups),
        media_type=EXCEL,
        headers={"Content-Disposition": 'attachment; filename="lexicon.xlsx"'},
    )


@post(
    "/rules/import",
    guards=WRITE,
    status_code=303,
    request_max_body_size=IMPORT_MAX_BYTES + 65536,
    sync_to_thread=True,
)
def import_rules(
    request: Request[Any, Any, Any],
    db: Db,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Redirect:
    upload = form_of(data).files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("choose a .csv or .xlsx file to import")
    content = upload.file.read(IMPORT_MAX_BYTES + 1)
    if len(content) > IMPORT_MAX_BYTES:
        raise InvalidInput(f"the file is larger than {IMPORT_MAX_BYTES >> 20} MB")
    groups = rules_admin.groups_from_upload(upload.filename, content)
    if not groups:
        raise InvalidInput("the file holds no word group")
    count = rules_admin.import_groups(db, principal_of(request), groups, utcnow(), _lexicon_dir(request))
    return back(f"{CONSOLE_PATH}/rules", imported=count)


HANDLERS = [rules_page, new_rule, edit_rule, save_rule, toggle_rule, delete_rule, export_csv, export_xlsx, import_rules]
