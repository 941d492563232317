"""Settings (administrators): the corps, the private-key versions registered (version,
file, public-key fingerprint — never key material), retention policies and holds, the
search backend and the scheduler's jobs.

Only retention policies change here (``archive.retention.service``, the same rules as
``wecom-audit retention policy``: shortening needs a reason, a locked policy never
shortens; each change is in the retention history). Everything else is read-only: keys
are registered with ``wecom-audit keys add`` and the rest is the configuration file. No
secret is ever rendered (secrets show only as "set")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast
from urllib.parse import urlsplit, urlunsplit

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from api.auth.guards import context_of
from api.console.auth import principal_of, signed_in
from api.console.nav import CONSOLE_PATH
from api.console.pages.formdata import FORM_BODY, Form, back, corp_ids
from api.console.render import render
from api.scheduler import PullScheduler
from api.unit_of_work import Db
from archive.errors import ArchiveError
from archive.retention.errors import RetentionError
from archive.retention.rules import CHAT_TYPES
from archive.retention.service import Actor, RetentionService, corp_retention
from archive.retention.views import PolicyScope
from audit.errors import Conflict
from audit.security.roles import Permission
from config.settings import redact_url

ADMIN = [signed_in(Permission.USERS_ADMIN)]
RUNS_SHOWN = 5

MESSAGES = {
    "settings.title": ("设置", "Settings"),
    "settings.read_only": (
        "这里只能修改保留策略：密钥用 wecom-audit keys add 登记，其余在配置文件中修改。",
        "Only retention policies change here: register keys with wecom-audit keys add and change the rest in the "
        "configuration file.",
    ),
    "settings.saved": ("已保存。", "Saved."),
    "settings.policy.add": ("添加保留策略", "Add a retention policy"),
    "settings.policy.scope.corp": ("整个企业", "the whole corp"),
    "settings.policy.scope.department": ("部门（编号）", "a department (id)"),
    "settings.policy.scope.chat": ("会话类型", "a kind of chat"),
    "settings.policy.department": ("部门编号（范围为部门时）", "Department id (for a department)"),
    "settings.policy.chat_type": ("会话类型（范围为会话类型时）", "Chat kind (for a kind of chat)"),
    "settings.policy.reason": ("原因", "Reason"),
    "settings.policy.create": ("添加", "Add"),
    "settings.policy.set_days": ("修改天数", "Change"),
    "settings.policy.shorten_hint": (
        "缩短保留期需要填写原因；已锁定的策略不能缩短。",
        "Shortening needs a reason; a locked policy never shortens.",
    ),
    "settings.policy.lock": ("锁定（不可撤销）", "Lock (irreversible)"),
    "settings.policy.lock.confirm": (
        "锁定后任何人都不能再缩短此策略。确定？",
        "Once locked nobody can shorten this policy. Lock it?",
    ),
    "chat_type.single_external": ("外部单聊", "one-to-one with customers"),
    "chat_type.single_internal": ("内部单聊", "one-to-one internal"),
    "chat_type.group": ("群聊", "group chats"),
    "settings.corps": ("企业", "Corps"),
    "settings.corps.none": ("还没有配置企业。", "No corp is configured."),
    "settings.corp_id": ("企业 ID", "Corp id"),
    "settings.api": ("企业微信接口地址", "WeCom API"),
    "settings.archive_secret": ("会话存档 Secret", "Archive secret"),
    "settings.contact_secret": ("客户联系 Secret", "Contact secret"),
    "settings.set": ("已设置", "set"),
    "settings.unset": ("未设置", "not set"),
    "settings.keys": ("私钥版本", "Private key versions"),
    "settings.keys.intro": (
        "只显示版本、文件位置和公钥指纹，从不显示私钥内容。",
        "Versions, files and public-key fingerprints only; never the key material.",
    ),
    "settings.keys.none": (
        "没有登记私钥。用 wecom-audit keys add --version N private.pem 添加。",
        "No key registered. Add one with wecom-audit keys add --version N private.pem.",
    ),
    "settings.key.version": ("publickey_ver", "publickey_ver"),
    "settings.key.file": ("文件", "File"),
    "settings.key.fingerprint": ("公钥 SHA-256", "Public key SHA-256"),
    "settings.key.unreadable": ("无法读取：{error}", "unreadable: {error}"),
    "settings.keys.error": ("无法读取私钥：{error}", "The keys cannot be read: {error}"),
    "settings.retention": ("保留策略", "Retention"),
    "settings.retention.none": ("没有保留策略：存档永不删除。", "No retention policy: nothing is ever disposed."),
    "settings.policy.name": ("名称", "Name"),
    "settings.policy.scope": ("范围", "Scope"),
    "settings.policy.days": ("保留天数", "Days kept"),
    "settings.policy.locked": ("已锁定", "locked"),
    "settings.policy.updated": ("更新", "Updated"),
    "settings.holds": ("生效中的法律保全", "Active legal holds"),
    "settings.holds.none": ("没有生效中的法律保全。", "No active legal hold."),
    "settings.runs": ("最近的处置运行", "Recent disposition runs"),
    "settings.runs.none": ("还没有处置运行。", "No disposition run yet."),
    "settings.run.examined": (
        "检查 {examined} · 删除 {disposed} · 保全 {held}",
        "examined {examined} · disposed {disposed} · held {held}",
    ),
    "settings.search": ("搜索后端", "Search backend"),
    "settings.search.backend": ("后端", "Backend"),
    "settings.search.where": ("位置", "Where"),
    "settings.search.zone": ("日期时区", "Date zone"),
    "settings.database": ("数据库", "Database"),
    "settings.scheduler": ("调度任务", "Scheduler jobs"),
    "settings.scheduler.intro": (
        "调度进程（wecom-audit scheduler）运行的任务和间隔。",
        "The jobs the scheduler process (wecom-audit scheduler) runs, and how often.",
    ),
    "settings.job": ("任务", "Job"),
    "settings.every": ("间隔", "Every"),
}


@dataclass(frozen=True)
class CorpRow:
    corp_id: str
    api_base_url: str
    archive_secret: bool
    contact_secret: bool


@dataclass(frozen=True)
class KeyRow:
    version: int
    source: str
    fingerprint: str | None
    error: str | None


@dataclass(frozen=True)
class Job:
    id: str
    seconds: float


class _JobRecorder:
    """Stands in for APScheduler: records what ``PullScheduler.start`` registers, runs nothing."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def add_job(self, _job: object, _trigger: str, *, seconds: float, id: str, **_options: object) -> None:
        self.jobs.append(Job(id, seconds))

    def start(self) -> None:
        return None


def scheduler_jobs(context: Any) -> list[Job]:
    """The scheduler process's jobs, read from its own registration (so the list cannot drift)."""
    planned = PullScheduler(context)
    recorder = _JobRecorder()
    planned.scheduler = cast(Any, recorder)
    planned.start()
    return recorder.jobs


def _keys(context: Any, corp_id: str) -> tuple[list[KeyRow], str | None]:
    try:
        keyring = context.keyring(corp_id)
    except ArchiveError as exc:
        return [], str(exc)
    rows = []
    for material in keyring.materials():
        try:
            rows.append(KeyRow(material.version, material.source, material.fingerprint(), None))
        except ArchiveError as exc:
            rows.append(KeyRow(material.version, material.source, None, str(exc)))
    return sorted(rows, key=lambda row: row.version), None


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def every(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


@get("/settings", guards=ADMIN, sync_to_thread=True)
def settings_page(request: Request[Any, Any, Any], db: Db, saved: FromQuery[bool] = False) -> Response[str]:
    context = context_of(request)
    settings = context.settings
    corps = [
        CorpRow(
            corp.corp_id,
            corp.api_base_url,
            bool(corp.archive_secret.get_secret_value()),
            bool(corp.contact_secret.get_secret_value()),
        )
        for corp in settings.corps()
    ]
    keys = {corp.corp_id: _keys(context, corp.corp_id) for corp in corps}
    retention = [corp_retention(db, corp.corp_id, runs=RUNS_SHOWN) for corp in corps]
    search = settings.search
    return render(
        request,
        "settings.html",
        principal=principal_of(request),
        corps=corps,
        keys=keys,
        retention=retention,
        search_backend=search.backend,
        search_where=(
            str(settings.search_index_dir)
            if search.backend == "embedded"
            else ", ".join(_without_credentials(url) for url in search.es_urls) + f" · {search.es_index_prefix}-*"
        ),
        search_zone=search.timezone,
        database=redact_url(settings.database_url),
        jobs=scheduler_jobs(context),
        every=every,
        chat_types=CHAT_TYPES,
        saved=saved,
    )


class PolicyForm(msgspec.Struct):
    """The fields of the settings page's retention forms (each form posts some of them)."""

    corp: str = ""
    scope: str = ""
    department: str = ""
    chat_type: str = ""
    name: str = ""
    days: str = ""
    reason: str = ""


def _form(data: PolicyForm) -> Form:
    return Form({key: [value] for key, value in msgspec.structs.asdict(data).items()}, {})


def _retention(
    request: Request[Any, Any, Any], db: Db, form: Form, change: Callable[[RetentionService, Actor], object]
) -> Redirect:
    """One retention change by the caller (an admin: this page needs ``users:admin``), then
    back to the page."""
    corps = corp_ids(request, db)
    corp = form.text("corp") if form.text("corp") in corps else (corps[0] if corps else "")
    try:
        change(RetentionService(db, corp), Actor(principal_of(request).username, is_admin=True))
    except RetentionError as exc:  # refused by the retention rules: the message says which
        raise Conflict(str(exc)) from None
    return back(f"{CONSOLE_PATH}/settings", saved=1)


def _days(form: Form) -> int:
    days = form.number("days", "the days kept")
    if days is None:
        raise Conflict("give the number of days to keep")
    return days


@post("/settings/retention", guards=ADMIN, sync_to_thread=True, status_code=303)
def add_policy(request: Request[Any, Any, Any], db: Db, data: Annotated[PolicyForm, FORM_BODY]) -> Redirect:
    form = _form(data)
    kind = form.text("scope")
    text = {"department": f"department:{form.text('department')}", "chat": f"chat:{form.text('chat_type')}"}
    days, reason = _days(form), form.text("reason") or None

    def change(service: RetentionService, actor: Actor) -> None:
        scope = PolicyScope.parse(text.get(kind, "corp"))
        service.create_policy(actor, scope, days, name=form.text("name") or None, reason=reason)

    return _retention(request, db, form, change)


@post("/settings/retention/{policy_id:int}/days", guards=ADMIN, sync_to_thread=True, status_code=303)
def set_policy_days(
    request: Request[Any, Any, Any], db: Db, policy_id: FromPath[int], data: Annotated[PolicyForm, FORM_BODY]
) -> Redirect:
    form = _form(data)
    days, reason = _days(form), form.text("reason") or None
    return _retention(request, db, form, lambda s, a: s.set_policy_days(a, policy_id, days, reason=reason))


@post("/settings/retention/{policy_id:int}/lock", guards=ADMIN, sync_to_thread=True, status_code=303)
def lock_policy(
    request: Request[Any, Any, Any], db: Db, policy_id: FromPath[int], data: Annotated[PolicyForm, FORM_BODY]
) -> Redirect:
    form = _form(data)
    reason = form.text("reason") or None
    return _retention(request, db, form, lambda s, a: s.lock_policy(a, policy_id, reason=reason))


HANDLERS = [settings_page, add_policy, set_policy_days, lock_policy]
