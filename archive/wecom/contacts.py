"""WeCom's customer-contact APIs for handovers (spec §6.6, §8): customers, groups, transfers.

Contract:
- Every method is one logical operation; WeCom's per-call limits are respected here, not
  by callers: customer and group transfers are split into calls of at most 100 ids, and
  cursor pagination is followed to the end (``max_pages`` guards against a server that
  never stops).
- A transfer call answers per item: a customer or group WeCom refused comes back in the
  result with its errcode; only call-level errors raise (typed, see ``errors.py``).
- A per-customer errcode 0 means "accepted for processing", never "done": completion is
  read with :meth:`WeComContacts.resigned_transfer_results` / :meth:`transfer_results`.
- Use a :class:`WeComClient` built with the 客户联系 secret (or a secret of an app listed
  under 客户联系 可调用应用); the 会话内容存档 secret gets 48002 here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Final, TypeVar

from archive.wecom.client import WeComClient
from archive.wecom.errors import (
    REJECTED_ERRCODES,
    WeComApiError,
    WeComConfigurationError,
    WeComRejectedError,
    WeComTransientError,
)
from config.logs import get_logger

TRANSFER_BATCH_LIMIT: Final = 100  # external_userid / chat_id per transfer call (spec §8.2, §8.4)
OWNER_FILTER_LIMIT: Final = 100  # owner_filter.userid_list of groupchat/list (spec §6.6)
GROUP_LIST_PAGE_LIMIT: Final = 1000  # groupchat/list "limit" 1..1000
UNASSIGNED_PAGE_SIZE: Final = 1000  # get_unassigned_list page_size ≤ 1000
TRANSFER_MESSAGE_MAX_CHARS: Final = 200  # transfer_success_msg (spec §8.6)
MAX_PAGES: Final = 10_000
# externalcontact/list answers 84061 for a member without customers rather than an empty list.
NO_CUSTOMERS_ERRCODE: Final = 84061

# A group whose transfer WeCom's answer neither listed by id nor confirmed: the answer named a
# group we did not ask for, and reading the group back shows the old owner.
UNCONFIRMED_ERRCODE: Final = -2
UNCONFIRMED_REASON: Final = "WeCom's answer named a group not in the request and this group's owner did not change"

log = get_logger("archive.wecom")

_T = TypeVar("_T")


class TransferStatus(IntEnum):
    """A customer transfer's state in transfer_result (spec §8.3)."""

    COMPLETED = 1
    WAITING = 2
    REFUSED = 3
    LIMIT_REACHED = 4  # the takeover member reached the customer limit
    NO_RECORD = 5  # listed by the on-job docs; UNCERTAIN whether resigned results use it
    UNKNOWN = 0  # a status this code does not know (a newer WeCom): treated as not final

    @property
    def is_final(self) -> bool:
        return self in (TransferStatus.COMPLETED, TransferStatus.REFUSED, TransferStatus.LIMIT_REACHED)


class GroupStatus(IntEnum):
    """A customer group's inheritance state in groupchat/list (spec §6.6)."""

    NORMAL = 0
    OWNER_RESIGNED = 1
    INHERITING = 2
    INHERITED = 3


@dataclass(frozen=True)
class UnassignedCustomer:
    handover_userid: str
    external_userid: str
    dimission_time: datetime | None  # None when WeCom sends 0 (seen in some records, UNCERTAIN)


@dataclass(frozen=True)
class TransferAnswer:
    """WeCom's immediate answer for one customer or group of a transfer call."""

    item_id: str  # external_userid or chat_id
    errcode: int
    errmsg: str = ""

    @property
    def accepted(self) -> bool:
        return self.errcode == 0

    @property
    def reason(self) -> str:
        """Why WeCom refused this item, in words (for follow-up lists and reports)."""
        if self.accepted:
            return ""
        meaning = REJECTED_ERRCODES.get(self.errcode)
        return meaning[0] if meaning else (self.errmsg or f"errcode {self.errcode}")


@dataclass(frozen=True)
class TransferResult:
    external_userid: str
    status: TransferStatus
    takeover_time: datetime | None


@dataclass(frozen=True)
class GroupChatSummary:
    chat_id: str
    status: GroupStatus


@dataclass(frozen=True)
class GroupMember:
    userid: str
    type: int  # 1 internal member, 2 external contact
    join_time: datetime | None
    name: str


@dataclass(frozen=True)
class GroupChat:
    chat_id: str
    name: str
    owner: str
    create_time: datetime | None
    members: tuple[GroupMember, ...]
    admins: tuple[str, ...]


@dataclass(frozen=True)
class Tag:
    group_name: str
    tag_name: str
    tag_id: str
    type: int  # 1 corp tag, 2 personal tag, 3 rule-group tag


@dataclass(frozen=True)
class FollowUser:
    userid: str
    remark: str
    description: str
    createtime: datetime | None
    tags: tuple[Tag, ...]
    add_way: int


@dataclass(frozen=True)
class ExternalContact:
    external_userid: str
    name: str
    type: int  # 1 WeChat user, 2 WeCom user
    corp_name: str
    follow_users: tuple[FollowUser, ...]


class WeComContacts:
    """The customer-contact and transfer APIs over one :class:`WeComClient`."""

    def __init__(self, client: WeComClient, *, max_pages: int = MAX_PAGES) -> None:
        self._client = client
        self._max_pages = max_pages

    # --- customers ------------------------------------------------------------------------

    async def customer_ids(self, userid: str) -> list[str]:
        """The external_userids a member follows (externalcontact/list, spec §8.7)."""
        try:
            document = await self._client.call("GET", "/cgi-bin/externalcontact/list", query={"userid": userid})
        except WeComRejectedError as error:
            if error.errcode == NO_CUSTOMERS_ERRCODE:
                return []
            raise
        return _str_list(document.get("external_userid", []), "externalcontact/list")

    async def customer(self, external_userid: str) -> ExternalContact:
        """One customer and every member following them (externalcontact/get; follow_user pages)."""
        follows: list[FollowUser] = []
        contact: dict[str, Any] = {}
        cursor = ""
        for _page in self._pages():
            document = await self._client.call(
                "GET", "/cgi-bin/externalcontact/get", query={"external_userid": external_userid, "cursor": cursor}
            )
            contact = _dict(document.get("external_contact"), "externalcontact/get")
            follows.extend(_follow_user(item) for item in _dicts(document.get("follow_user", [])))
            cursor = str(document.get("next_cursor") or "")
            if not cursor:
                break
        return ExternalContact(
            external_userid=str(contact.get("external_userid", external_userid)),
            name=str(contact.get("name", "")),
            type=_int(contact.get("type")),
            corp_name=str(contact.get("corp_name", "")),
            follow_users=tuple(follows),
        )

    async def unassigned_customers(self) -> list[UnassignedCustomer]:
        """Customers of departed members awaiting a successor (get_unassigned_list, spec §8.1)."""
        found: list[UnassignedCustomer] = []
        cursor = ""
        for _page in self._pages():
            document = await self._client.call(
                "POST",
                "/cgi-bin/externalcontact/get_unassigned_list",
                {"cursor": cursor, "page_size": UNASSIGNED_PAGE_SIZE},
            )
            for item in _dicts(document.get("info", [])):
                found.append(
                    UnassignedCustomer(
                        handover_userid=str(item.get("handover_userid", "")),
                        external_userid=str(item.get("external_userid", "")),
                        dimission_time=_time(item.get("dimission_time")),
                    )
                )
            cursor = str(document.get("next_cursor") or "")
            # Either signal ends the walk: is_last may be missing in some answers (UNCERTAIN).
            if document.get("is_last") is True or not cursor:
                break
        return found

    # --- customer transfers -----------------------------------------------------------------

    async def transfer_resigned_customers(
        self, handover_userid: str, takeover_userid: str, external_userids: Sequence[str]
    ) -> list[TransferAnswer]:
        """Give a departed member's customers to a successor (resigned/transfer_customer, §8.2)."""
        return await self._transfer_customers(
            "/cgi-bin/externalcontact/resigned/transfer_customer",
            {"handover_userid": handover_userid, "takeover_userid": takeover_userid},
            external_userids,
        )

    async def transfer_customers(
        self,
        handover_userid: str,
        takeover_userid: str,
        external_userids: Sequence[str],
        *,
        transfer_success_msg: str | None = None,
    ) -> list[TransferAnswer]:
        """Move an active member's customers (在职继承, transfer_customer, §8.6); the customer
        sees ``transfer_success_msg`` (≤200 characters; WeCom's default text when None)."""
        if transfer_success_msg is not None and len(transfer_success_msg) > TRANSFER_MESSAGE_MAX_CHARS:
            raise ValueError(f"the handover message must be at most {TRANSFER_MESSAGE_MAX_CHARS} characters")
        fields: dict[str, Any] = {"handover_userid": handover_userid, "takeover_userid": takeover_userid}
        if transfer_success_msg is not None:
            fields["transfer_success_msg"] = transfer_success_msg
        return await self._transfer_customers("/cgi-bin/externalcontact/transfer_customer", fields, external_userids)

    async def resigned_transfer_results(self, handover_userid: str, takeover_userid: str) -> list[TransferResult]:
        """Where each transfer between the two members stands (resigned/transfer_result, §8.3)."""
        return await self._transfer_results(
            "/cgi-bin/externalcontact/resigned/transfer_result", handover_userid, takeover_userid
        )

    async def transfer_results(self, handover_userid: str, takeover_userid: str) -> list[TransferResult]:
        """The same for on-job transfers (externalcontact/transfer_result, §8.6)."""
        return await self._transfer_results(
            "/cgi-bin/externalcontact/transfer_result", handover_userid, takeover_userid
        )

    async def _transfer_customers(
        self, path: str, fields: dict[str, Any], external_userids: Sequence[str]
    ) -> list[TransferAnswer]:
        answers: list[TransferAnswer] = []
        for batch in _batches(list(dict.fromkeys(external_userids)), TRANSFER_BATCH_LIMIT):
            document = await self._client.call("POST", path, {**fields, "external_userid": batch})
            by_id = {
                str(item.get("external_userid", "")): TransferAnswer(
                    str(item.get("external_userid", "")), _int(item.get("errcode")), str(item.get("errmsg", ""))
                )
                for item in _dicts(document.get("customer", []))
            }
            # A customer missing from the answer was not taken on: say so rather than guess.
            answers.extend(by_id.get(ext, TransferAnswer(ext, -1, "not in WeCom's answer")) for ext in batch)
        return answers

    async def _transfer_results(self, path: str, handover_userid: str, takeover_userid: str) -> list[TransferResult]:
        results: list[TransferResult] = []
        cursor = ""
        for _page in self._pages():
            document = await self._client.call(
                "POST", path, {"handover_userid": handover_userid, "takeover_userid": takeover_userid, "cursor": cursor}
            )
            for item in _dicts(document.get("customer", [])):
                status = _int(item.get("status"))
                results.append(
                    TransferResult(
                        external_userid=str(item.get("external_userid", "")),
                        status=TransferStatus(status)
                        if status in TransferStatus._value2member_map_
                        else (TransferStatus.UNKNOWN),
                        takeover_time=_time(item.get("takeover_time")),
                    )
                )
            cursor = str(document.get("next_cursor") or "")
            if not cursor:
                break
        return results

    # --- customer groups ----------------------------------------------------------------------

    async def group_chats(self, *, status_filter: int = 0, owner_userids: Sequence[str] = ()) -> list[GroupChatSummary]:
        """Customer groups (groupchat/list, §6.6), optionally of some owners and in one state
        (``status_filter=1``: owner resigned, awaiting inheritance)."""
        found: list[GroupChatSummary] = []
        owners = list(dict.fromkeys(owner_userids))
        for owner_batch in _batches(owners, OWNER_FILTER_LIMIT) if owners else [[]]:
            cursor = ""
            for _page in self._pages():
                body: dict[str, Any] = {
                    "status_filter": status_filter,
                    "cursor": cursor,
                    "limit": GROUP_LIST_PAGE_LIMIT,
                }
                if owner_batch:
                    body["owner_filter"] = {"userid_list": owner_batch}
                document = await self._client.call("POST", "/cgi-bin/externalcontact/groupchat/list", body)
                for item in _dicts(document.get("group_chat_list", [])):
                    status = _int(item.get("status"))
                    found.append(
                        GroupChatSummary(
                            str(item.get("chat_id", "")),
                            GroupStatus(status) if status in GroupStatus._value2member_map_ else GroupStatus.NORMAL,
                        )
                    )
                cursor = str(document.get("next_cursor") or "")
                if not cursor:
                    break
        return found

    async def group_chat(self, chat_id: str) -> GroupChat:
        """One customer group with its members' names (groupchat/get, §6.6)."""
        document = await self._client.call(
            "POST", "/cgi-bin/externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1}
        )
        chat = _dict(document.get("group_chat"), "externalcontact/groupchat/get")
        return GroupChat(
            chat_id=str(chat.get("chat_id", chat_id)),
            name=str(chat.get("name", "")),
            owner=str(chat.get("owner", "")),
            create_time=_time(chat.get("create_time")),
            members=tuple(
                GroupMember(
                    str(m.get("userid", "")), _int(m.get("type")), _time(m.get("join_time")), str(m.get("name", ""))
                )
                for m in _dicts(chat.get("member_list", []))
            ),
            admins=tuple(str(a.get("userid", "")) for a in _dicts(chat.get("admin_list", []))),
        )

    async def transfer_resigned_groups(self, chat_ids: Sequence[str], new_owner: str) -> list[TransferAnswer]:
        """Give departed owners' groups to ``new_owner`` (groupchat/transfer, §8.4)."""
        return await self._transfer_groups("/cgi-bin/externalcontact/groupchat/transfer", chat_ids, new_owner)

    async def transfer_groups(self, chat_ids: Sequence[str], new_owner: str) -> list[TransferAnswer]:
        """Move active owners' groups (groupchat/onjob_transfer, §8.5)."""
        return await self._transfer_groups("/cgi-bin/externalcontact/groupchat/onjob_transfer", chat_ids, new_owner)

    async def _transfer_groups(self, path: str, chat_ids: Sequence[str], new_owner: str) -> list[TransferAnswer]:
        """One answer per requested group, in order; then one per ``failed_chat_list`` entry
        that names none of them (``item_id`` as WeCom sent it), so callers can report it."""
        answers: list[TransferAnswer] = []
        for batch in _batches(list(dict.fromkeys(chat_ids)), TRANSFER_BATCH_LIMIT):
            document = await self._client.call("POST", path, {"chat_id_list": batch, "new_owner": new_owner})
            failed = [
                TransferAnswer(str(item.get("chat_id", "")), _int(item.get("errcode"), -1), str(item.get("errmsg", "")))
                for item in _dicts(document.get("failed_chat_list", []))
            ]
            by_id = {answer.item_id: answer for answer in failed}
            unmatched = [answer for answer in failed if answer.item_id not in batch]
            if not unmatched:
                # Groups not listed as failed were transferred (the API reports failures only).
                answers.extend(by_id.get(chat_id, TransferAnswer(chat_id, 0)) for chat_id in batch)
                continue
            # A failure naming none of our groups means "not listed" no longer proves success:
            # every group of the batch not listed by its id is read back and judged by its owner.
            log.warning("wecom.group_transfer.unmatched_failures", count=len(unmatched), batch=len(batch))
            for chat_id in batch:
                answers.append(by_id[chat_id] if chat_id in by_id else await self._owner_check(chat_id, new_owner))
            answers.extend(unmatched)
        return answers

    async def _owner_check(self, chat_id: str, new_owner: str) -> TransferAnswer:
        try:
            chat = await self.group_chat(chat_id)
        except (WeComTransientError, WeComConfigurationError):
            raise  # the call cannot be judged now; the execution releases and retries it
        except WeComApiError as error:  # the group itself is refused (e.g. no longer exists)
            return TransferAnswer(chat_id, error.errcode if error.errcode is not None else -1, str(error))
        if chat.owner == new_owner:
            return TransferAnswer(chat_id, 0)
        return TransferAnswer(chat_id, UNCONFIRMED_ERRCODE, UNCONFIRMED_REASON)

    def _pages(self) -> Iterator[int]:
        yield from range(self._max_pages)


def _batches(items: list[_T], size: int) -> Iterator[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _time(value: object) -> datetime | None:
    seconds = _int(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _dict(value: object, call: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WeComApiError(
            f"WeCom {call} answered without the expected object",
            hint="check WECOM_AUDIT_WECOM__API_BASE_URL points at WeCom's API",
        )
    return value


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str_list(value: object, call: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WeComApiError(
            f"WeCom {call} answered without a list of ids",
            hint="check WECOM_AUDIT_WECOM__API_BASE_URL points at WeCom's API",
        )
    return value


def _follow_user(item: dict[str, Any]) -> FollowUser:
    return FollowUser(
        userid=str(item.get("userid", "")),
        remark=str(item.get("remark", "")),
        description=str(item.get("description", "")),
        createtime=_time(item.get("createtime")),
        tags=tuple(
            Tag(str(t.get("group_name", "")), str(t.get("tag_name", "")), str(t.get("tag_id", "")), _int(t.get("type")))
            for t in _dicts(item.get("tags", []))
        ),
        add_way=_int(item.get("add_way")),
    )
