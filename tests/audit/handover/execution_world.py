"""Helpers over the ``handover_edge`` fixture (``tests/audit/handover/edge.py``) for the
decision and execution tests.

Our ``now`` is the simulator's clock, so "two hours later" is one ``advance`` for WeCom
and for wecom-audit alike. The customer-contact client records its backoff sleeps
instead of waiting for them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import AppContext
from archive.models import Conversation
from archive.simulator.handover import HandoverWorld, SimulatorClock
from archive.simulator.server import Reply
from archive.wecom.contacts import WeComContacts
from audit.handover.inventory import open_case, take_inventory
from audit.handover.models import CaseKind
from audit.security import service as security
from audit.security.principal import Principal
from audit.security.roles import ROLE_PERMISSIONS, Role
from config.database import session_scope
from tests.audit.handover.edge import HandoverWorldEdge

T = TypeVar("T")
PASSWORD = "correct horse battery staple"


@dataclass
class HandoverArchive:
    edge: HandoverWorldEdge
    context: AppContext
    world: HandoverWorld
    clock: SimulatorClock
    sleeps: list[float] = field(default_factory=list)
    # JSON bodies of the customer transfer calls as the simulator received them, by API
    # ("transfer_customer", "resigned/transfer_customer").
    transfer_requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def corp_id(self) -> str:
        return self.edge.simulator.corp_id

    @property
    def sessions(self) -> Any:
        return self.context.session_factory

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now_ms() / 1000, UTC)

    def advance_hours(self, hours: float) -> None:
        self.clock.advance(hours * 3600)

    @asynccontextmanager
    async def contacts(self) -> AsyncIterator[WeComContacts]:
        async with self.edge.client() as client:
            yield WeComContacts(client)

    def run(self, work: Callable[[WeComContacts], Awaitable[T]]) -> T:
        async def with_contacts() -> T:
            async with self.contacts() as contacts:
                return await work(contacts)

        return asyncio.run(with_contacts())

    def calls(self, path: str) -> int:
        return self.edge.server.api_requests.count(f"/cgi-bin/externalcontact/{path}")

    # --- the company ---------------------------------------------------------------------

    def leavers(self) -> list[str]:
        return sorted(self.world.departed, key=lambda u: self.world.departed[u], reverse=True)

    def colleagues(self, userid: str) -> list[str]:
        """Active members of ``userid``'s department (successor candidates), by userid."""
        company = self.edge.simulator.company
        department = company.employee(userid).department_id
        return sorted(
            e.userid
            for e in company.employees
            if e.department_id == department and e.userid != userid and self.world.active(e.userid)
        )

    def open_case(self, userid: str, kind: CaseKind = CaseKind.RESIGNED, *, message: str | None = None) -> int:
        inventory = self.run(lambda c: take_inventory(self.sessions, c, self.corp_id, userid, kind))
        with session_scope(self.sessions) as session:
            return open_case(
                session, inventory, actor="manager", source="manager", now=self.now(), transfer_message=message
            ).id

    def add_account(self, username: str, *, wecom_userid: str | None, role: str = "reviewer") -> int:
        with session_scope(self.sessions) as session:
            view = security.create_user(
                session,
                security.cli_principal("cli:test"),
                username=username,
                password=PASSWORD,
                role=role,
                wecom_member=(self.corp_id, wecom_userid) if wecom_userid else None,
                now=self.now(),
            )
            return view.id

    def pair_conversations(self, session: Session, userid: str) -> dict[str, int]:
        """The single chats of ``userid``: the other party → conversation id."""
        found: dict[str, int] = {}
        for conversation in session.execute(
            select(Conversation).where(Conversation.corp_id == self.corp_id, Conversation.kind == "single")
        ).scalars():
            parties = {conversation.participant_a, conversation.participant_b}
            if userid in parties:
                other = (parties - {userid}).pop() if len(parties) > 1 else userid
                if other:
                    found[other] = conversation.id
        return found

    def room_conversations(self, session: Session) -> dict[str, int]:
        return {
            roomid: conversation_id
            for roomid, conversation_id in session.execute(
                select(Conversation.roomid, Conversation.id).where(
                    Conversation.corp_id == self.corp_id, Conversation.kind == "group"
                )
            )
            if roomid
        }


def manager(username: str = "manager") -> Principal:
    return Principal(1, username, Role.MANAGER, ROLE_PERMISSIONS[Role.MANAGER], "session")


def principal_of(session: Session, user_id: int) -> Principal:
    view = next(user for user in security.list_users(session) if user.id == user_id)
    role = Role(view.role)
    return Principal(view.id, view.username, role, ROLE_PERMISSIONS[role], "session")


def from_edge(edge: HandoverWorldEdge) -> HandoverArchive:
    """The ``handover_edge`` fixture's world, with helpers for deciding and executing."""
    archive = HandoverArchive(edge, edge.context(), edge.world, edge.clock, edge.sleeps)
    _record_transfer_requests(archive)
    return archive


def _record_transfer_requests(archive: HandoverArchive) -> None:
    """Keep the bodies the simulated WeCom receives for customer transfers (the simulator
    checks the handover message but does not keep it)."""
    for api in ("transfer_customer", "resigned/transfer_customer"):
        key = ("POST", f"/cgi-bin/externalcontact/{api}")
        bodies = archive.transfer_requests.setdefault(api, [])

        def recording(
            query: dict[str, str],
            body: bytes,
            route: Callable[[dict[str, str], bytes], Reply] = archive.edge.server.extra_routes[key],
            bodies: list[dict[str, Any]] = bodies,
        ) -> Reply:
            bodies.append(json.loads(body or b"{}"))
            return route(query, body)

        archive.edge.server.extra_routes[key] = recording
