"""WeCom's directory HTTP API (spec §6.5, §6.7, §6.7a) over a :class:`DirectoryWorld`.

Answers like WeCom: call-level errcodes for bad requests, cursor pages (small on purpose,
so clients walk several), 60111 for a userid WeCom no longer has, 301059 for a customer
group asked of msgaudit/groupchat/get, and the access-token rules of the server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, Final

from archive.simulator.directory.world import DirectoryWorld
from archive.simulator.server import Reply, SimulatorServer, _json

# Small pages on purpose (WeCom allows 10,000 ids / 100 customers per page).
MEMBER_PAGE_SIZE: Final = 15
FOLLOW_PAGE_SIZE: Final = 25
BATCH_USERS_LIMIT: Final = 100
# A fixed epoch for follow createtimes, so they do not move with the simulated clock.
FOLLOW_EPOCH_S: Final = 1_600_000_000

Handler = Callable[[dict[str, str], dict[str, Any]], Reply]


class DirectoryApi:
    def __init__(self, world: DirectoryWorld) -> None:
        self.world = world
        self._server: SimulatorServer | None = None

    def install(self, server: SimulatorServer) -> None:
        self._server = server
        server.extra_secrets.add(self.world.handover.contact_secret)
        routes: dict[tuple[str, str], Handler] = {
            ("GET", "/cgi-bin/department/list"): self._departments,
            ("POST", "/cgi-bin/user/list_id"): self._list_id,
            ("GET", "/cgi-bin/user/get"): self._user,
            ("GET", "/cgi-bin/externalcontact/get_follow_user_list"): self._follow_users,
            ("POST", "/cgi-bin/externalcontact/batch/get_by_user"): self._by_user,
            ("POST", "/cgi-bin/msgaudit/groupchat/get"): self._internal_group,
            ("GET", "/cgi-bin/msgaudit/get_robot_info"): self._robot,
        }
        for (method, path), handler in routes.items():
            server.extra_routes[(method, path)] = self._guarded(path, handler)

    def _guarded(self, path: str, handler: Handler) -> Callable[[dict[str, str], bytes], Reply]:
        def route(query: dict[str, str], body: bytes) -> Reply:
            assert self._server is not None
            error = self._server.check_token(query.get("access_token"))
            if error:
                return _answer(error[0], error[1])
            with self.world.handover.lock:
                self.world.calls[path] += 1
                refused = self.world.faults.refuse.get(path)
                if refused is None and self.world.faults.rate_limited > 0:
                    self.world.faults.rate_limited -= 1
                    return _answer(self.world.faults.rate_limit_errcode, "api freq out of limit")
            if refused is not None:
                return _answer(refused, "no privilege to access/modify contact/party/agent")
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                return _answer(47001, "data format error")
            if not isinstance(request, dict):
                return _answer(47001, "data format error")
            with self.world.handover.lock:
                return handler(query, request)

        return route

    def _departments(self, _query: dict[str, str], _request: dict[str, Any]) -> Reply:
        rows = [
            {
                "id": d.id,
                "name": d.name,
                "name_en": "",
                "parentid": d.parent_id or 0,
                "order": 100_000_000 - d.id,
                "department_leader": [],
            }
            for d in self.world.company.departments
        ]
        return _answer(0, "ok", department=rows)

    def _list_id(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        limit = _int(request.get("limit"), 10_000)
        if not 1 <= limit <= 10_000:
            return _answer(40058, "limit out of range")
        rows = [{"userid": e.userid, "department": e.department_id} for e in self.world.listed_members()]
        page, next_cursor = _page(rows, str(request.get("cursor") or ""), min(limit, MEMBER_PAGE_SIZE))
        return _answer(0, "ok", dept_user=page, next_cursor=next_cursor)

    def _user(self, query: dict[str, str], _request: dict[str, Any]) -> Reply:
        userid = query.get("userid", "")
        if not self.world.company.is_employee(userid):
            return _answer(40003, "invalid userid")
        if userid in self.world.handover.departed:
            return _answer(60111, "userid not found")
        employee = self.world.company.employee(userid)
        return _answer(
            0,
            "ok",
            userid=userid,
            name=employee.name,
            department=[employee.department_id],
            position="",
            status=self.world.statuses.get(userid, 1),
        )

    def _follow_users(self, _query: dict[str, str], _request: dict[str, Any]) -> Reply:
        return _answer(0, "ok", follow_user=self.world.follow_users())

    def _by_user(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        userids = request.get("userid_list")
        if not isinstance(userids, list) or not userids or not all(isinstance(u, str) for u in userids):
            return _answer(40058, "userid_list must hold 1 to 100 userids")
        if len(userids) > BATCH_USERS_LIMIT:
            return _answer(40058, "userid_list exceeds 100")
        limit = _int(request.get("limit"), 50)
        if not 1 <= limit <= 100:
            return _answer(40058, "limit out of range")
        handover = self.world.handover
        for userid in userids:
            if not handover.active(userid):
                return _answer(40003, "invalid userid")
        rows = []
        for userid in userids:
            for ext in handover.follows.get(userid, []):
                customer = self.world.company.customer(ext)
                rows.append(
                    {
                        "external_contact": {
                            "external_userid": ext,
                            "name": customer.name,
                            "type": customer.type,
                            **({"corp_name": customer.corp_name} if customer.corp_name else {}),
                        },
                        "follow_info": {
                            "userid": userid,
                            "remark": customer.name,
                            "description": "",
                            "createtime": FOLLOW_EPOCH_S + sum(map(ord, ext + userid)) % 50_000_000,
                            "tag_id": [],
                            "remark_corp_name": customer.corp_name or "",
                            "remark_mobiles": [],
                            "oper_userid": userid,
                            "add_way": 1,
                            "state": "",
                        },
                    }
                )
        page, next_cursor = _page(rows, str(request.get("cursor") or ""), min(limit, FOLLOW_PAGE_SIZE))
        return _answer(0, "ok", external_contact_list=page, next_cursor=next_cursor)

    def _internal_group(self, _query: dict[str, str], request: dict[str, Any]) -> Reply:
        roomid = str(request.get("roomid", ""))
        group = next((g for g in self.world.company.groups if g.roomid == roomid), None)
        if group is None:
            return _answer(40050, "invalid chatid")
        if group.kind != "internal":
            return _answer(301059, "not internal group")
        return _answer(
            0,
            "ok",
            roomname=group.name,
            creator=group.owner,
            room_create_time=FOLLOW_EPOCH_S,
            notice="",
            members=[{"memberid": m, "jointime": FOLLOW_EPOCH_S + 60} for m in group.members],
        )

    def _robot(self, query: dict[str, str], _request: dict[str, Any]) -> Reply:
        robot_id = query.get("robot_id", "")
        robot = next((r for r in self.world.company.robots if r.robot_id == robot_id), None)
        if robot is None:
            return _answer(40003, "invalid robot_id")
        return _answer(
            0, "ok", data={"robot_id": robot.robot_id, "name": robot.name, "creator_userid": robot.creator_userid}
        )


def _answer(errcode: int, errmsg: str, **fields: Any) -> Reply:
    return _json(200, {"errcode": errcode, "errmsg": errmsg, **fields})


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _page(rows: list[dict[str, Any]], cursor: str, size: int) -> tuple[list[dict[str, Any]], str]:
    """One page and the cursor of the next ("" when last). Cursors are opaque offsets."""
    try:
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except ValueError:
        offset = 0
    end = offset + max(1, size)
    next_cursor = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(rows) else ""
    return rows[offset:end], next_cursor
