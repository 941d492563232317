"""The administration use cases that the JSON API (``api.routes.admin``), the console's
users page and ``wecom-audit users …`` share, where one operation is more than one call
of ``service`` or ``scope``: a new account linked to its WeCom member, grants named by
user name, the tokens a caller may see, and what the users pages show.

Every change is logged by the functions called here (``admin.*``); nothing commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from archive.directory import repository as directory
from audit.security import repository as users_db
from audit.security import scope as scopes
from audit.security import service as security
from audit.security.principal import Principal
from audit.security.roles import CONTENT_PERMISSIONS, ROLE_PERMISSIONS, Permission, Role

MEMBERS_LISTED = 5000  # the console's WeCom member picker; more are typed by userid

# Grants a new account what its WeCom member inherited through handover cases
# (``audit.handover.inheritance.apply_pending_inheritances``: handover sits above
# security, so the front end hands it in). Returns how many grants were new.
Inherit = Callable[[Session, int, datetime], int]


@dataclass(frozen=True)
class Department:
    corp_id: str
    dept_id: int
    name: str

    @property
    def key(self) -> str:
        return f"{self.corp_id}:{self.dept_id}"


@dataclass(frozen=True)
class NewUser:
    user: security.UserView
    # Conversations granted at once because the linked member inherited them.
    inherited: int


@dataclass(frozen=True)
class UsersOverview:
    users: list[security.UserView]
    corps: list[str]
    departments: list[Department]
    members: list[tuple[str, str]]  # (userid, name) of the corps' WeCom members
    linked: dict[str, str]  # user name → WeCom userid
    protected: list[scopes.ProtectedView]


@dataclass(frozen=True)
class UserDetail:
    user: security.UserView
    member: str | None  # the WeCom userid the account belongs to
    departments: list[Department]
    tokens: list[security.TokenView]
    grants: list[scopes.GrantView]
    # Permissions offered for a new token of this user, and those withheld (content
    # permissions go only into tokens the user creates for themself).
    token_permissions: list[str]
    withheld: list[str]


def departments(session: Session, corp_ids: list[str]) -> list[Department]:
    """The active departments of these corps (what a data scope may name)."""
    return [
        Department(corp, department.dept_id, department.name)
        for corp in corp_ids
        for department in directory.departments(session, corp)
        if department.is_active
    ]


def _members(session: Session, corp_ids: list[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for corp in corp_ids:
        found += sorted((member.userid, member.name) for member in directory.members(session, corp).values())
    return found[:MEMBERS_LISTED]


def users_overview(session: Session, corp_ids: list[str]) -> UsersOverview:
    """Every account, the departments and members of ``corp_ids`` to choose from, and the
    protected people."""
    return UsersOverview(
        security.list_users(session),
        corp_ids,
        departments(session, corp_ids),
        _members(session, corp_ids),
        users_db.linked_members(session),
        scopes.list_protected(session),
    )


def user_detail(session: Session, actor: Principal, username: str, corp_ids: list[str]) -> UserDetail:
    """One account with its tokens and grants, as an administrator (``actor``) sees it."""
    user = security.get_user(session, username)
    role_permissions = ROLE_PERMISSIONS[Role(user.role)]
    withheld = frozenset() if username == actor.username else role_permissions & CONTENT_PERMISSIONS
    return UserDetail(
        user,
        users_db.linked_members(session).get(username),
        departments(session, corp_ids),
        security.list_tokens(session, username),
        scopes.list_grants(session, user.id),
        sorted(p.value for p in role_permissions - withheld),
        sorted(p.value for p in withheld),
    )


def add_user(
    session: Session,
    actor: Principal,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    scope_all: bool = False,
    departments: list[tuple[str, int]] | None = None,
    wecom_member: tuple[str, str] | None = None,
    inherit: Inherit | None = None,
    now: datetime,
) -> NewUser:
    """A new account (``service.create_user``); linked to a WeCom member, it is granted at
    once the conversations the member inherited before the account existed."""
    view = security.create_user(
        session,
        actor,
        username=username,
        password=password,
        role=role,
        display_name=display_name,
        scope_all=scope_all,
        departments=departments,
        wecom_member=wecom_member,
        now=now,
    )
    inherited = inherit(session, view.id, now) if wecom_member and inherit else 0
    return NewUser(view, inherited)


def grant_conversations(
    session: Session, actor: Principal, username: str, conversation_ids: list[int], reason: str, now: datetime
) -> int:
    """Let ``username`` read these conversations beyond their scope; how many grants were new."""
    user = security.get_user(session, username)
    return scopes.grant_conversations(session, user.id, conversation_ids, reason, actor.username, now=now, actor=actor)


def grants_of(session: Session, username: str) -> list[scopes.GrantView]:
    return scopes.list_grants(session, security.get_user(session, username).id)


def revoke_grant(
    session: Session, actor: Principal, username: str, conversation_id: int, now: datetime
) -> list[scopes.GrantView]:
    """Take one grant away; the user's remaining grants."""
    user = security.get_user(session, username)
    return scopes.revoke_grant(session, actor, user.id, conversation_id, now)


def tokens_visible_to(session: Session, actor: Principal) -> list[security.TokenView]:
    """The caller's own tokens; an administrator's: everyone's."""
    return security.list_tokens(session, None if actor.can(Permission.USERS_ADMIN) else actor.username)
