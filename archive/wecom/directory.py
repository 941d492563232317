"""WeCom's directory APIs (spec §6.5, §6.7, §6.7a, §8.7): departments, members, customers and
who follows them, internal archived groups and robots.

Contract:
- Every method is one logical read; WeCom's per-call limits are kept here (``userid_list``
  ≤ 100 and ``limit`` ≤ 100 for batch/get_by_user) and cursor pages are followed to the end.
- Customer groups (externalcontact/groupchat/list and /get) are read with
  :class:`archive.wecom.contacts.WeComContacts`, not repeated here.
- An answer without the fields we rely on raises :class:`WeComApiError`; nothing is skipped
  silently.

Which secret (spec §6 and §6.7a; the access rules are UNCERTAIN — WeCom tightened them in
2022 and the docs disagree with what wrappers report):
- ``msgaudit/*`` (internal groups, robots) need the token of the 会话内容存档 secret;
- 通讯录 (department/list, user/list_id, user/get) and ``externalcontact/*`` need the 客户联系
  secret (or an app with address-book scope / listed under 客户联系 可调用应用).
We therefore read 48002 and 60011 on these calls as "this secret lacks the scope" and raise
:class:`DirectoryAccessError` naming the secret to check, rather than guessing which one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, Final

import httpx

from archive.wecom.client import DEFAULT_TIMEOUT_S, WeComClient
from archive.wecom.contacts import MAX_PAGES, _batches, _dict, _dicts, _int, _str_list, _time
from archive.wecom.errors import WeComApiError, WeComConfigurationError, WeComRejectedError

USER_LIST_PAGE_LIMIT: Final = 10_000  # user/list_id "limit" ≤ 10,000 (spec §6.7a)
BATCH_USERS_LIMIT: Final = 100  # batch/get_by_user userid_list ≤ 100
BATCH_PAGE_LIMIT: Final = 100  # batch/get_by_user limit ≤ 100
# 48002: API not authorised for this secret; 60011: no privilege on the address book (通讯录).
NO_PRIVILEGE_ERRCODES: Final = frozenset({48002, 60011})
NOT_INTERNAL_GROUP_ERRCODE: Final = 301059
USER_NOT_FOUND_ERRCODES: Final = frozenset({60111, 40003})  # userid not found / invalid userid

ARCHIVE_SCOPE = "会话内容存档 Secret (WECOM_AUDIT_WECOM__ARCHIVE_SECRET)"
CONTACT_SCOPE = (
    "客户联系 Secret (WECOM_AUDIT_WECOM__CONTACT_SECRET), or an app with 通讯录 read scope "
    "listed under 客户联系 可调用应用"
)


class DirectoryAccessError(WeComConfigurationError):
    """WeCom refused a directory call for lack of privilege (48002 / 60011)."""

    code = "wecom_directory_access"


class NotInternalGroupError(WeComRejectedError):
    """msgaudit/groupchat/get answered 301059: the group has external members (a customer group)."""

    code = "wecom_not_internal_group"


class MemberStatus(IntEnum):
    """user/get ``status`` (spec §6.7a)."""

    ACTIVE = 1
    DISABLED = 2
    NOT_ACTIVATED = 4
    LEFT = 5

    @property
    def is_member(self) -> bool:
        """Still on the staff: disabled and not-yet-activated accounts are members."""
        return self is not MemberStatus.LEFT


@dataclass(frozen=True)
class Department:
    dept_id: int
    name: str
    parent_id: int | None  # None for the root (WeCom's parentid 0)


@dataclass(frozen=True)
class MemberRef:
    """One row of user/list_id: a userid and its department ids."""

    userid: str
    department_ids: tuple[int, ...]


@dataclass(frozen=True)
class Member:
    userid: str
    name: str
    department_ids: tuple[int, ...]
    status: MemberStatus
    position: str


@dataclass(frozen=True)
class Customer:
    external_userid: str
    name: str
    type: int  # 1 WeChat user, 2 WeCom user
    corp_name: str | None
    corp_full_name: str | None


@dataclass(frozen=True)
class Follow:
    """One follow relation of batch/get_by_user: a member, a customer, the member's remark."""

    userid: str
    customer: Customer
    remark: str | None
    remark_corp_name: str | None
    added_at: datetime | None


@dataclass(frozen=True)
class InternalGroupMember:
    userid: str
    joined_at: datetime | None


@dataclass(frozen=True)
class InternalGroup:
    roomid: str
    name: str
    creator: str
    created_at: datetime | None
    members: tuple[InternalGroupMember, ...]


@dataclass(frozen=True)
class Robot:
    robot_id: str
    name: str
    creator_userid: str | None


class CallPacer:
    """Spaces WeCom calls so a sync never exceeds ``calls_per_minute`` (WeCom's per-app and
    per-corp minute quotas, spec §6.7a); counts the calls for the report. One pacer may be
    shared by several clients, so the sum of their calls is paced."""

    def __init__(
        self,
        calls_per_minute: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if calls_per_minute < 1:
            raise ValueError("calls_per_minute must be at least 1")
        self.interval_s = 60.0 / calls_per_minute
        self.calls = 0
        self._monotonic = monotonic
        self._sleep = sleep
        self._next_at: float | None = None
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = self._monotonic()
            if self._next_at is not None and now < self._next_at:
                await self._sleep(self._next_at - now)
                now = self._next_at
            self._next_at = now + self.interval_s
            self.calls += 1


class PacedWeComClient(WeComClient):
    """A :class:`WeComClient` whose calls wait for a :class:`CallPacer` first (usable
    wherever a client is, e.g. by :class:`~archive.wecom.contacts.WeComContacts`)."""

    def __init__(
        self,
        base_url: str,
        corp_id: str,
        secret: str,
        pacer: CallPacer,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, corp_id, secret, timeout_s=timeout_s, transport=transport)
        self.pacer = pacer

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        await self.pacer.wait()
        return await super().call(method, path, body, query=query)


class WeComDirectory:
    """The directory reads over two clients: ``contact`` (客户联系 secret: 通讯录 and
    externalcontact) and ``archive`` (会话内容存档 secret: msgaudit)."""

    def __init__(self, contact: WeComClient, archive: WeComClient, *, max_pages: int = MAX_PAGES) -> None:
        self._contact = contact
        self._archive = archive
        self._max_pages = max_pages

    # --- 通讯录 ---------------------------------------------------------------------------

    async def departments(self) -> list[Department]:
        """Every department the app may see (department/list without ``id``)."""
        document = await self._call(self._contact, CONTACT_SCOPE, "GET", "/cgi-bin/department/list")
        found = []
        for item in _rows(document, "department", "department/list"):
            dept_id, name = item.get("id"), item.get("name")
            if not isinstance(dept_id, int) or not isinstance(name, str):
                raise _malformed("department/list", "a department without an id or name")
            parent = _int(item.get("parentid"))
            found.append(Department(dept_id, name, parent or None))
        return found

    async def member_refs(self) -> list[MemberRef]:
        """Every member's userid and departments (user/list_id, cursor pages)."""
        found: list[MemberRef] = []
        cursor = ""
        for _page in range(self._max_pages):
            document = await self._call(
                self._contact,
                CONTACT_SCOPE,
                "POST",
                "/cgi-bin/user/list_id",
                {"cursor": cursor, "limit": USER_LIST_PAGE_LIMIT},
            )
            for item in _rows(document, "dept_user", "user/list_id"):
                userid = item.get("userid")
                if not isinstance(userid, str) or not userid:
                    raise _malformed("user/list_id", "a row without a userid")
                department = item.get("department")
                # One row per (member, department) in WeCom's answer; merged below.
                found.append(MemberRef(userid, (department,) if isinstance(department, int) else ()))
            cursor = str(document.get("next_cursor") or "")
            if not cursor:
                break
        merged: dict[str, list[int]] = {}
        for ref in found:
            depts = merged.setdefault(ref.userid, [])
            depts.extend(d for d in ref.department_ids if d not in depts)
        return [MemberRef(userid, tuple(depts)) for userid, depts in merged.items()]

    async def member(self, userid: str) -> Member | None:
        """One member (user/get); None when WeCom no longer knows the userid (deleted)."""
        try:
            document = await self._call(
                self._contact, CONTACT_SCOPE, "GET", "/cgi-bin/user/get", query={"userid": userid}
            )
        except WeComApiError as error:
            if error.errcode in USER_NOT_FOUND_ERRCODES:
                return None
            raise
        name, status = document.get("name"), document.get("status")
        if not isinstance(name, str) or not isinstance(status, int) or status not in MemberStatus._value2member_map_:
            raise _malformed("user/get", "a member without a name or a known status")
        departments = document.get("department", [])
        if not isinstance(departments, list) or not all(isinstance(d, int) for d in departments):
            raise _malformed("user/get", "a member whose departments are not ids")
        return Member(
            userid=str(document.get("userid") or userid),
            name=name,
            department_ids=tuple(departments),
            status=MemberStatus(status),
            position=str(document.get("position") or ""),
        )

    # --- customers ----------------------------------------------------------------------------

    async def follow_users(self) -> list[str]:
        """Members with the customer-contact function (externalcontact/get_follow_user_list)."""
        document = await self._call(
            self._contact, CONTACT_SCOPE, "GET", "/cgi-bin/externalcontact/get_follow_user_list"
        )
        return _str_list(document.get("follow_user"), "externalcontact/get_follow_user_list")

    async def follows_of(self, userids: Sequence[str]) -> list[Follow]:
        """Every customer of these members with the follow relation (batch/get_by_user,
        ≤100 userids per call, cursor pages of ≤100)."""
        found: list[Follow] = []
        for batch in _batches(list(dict.fromkeys(userids)), BATCH_USERS_LIMIT):
            cursor = ""
            for _page in range(self._max_pages):
                document = await self._call(
                    self._contact,
                    CONTACT_SCOPE,
                    "POST",
                    "/cgi-bin/externalcontact/batch/get_by_user",
                    {"userid_list": batch, "cursor": cursor, "limit": BATCH_PAGE_LIMIT},
                )
                for item in _rows(document, "external_contact_list", "externalcontact/batch/get_by_user"):
                    found.append(_follow(item))
                cursor = str(document.get("next_cursor") or "")
                if not cursor:
                    break
        return found

    # --- msgaudit ---------------------------------------------------------------------------------

    async def internal_group(self, roomid: str) -> InternalGroup:
        """An internal archived group (msgaudit/groupchat/get, spec §6.5). A customer group
        raises :class:`NotInternalGroupError` (301059)."""
        try:
            document = await self._call(
                self._archive, ARCHIVE_SCOPE, "POST", "/cgi-bin/msgaudit/groupchat/get", {"roomid": roomid}
            )
        except WeComApiError as error:
            if error.errcode == NOT_INTERNAL_GROUP_ERRCODE:
                raise NotInternalGroupError(
                    f"WeCom msgaudit/groupchat/get: {roomid} is not an internal group (301059)",
                    hint="customer groups are read with externalcontact/groupchat/get",
                    errcode=NOT_INTERNAL_GROUP_ERRCODE,
                ) from None
            raise
        name = document.get("roomname")
        if not isinstance(name, str):
            raise _malformed("msgaudit/groupchat/get", "a group without a roomname")
        members = []
        for item in _dicts(document.get("members", [])):
            memberid = item.get("memberid")
            if not isinstance(memberid, str) or not memberid:
                raise _malformed("msgaudit/groupchat/get", "a member without a memberid")
            members.append(InternalGroupMember(memberid, _time(item.get("jointime"))))
        return InternalGroup(
            roomid=roomid,
            name=name,
            creator=str(document.get("creator") or ""),
            created_at=_time(document.get("room_create_time")),
            members=tuple(members),
        )

    async def robot(self, robot_id: str) -> Robot:
        """A robot's name and creator (msgaudit/get_robot_info, spec §6.7)."""
        document = await self._call(
            self._archive, ARCHIVE_SCOPE, "GET", "/cgi-bin/msgaudit/get_robot_info", query={"robot_id": robot_id}
        )
        data = _dict(document.get("data"), "msgaudit/get_robot_info")
        name = data.get("name")
        if not isinstance(name, str):
            raise _malformed("msgaudit/get_robot_info", "a robot without a name")
        creator = data.get("creator_userid")
        return Robot(str(data.get("robot_id") or robot_id), name, creator if isinstance(creator, str) else None)

    async def _call(
        self,
        client: WeComClient,
        secret: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            return await client.call(method, path, body, query=query)
        except WeComApiError as error:
            if error.errcode in NO_PRIVILEGE_ERRCODES:
                call = path.removeprefix("/cgi-bin/")
                raise DirectoryAccessError(
                    f"WeCom {call} answered errcode {error.errcode} (no privilege for this secret)",
                    hint=f"{call} needs the {secret}; check that secret and its app's visible range "
                    "(可见范围) in the WeCom admin console",
                    errcode=error.errcode,
                ) from None
            raise


def _rows(document: dict[str, Any], key: str, call: str) -> list[dict[str, Any]]:
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _malformed(call, f"{key} that is not a list of objects")
    return value


def _malformed(call: str, what: str) -> WeComApiError:
    return WeComApiError(
        f"WeCom {call} answered {what}",
        hint="check WECOM_AUDIT_WECOM__API_BASE_URL points at WeCom's API; report it if it does",
    )


def _optional(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _follow(item: dict[str, Any]) -> Follow:
    contact = _dict(item.get("external_contact"), "externalcontact/batch/get_by_user")
    info = _dict(item.get("follow_info"), "externalcontact/batch/get_by_user")
    external_userid, name, userid = contact.get("external_userid"), contact.get("name"), info.get("userid")
    if not (isinstance(external_userid, str) and external_userid and isinstance(name, str)):
        raise _malformed("externalcontact/batch/get_by_user", "a customer without an id or name")
    if not isinstance(userid, str) or not userid:
        raise _malformed("externalcontact/batch/get_by_user", "a follow_info without a userid")
    customer = Customer(
        external_userid,
        name,
        _int(contact.get("type"), 1),
        _optional(contact.get("corp_name")),
        _optional(contact.get("corp_full_name")),
    )
    return Follow(
        userid,
        customer,
        _optional(info.get("remark")),
        _optional(info.get("remark_corp_name")),
        _time(info.get("createtime")),
    )
