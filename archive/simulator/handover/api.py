"""WeCom's customer-contact HTTP API (spec §6.6, §8) over a :class:`HandoverWorld`.

Answers like WeCom: per-customer / per-group errcodes inside errcode-0 answers, call-level
errcodes for bad requests, small cursor pages, and the access-token rules of the server
it is installed on. Every call first lets due transfers finish on the server's clock.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, Final

from archive.simulator.handover.world import (
    AUTO_ACCEPT_MS,
    DAY_MS,
    HOUR_MS,
    ONJOB_TRANSFERS_PER_90_DAYS,
    HandoverWorld,
    Transfer,
)
from archive.simulator.server import Reply, SimulatorServer, _json

TRANSFER_BATCH_LIMIT: Final = 100
# Small pages on purpose, so every client walks more than one cursor page (WeCom allows 1000).
PAGE_SIZE: Final = 10

Handler = Callable[[dict[str, str], dict[str, Any]], Reply]


class ContactApi:
    def __init__(self, world: HandoverWorld) -> None:
        self.world = world
        self._server: SimulatorServer | None = None

    def install(self, server: SimulatorServer) -> None:
        self._server = server
        server.extra_secrets.add(self.world.contact_secret)
        routes: dict[tuple[str, str], Handler] = {
            ("GET", "/cgi-bin/externalcontact/list"): self._list,
            ("GET", "/cgi-bin/externalcontact/get"): self._get,
            ("POST", "/cgi-bin/externalcontact/get_unassigned_list"): self._unassigned,
            ("POST", "/cgi-bin/externalcontact/resigned/transfer_customer"): self._resigned_transfer,
            ("POST", "/cgi-bin/externalcontact/resigned/transfer_result"): self._resigned_result,
            ("POST", "/cgi-bin/externalcontact/transfer_customer"): self._onjob_transfer,
            ("POST", "/cgi-bin/externalcontact/transfer_result"): self._onjob_result,
            ("POST", "/cgi-bin/externalcontact/groupchat/list"): self._group_list,
            ("POST", "/cgi-bin/externalcontact/groupchat/get"): self._group_get,
            ("POST", "/cgi-bin/externalcontact/groupchat/transfer"): self._group_transfer,
            ("POST", "/cgi-bin/externalcontact/groupchat/onjob_transfer"): self._group_onjob_transfer,
        }
        for key, handler in routes.items():
            server.extra_routes[key] = self._guarded(handler)

    def _guarded(self, handler: Handler) -> Callable[[dict[str, str], bytes], Reply]:
        def route(query: dict[str, str], body: bytes) -> Reply:
            assert self._server is not None
            error = self._server.check_token(query.get("access_token"))
            if error:
                return _answer(error[0], error[1])
            with self.world.lock:
                if self.world.faults.rate_limited > 0:
                    self.world.faults.rate_limited -= 1
                    return _answer(self.world.faults.rate_limit_errcode, "api freq out of limit")
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                return _answer(47001, "data format error")
            if not isinstance(request, dict):
                return _answer(47001, "data format error")
            self.world.settle()
            with self.world.lock:
                result: Reply = handler(query, request)
                return result

        return route

    def _list(self, query: dict[str, str], _request: dict[str, Any]) -> Reply:
        userid = query.get("userid", "")
        if not self.world.company.is_employee(userid):
            return _answer(40003, "invalid userid")
        customers = self.world.follows.get(userid, [])
        if not customers:
            return _answer(84061, "not external contact")
        return _answer(0, "ok", external_userid=list(customers))

    def _get(self, query: dict[str, str], _request: dict[str, Any]) -> Reply:
        ext = query.get("external_userid", "")
        try:
            customer = self.world.company.customer(ext)
        except KeyError:
            return _answer(40096, "invalid external userid")
        followers = [u for u, customers in self.world.follows.items() if ext in customers]
        return _answer(
            0,
            "ok",
            external_contact={
                "external_userid": ext,
                "name": customer.name,
                "type": customer.type,
                "corp_name": customer.corp_name or "",
            },
            follow_user=[
                {
                    "userid": u,
                    "remark": customer.name,
                    "description": "",
                    "createtime": (self.world.now_ms() - (400 + sum(map(ord, ext + u)) % 600) * DAY_MS) // 1000,
                    "tags": [{"group_name": "客户等级", "tag_name": "重点客户", "tag_id": "et" + ext[2:], "type": 1}]
                    if sum(map(ord, ext)) % 3 == 0
                    else [],
                    "add_way": 1,
                }
                for u in followers
            ],
        )

    def _unassigned(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        busy = {t.external_userid for t in self.world.transfers if t.kind == "resigned" and t.status in (1, 2)}
        rows = [
            {"handover_userid": userid, "external_userid": ext, "dimission_time": left_ms // 1000}
            for userid, left_ms in self.world.departed.items()
            for ext in self.world.follows.get(userid, [])
            if ext not in busy
        ]
        page, next_cursor = _page(rows, str(request.get("cursor") or ""), _int(request.get("page_size"), 1000))
        return _answer(0, "ok", info=page, is_last=not next_cursor, next_cursor=next_cursor)

    def _resigned_transfer(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        return self._transfer("resigned", request)

    def _onjob_transfer(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        message = request.get("transfer_success_msg")
        if message is not None and (not isinstance(message, str) or len(message) > 200):
            return _answer(40058, "transfer_success_msg too long")
        return self._transfer("onjob", request)

    def _transfer(self, kind: str, request: dict[str, Any]) -> Reply:
        handover, takeover = str(request.get("handover_userid", "")), str(request.get("takeover_userid", ""))
        ids = request.get("external_userid")
        if not isinstance(ids, list) or not ids:
            return _answer(41035, "missing external_userid")
        if len(ids) > TRANSFER_BATCH_LIMIT:
            return _answer(40058, "external_userid exceeds 100")
        if not self.world.company.is_employee(handover) or not self.world.active(takeover):
            return _answer(40003, "invalid userid")
        now = self.world.now_ms()
        answers = []
        for ext in ids:
            errcode = self._transfer_error(kind, handover, takeover, str(ext), now)
            if errcode == 0:
                outcome = 3 if ext in self.world.refusing else 1
                delay = (
                    2 * HOUR_MS
                    if ext in self.world.refusing
                    else HOUR_MS
                    if ext in self.world.quick
                    else AUTO_ACCEPT_MS
                )
                self.world.transfers.append(Transfer(kind, handover, takeover, str(ext), now, now + delay, outcome))
                if kind == "onjob":
                    self.world.onjob_history.setdefault(str(ext), []).append(now)
            answers.append({"external_userid": ext, "errcode": errcode})
        return _answer(0, "ok", customer=answers)

    def _transfer_error(self, kind: str, handover: str, takeover: str, ext: str, now: int) -> int:
        if handover == takeover:
            return 40130
        try:
            self.world.company.customer(ext)
        except KeyError:
            return 40096
        if kind == "resigned" and handover not in self.world.departed:
            return 40097
        if ext not in self.world.follows.get(handover, []):
            return 40131
        if any(t.external_userid == ext and t.status == 2 for t in self.world.transfers):
            return 40129
        if ext in self.world.too_often:
            return 40128
        recent = [ms for ms in self.world.onjob_history.get(ext, []) if now - ms < 90 * DAY_MS]
        if kind == "onjob" and len(recent) >= ONJOB_TRANSFERS_PER_90_DAYS:
            return 40128
        return 0

    def _resigned_result(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        return self._result("resigned", request)

    def _onjob_result(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        return self._result("onjob", request)

    def _result(self, kind: str, request: dict[str, Any]) -> Reply:
        handover, takeover = str(request.get("handover_userid", "")), str(request.get("takeover_userid", ""))
        latest: dict[str, Transfer] = {}
        for t in self.world.transfers:
            if t.kind == kind and t.handover == handover and t.takeover == takeover:
                latest[t.external_userid] = t
        rows = [
            {"external_userid": t.external_userid, "status": t.status, "takeover_time": t.due_ms // 1000}
            for t in latest.values()
        ]
        page, next_cursor = _page(rows, str(request.get("cursor") or ""), 1000)
        return _answer(0, "ok", customer=page, next_cursor=next_cursor)

    def _group_list(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        status_filter = _int(request.get("status_filter"), 0)
        owner_filter = request.get("owner_filter")
        owners = owner_filter.get("userid_list") if isinstance(owner_filter, dict) else None
        if isinstance(owners, list) and len(owners) > 100:
            return _answer(40058, "userid_list exceeds 100")
        rows = []
        for chat_id, owner in self.world.group_owner.items():
            status = 3 if chat_id in self.world.inherited_groups else 1 if owner in self.world.departed else 0
            if (status_filter and status != status_filter) or (owners and owner not in owners):
                continue
            rows.append({"chat_id": chat_id, "status": status})
        limit = _int(request.get("limit"), 100)
        if not 1 <= limit <= 1000:
            return _answer(40058, "limit out of range")
        page, next_cursor = _page(rows, str(request.get("cursor") or ""), limit)
        return _answer(0, "ok", group_chat_list=page, next_cursor=next_cursor)

    def _group_get(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        chat_id = str(request.get("chat_id", ""))
        group = next((g for g in self.world.company.groups if g.roomid == chat_id and g.kind == "customer"), None)
        if group is None:
            return _answer(40050, "invalid chatid")
        owner = self.world.group_owner[chat_id]
        members = [owner, *(m for m in group.members if m != owner)]
        need_name = request.get("need_name") == 1
        member_list = []
        for m in members:
            internal = self.world.company.is_employee(m)
            name = (
                (self.world.company.employee(m).name if internal else self.world.company.customer(m).name)
                if need_name
                else ""
            )
            member = {"userid": m, "type": 1 if internal else 2, "join_time": 1_600_000_000, "join_scene": 1}
            member_list.append({**member, "name": name} if need_name else member)
        return _answer(
            0,
            "ok",
            group_chat={
                "chat_id": chat_id,
                "name": group.name,
                "owner": owner,
                "create_time": 1_600_000_000,
                "notice": "",
                "member_list": member_list,
                "admin_list": [],
            },
        )

    def _group_transfer(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        return self._groups("resigned", request)

    def _group_onjob_transfer(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        return self._groups("onjob", request)

    def _groups(self, kind: str, request: dict[str, Any]) -> Reply:
        chat_ids, new_owner = request.get("chat_id_list"), str(request.get("new_owner", ""))
        if not isinstance(chat_ids, list) or not 1 <= len(chat_ids) <= TRANSFER_BATCH_LIMIT:
            return _answer(40058, "chat_id_list must hold 1 to 100 ids")
        if not self.world.active(new_owner):
            return _answer(40003, "invalid userid")
        # WeCom's daily quota per new owner (300 groups, spec §8.4) and the on-job 2-per-90-days
        # group limit have no documented errcode (UNCERTAIN): the simulator does not enforce them.
        failed = []
        for chat_id in map(str, chat_ids):
            owner = self.world.group_owner.get(chat_id)
            errcode, errmsg = 0, ""
            if owner is None:
                errcode, errmsg = 90501, "not a customer group"
            elif chat_id in self.world.inherited_groups and kind == "resigned":
                errcode, errmsg = 90508, "already inherited"
            elif owner == new_owner:
                errcode, errmsg = 90504, "the new owner is already the owner"
            elif kind == "resigned" and owner not in self.world.departed:
                errcode, errmsg = 90500, "the owner of this chat is not resigned"
            elif kind == "onjob" and owner in self.world.departed:
                errcode, errmsg = 90502, "the owner of this chat has resigned"
            if errcode:
                named = chat_id[:-4] if self.world.faults.garbled_failed_chat_ids else chat_id
                failed.append({"chat_id": named, "errcode": errcode, "errmsg": errmsg})
                continue
            self.world.group_owner[chat_id] = new_owner
            if kind == "resigned":
                self.world.inherited_groups.add(chat_id)
        return _answer(0, "ok", failed_chat_list=failed)


def _answer(errcode: int, errmsg: str, **fields: Any) -> Reply:
    return _json(200, {"errcode": errcode, "errmsg": errmsg, **fields})


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _page(rows: list[dict[str, Any]], cursor: str, requested: int) -> tuple[list[dict[str, Any]], str]:
    """One page and the cursor of the next ("" when last). Cursors are opaque offsets."""
    try:
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except ValueError:
        offset = 0
    size = max(1, min(requested, PAGE_SIZE))
    end = offset + size
    next_cursor = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(rows) else ""
    return rows[offset:end], next_cursor
