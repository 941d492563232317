"""Users, roles and scopes (administrators): accounts with their role and department
scopes, the WeCom member an account belongs to, API tokens (a new token's secret is shown
once), conversation grants and protected people.

Every change is a call of the use case ``api.routes.admin`` and ``wecom-audit users`` call
too (``audit.security.admin``, ``service``, ``scope``), which writes the access log. The
handlers parse the form, call it with the request's session and render or redirect.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from api.console.auth import principal_of, signed_in
from api.console.nav import CONSOLE_PATH
from api.console.pages.formdata import FORM_BODY, Form, back, corp_ids
from api.console.render import render
from api.unit_of_work import Context, Db
from archive.clock import utcnow
from audit.errors import InvalidInput
from audit.handover.inheritance import apply_pending_inheritances
from audit.security import admin
from audit.security import scope as scopes
from audit.security import service as security
from audit.security.roles import Permission, Role

ADMIN = [signed_in(Permission.USERS_ADMIN)]
TOKEN_TTL_DAYS_MAX = 366

MESSAGES = {
    "users.title": ("用户与权限", "Users, roles and scopes"),
    "users.col.user": ("用户名", "User"),
    "users.col.name": ("显示名", "Display name"),
    "users.col.role": ("角色", "Role"),
    "users.col.scope": ("数据范围", "Data scope"),
    "users.col.member": ("企业微信成员", "WeCom member"),
    "users.col.state": ("状态", "State"),
    "users.scope_all": ("全公司", "Whole company"),
    "users.scope_none": ("无（只能看授权的会话）", "None (granted conversations only)"),
    "users.disabled": ("已停用", "Disabled"),
    "users.active": ("正常", "Active"),
    "users.edit": ("编辑", "Edit"),
    "users.add": ("添加用户", "Add a user"),
    "users.username": ("用户名", "User name"),
    "users.username.hint": ("字母、数字、. - _", "letters, digits, . - _"),
    "users.display_name": ("显示名", "Display name"),
    "users.password": ("初始密码", "Initial password"),
    "users.role": ("角色", "Role"),
    "users.scope_all.label": ("可查看全公司的会话", "May read every department's chats"),
    "users.departments": (
        "部门范围（含下级部门，可多选）",
        "Departments (with their sub-departments; several allowed)",
    ),
    "users.departments.none": (
        "通讯录尚未同步，没有可选的部门。",
        "The directory is not synced yet: no department to choose.",
    ),
    "users.member": ("对应的企业微信成员（userid，可留空）", "Their WeCom member (userid, optional)"),
    "users.member.hint": (
        "关联后，此账号会继承该成员在离职继承中接手的会话。",
        "Linked, the account inherits the conversations this member takes over in handover cases.",
    ),
    "users.create": ("创建用户", "Create the user"),
    "users.created": ("已创建用户 {user}。", "User {user} created."),
    "users.inherited": ("并授予了 {count} 个继承的会话。", "{count} inherited conversations granted."),
    "users.saved": ("已保存。", "Saved."),
    "users.empty": ("还没有用户。", "No users yet."),
    "user.title": ("用户 {user}", "User {user}"),
    "user.back": ("返回用户列表", "Back to the users"),
    "user.settings": ("角色与数据范围", "Role and data scope"),
    "user.save": ("保存", "Save"),
    "user.disable": ("停用此账号", "Disable this account"),
    "user.disable.confirm": ("停用后此账号的会话立即失效。确定？", "The account's sessions end at once. Disable it?"),
    "user.password": ("重设密码", "Reset the password"),
    "user.password.new": ("新密码", "New password"),
    "user.password.submit": ("重设", "Reset"),
    "user.password.note": (
        "重设密码会结束该用户的所有登录会话，并吊销其全部 API 令牌。",
        "Resetting the password ends the user's sessions and revokes all their API tokens.",
    ),
    "users.password.hint": (
        "至少 12 个字符；常见或容易猜到的密码（如重复、连续字符、键盘序列、用户名）会被拒绝。",
        "At least 12 characters; common or easily guessed passwords (repeats, sequences, keyboard runs, "
        "the user name) are refused.",
    ),
    "user.tokens": ("API 令牌", "API tokens"),
    "user.tokens.none": ("没有令牌。", "No tokens."),
    "user.token.name": ("名称", "Name"),
    "user.token.prefix": ("前缀", "Prefix"),
    "user.token.permissions": ("权限", "Permissions"),
    "user.token.expires": ("到期", "Expires"),
    "user.token.last_used": ("最近使用", "Last used"),
    "user.token.revoked": ("已吊销", "revoked"),
    "user.token.revoke": ("吊销", "Revoke"),
    "user.token.revoke.confirm": (
        "吊销后使用此令牌的程序将无法访问。确定？",
        "Programs using this token lose access. Revoke it?",
    ),
    "user.token.create": ("创建令牌", "Create a token"),
    "user.token.no_content": (
        "读取聊天内容的权限（{permissions}）只能由用户本人登录后为自己的令牌申请，管理员不能代为创建。",
        "Permissions that read chat content ({permissions}) go only into tokens the user creates for themself "
        "when signed in; nobody creates them for another user.",
    ),
    "user.token.days": ("有效天数", "Valid for (days)"),
    "user.token.created": ("令牌已创建", "Token created"),
    "user.token.once": (
        "请立即复制并妥善保存：此令牌只显示这一次，之后无法再查看。",
        "Copy it now and keep it safe: it is shown this once and never again.",
    ),
    "user.grants": ("额外授权的会话", "Granted conversations"),
    "user.grants.none": ("没有额外授权。", "No grants."),
    "user.grant.reason": ("原因", "Reason"),
    "user.grant.by": ("授权人", "Granted by"),
    "protected.title": ("受保护人员", "Protected people"),
    "protected.intro": (
        "受保护人员的会话只有指定的专员可以查看，其他人无论数据范围如何都看不到。",
        "Only the named officers may open a protected person's chats, whatever anyone else's scope.",
    ),
    "protected.none": ("没有受保护人员。", "Nobody is protected."),
    "protected.person": ("成员 userid", "Member userid"),
    "protected.reason": ("原因", "Reason"),
    "protected.officers": ("指定专员（用户名，逗号分隔）", "Named officers (user names, comma-separated)"),
    "protected.add": ("保护此成员", "Protect this member"),
    "protected.remove": ("取消保护", "Lift protection"),
    "protected.corp": ("企业", "Corp"),
}


# A posted form as Litestar parses it: one value per name, or a list when repeated.
FormBody = Annotated[dict[str, Any], FORM_BODY]


def _form(data: dict[str, Any]) -> Form:
    return Form(
        {name: [str(v) for v in value] if isinstance(value, list) else [str(value)] for name, value in data.items()}, {}
    )


def _departments_chosen(db: Db, request: Request[Any, Any, Any], form: Form) -> list[tuple[str, int]]:
    """The departments ticked in ``form``, each one the directory knows."""
    keys = {d.key: d for d in admin.departments(db, corp_ids(request, db))}
    chosen = []
    for value in form.texts("departments"):
        if value not in keys:
            raise InvalidInput(f"unknown department {value!r}", hint="reload the page: the directory changed")
        chosen.append((keys[value].corp_id, keys[value].dept_id))
    return chosen


@get("/users", guards=ADMIN, sync_to_thread=True)
def users_page(
    request: Request[Any, Any, Any],
    db: Db,
    created: FromQuery[str] = "",
    inherited: FromQuery[int] = 0,
    saved: FromQuery[bool] = False,
) -> Response[str]:
    overview = admin.users_overview(db, corp_ids(request, db))
    return render(
        request,
        "users.html",
        principal=principal_of(request),
        users=overview.users,
        departments=overview.departments,
        department_names={(d.corp_id, d.dept_id): d.name for d in overview.departments},
        members=overview.members,
        linked=overview.linked,
        protected=overview.protected,
        corps=overview.corps,
        roles=[role.value for role in Role],
        created=created,
        inherited=inherited,
        saved=saved,
    )


@post("/users", guards=ADMIN, sync_to_thread=True, status_code=303)
def add_user(request: Request[Any, Any, Any], db: Db, data: FormBody) -> Redirect:
    """Create an account, as ``POST /api/v1/users`` and ``wecom-audit users add`` do."""
    form = _form(data)
    corps = corp_ids(request, db)
    userid = form.text("wecom_userid")
    added = admin.add_user(
        db,
        principal_of(request),
        username=form.text("username"),
        password=form.text("password"),
        role=form.text("role"),
        display_name=form.text("display_name"),
        scope_all=form.checked("scope_all"),
        departments=_departments_chosen(db, request, form),
        wecom_member=(corps[0], userid) if userid and corps else None,
        inherit=apply_pending_inheritances,
        now=utcnow(),
    )
    return back(f"{CONSOLE_PATH}/users", created=added.user.username, inherited=added.inherited)


@get("/users/{username:str}", guards=ADMIN, sync_to_thread=True)
def user_page(
    request: Request[Any, Any, Any],
    db: Db,
    context: Context,
    username: FromPath[str],
    saved: FromQuery[bool] = False,
) -> Response[str]:
    principal = principal_of(request)
    detail = admin.user_detail(db, principal, username, corp_ids(request, db))
    return render(
        request,
        "user.html",
        principal=principal,
        user=detail.user,
        member=detail.member,
        departments=detail.departments,
        chosen={f"{corp}:{dept}" for corp, dept in detail.user.departments},
        department_names={(d.corp_id, d.dept_id): d.name for d in detail.departments},
        tokens=detail.tokens,
        grants=detail.grants,
        roles=[role.value for role in Role],
        permissions=detail.token_permissions,
        withheld=detail.withheld,
        saved=saved,
        token_days=context.settings.auth.token_default_ttl_days,
    )


@post("/users/{username:str}", guards=ADMIN, sync_to_thread=True, status_code=303)
def update_user(request: Request[Any, Any, Any], db: Db, username: FromPath[str], data: FormBody) -> Redirect:
    form = _form(data)
    security.update_user(
        db,
        principal_of(request),
        username,
        role=form.text("role") or None,
        scope_all=form.checked("scope_all"),
        departments=_departments_chosen(db, request, form),
        now=utcnow(),
    )
    return back(f"{CONSOLE_PATH}/users/{username}", saved=1)


@post("/users/{username:str}/disable", guards=ADMIN, sync_to_thread=True, status_code=303)
def disable_user(request: Request[Any, Any, Any], db: Db, username: FromPath[str]) -> Redirect:
    security.disable_user(db, principal_of(request), username, utcnow())
    return back(f"{CONSOLE_PATH}/users/{username}", saved=1)


@post("/users/{username:str}/password", guards=ADMIN, sync_to_thread=True, status_code=303)
def reset_password(request: Request[Any, Any, Any], db: Db, username: FromPath[str], data: FormBody) -> Redirect:
    security.set_password(db, principal_of(request), username, _form(data).text("password"), utcnow())
    return back(f"{CONSOLE_PATH}/users/{username}", saved=1)


@post("/users/{username:str}/tokens", guards=ADMIN, sync_to_thread=True)
def create_token(
    request: Request[Any, Any, Any], db: Db, context: Context, username: FromPath[str], data: FormBody
) -> Response[str]:
    """A new token; its secret is in this page only (not stored, not cached)."""
    form, principal = _form(data), principal_of(request)
    days = form.number("days", "the validity") or context.settings.auth.token_default_ttl_days
    if not 1 <= days <= TOKEN_TTL_DAYS_MAX:
        raise InvalidInput(f"a token is valid for 1 to {TOKEN_TTL_DAYS_MAX} days")
    view, secret = security.create_token(
        db,
        principal,
        username=username,
        name=form.text("name") or "console",
        permissions=form.texts("permissions"),
        ttl=timedelta(days=days),
        now=utcnow(),
    )
    return render(
        request,
        "token_created.html",
        principal=principal,
        token=view,
        secret=secret,
        headers={"Cache-Control": "no-store"},
    )


@post("/tokens/{token_id:int}/revoke", guards=ADMIN, sync_to_thread=True, status_code=303)
def revoke_token(request: Request[Any, Any, Any], db: Db, token_id: FromPath[int]) -> Redirect:
    username = security.revoke_token(db, principal_of(request), token_id, utcnow()).username
    return back(f"{CONSOLE_PATH}/users/{username}", saved=1)


@post("/protected", guards=ADMIN, sync_to_thread=True, status_code=303)
def protect(request: Request[Any, Any, Any], db: Db, data: FormBody) -> Redirect:
    form = _form(data)
    corps = corp_ids(request, db)
    corp = form.text("corp") if form.text("corp") in corps else (corps[0] if corps else "")
    if not corp or not form.text("userid"):
        raise InvalidInput("name the member to protect (their userid)")
    scopes.protect_person(
        db,
        principal_of(request),
        corp_id=corp,
        userid=form.text("userid"),
        reason=form.text("reason"),
        officers=form.items("officers"),
        now=utcnow(),
    )
    return back(f"{CONSOLE_PATH}/users", saved=1)


@post("/protected/remove", guards=ADMIN, sync_to_thread=True, status_code=303)
def unprotect(request: Request[Any, Any, Any], db: Db, data: FormBody) -> Redirect:
    form = _form(data)
    scopes.unprotect_person(
        db, principal_of(request), corp_id=form.text("corp"), userid=form.text("userid"), now=utcnow()
    )
    return back(f"{CONSOLE_PATH}/users", saved=1)


HANDLERS = [
    users_page,
    add_user,
    user_page,
    update_user,
    disable_user,
    reset_password,
    create_token,
    revoke_token,
    protect,
    unprotect,
]
