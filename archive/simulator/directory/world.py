"""The simulated company's directory as WeCom keeps it, and the changes a test can trigger.

One source of truth: the directory is read from the :class:`HandoverWorld` (its ``company``,
who ``departed``, who ``follows`` whom, which customer groups exist in ``group_owner``).
Changes replace ``handover.company`` with an edited copy (the company is an immutable
value) or edit the handover state, so the customer-contact API the handover world serves
(externalcontact/groupchat/*, externalcontact/get) sees the same change.

Every change can send WeCom's callback through the handover world's signed sender
(``change_contact``, ``change_external_contact``, ``change_external_chat``, spec §8.8).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from archive.simulator.company import Company, Department, Employee, Group
from archive.simulator.handover.world import HandoverWorld
from archive.simulator.server import SimulatorServer


@dataclass
class DirectoryFaults:
    """``refuse``: path → errcode answered by every call to that path until removed (e.g.
    48002 / 60011 for a secret without the scope); the next ``rate_limited`` calls answer
    ``rate_limit_errcode`` (WeCom's minute quotas, spec §6.8)."""

    refuse: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    rate_limit_errcode: int = 45009


@dataclass
class DirectoryWorld:
    handover: HandoverWorld
    # user/get status overrides (1 active, 2 disabled, 4 not activated, 5 left but still listed).
    statuses: dict[str, int] = field(default_factory=dict)
    faults: DirectoryFaults = field(default_factory=DirectoryFaults)
    calls: Counter[str] = field(default_factory=Counter)  # served calls by path (tests read it)

    @property
    def company(self) -> Company:
        return self.handover.company

    def install(self, server: SimulatorServer) -> DirectoryWorld:
        """Serve the directory API on ``server`` (the handover world must be installed too,
        for the tokens of its 客户联系 secret and the customer-group API)."""
        from archive.simulator.directory.api import DirectoryApi  # the API reads this module's state

        DirectoryApi(self).install(server)
        return self

    def listed_members(self) -> list[Employee]:
        """Members user/list_id lists: everyone who has not left (deleted from 通讯录)."""
        return [e for e in self.company.employees if e.userid not in self.handover.departed]

    def follow_users(self) -> list[str]:
        """Members with the customer-contact function: those who have (had) customers."""
        return [u for u in self.handover.follows if self.handover.active(u)]

    @contextmanager
    def before_departures(self) -> Iterator[None]:
        """WeCom as it was before the handover world's members left (they are listed and
        active inside the block): a sync in it knows them, as an installation running
        before they left would have."""
        with self.handover.lock:
            departed = dict(self.handover.departed)
            self.handover.departed.clear()
        try:
            yield
        finally:
            with self.handover.lock:
                self.handover.departed.update(departed)

    # --- changes over time ------------------------------------------------------------------

    def rename_member(self, userid: str, name: str) -> None:
        self._edit_employee(userid, name=name)
        self._send("change_contact", "update_user", UserID=userid, Name=name)

    def move_member(self, userid: str, department_id: int) -> None:
        self.company.department(department_id)  # KeyError for a department that does not exist
        self._edit_employee(userid, department_id=department_id)
        self._send("change_contact", "update_user", UserID=userid, Department=str(department_id))

    def member_leaves(self, userid: str) -> None:
        """The member leaves: deleted from 通讯录 (no longer listed; user/get answers 60111)."""
        with self.handover.lock:
            self.company.employee(userid)
            self.handover.departed[userid] = self.handover.now_ms()
        self._send("change_contact", "delete_user", UserID=userid)

    def rename_department(self, department_id: int, name: str) -> None:
        with self.handover.lock:
            departments = tuple(
                dataclasses.replace(d, name=name) if d.id == department_id else d for d in self.company.departments
            )
            if departments == self.company.departments:
                raise KeyError(department_id)
            self._replace(departments=departments)
        self._send("change_contact", "update_party", Id=str(department_id), Name=name)

    def rename_group(self, roomid: str, name: str) -> None:
        group = self._edit_group(roomid, name)
        if group.kind == "customer":
            self._send("change_external_chat", "update", ChatId=roomid, UpdateDetail="change_name")

    def dismiss_group(self, roomid: str) -> None:
        """A customer group is dismissed: groupchat/list no longer lists it."""
        with self.handover.lock:
            if self.handover.group_owner.pop(roomid, None) is None:
                raise KeyError(roomid)
        self._send("change_external_chat", "dismiss", ChatId=roomid)

    def customer_deletes_member(self, userid: str, external_userid: str) -> None:
        """The customer deletes the member (``del_follow_user``, sent by the handover world)."""
        self.handover.customer_deletes_member(userid, external_userid)

    # --- helpers ------------------------------------------------------------------------------

    def _edit_employee(self, userid: str, **changes: object) -> None:
        with self.handover.lock:
            self.company.employee(userid)  # KeyError for an unknown member
            employees = tuple(
                dataclasses.replace(e, **changes) if e.userid == userid else e  # type: ignore[arg-type]
                for e in self.company.employees
            )
            self._replace(employees=employees)

    def _edit_group(self, roomid: str, name: str) -> Group:
        with self.handover.lock:
            found = [g for g in self.company.groups if g.roomid == roomid]
            if not found:
                raise KeyError(roomid)
            renamed = dataclasses.replace(found[0], name=name)
            self._replace(groups=tuple(renamed if g.roomid == roomid else g for g in self.company.groups))
            return renamed

    def _replace(
        self,
        *,
        departments: tuple[Department, ...] | None = None,
        employees: tuple[Employee, ...] | None = None,
        groups: tuple[Group, ...] | None = None,
    ) -> None:
        company = self.company
        self.handover.company = dataclasses.replace(
            company,
            departments=company.departments if departments is None else departments,
            employees=company.employees if employees is None else employees,
            groups=company.groups if groups is None else groups,
        )

    def _send(self, event: str, change: str, **fields: str) -> None:
        callbacks = self.handover.callbacks
        callbacks.send(
            {
                "ToUserName": self.company.corp_id,
                "FromUserName": "sys",
                "CreateTime": str(self.handover.now_ms() // 1000),
                "MsgType": "event",
                "Event": event,
                "ChangeType": change,
                **fields,
            }
        )
