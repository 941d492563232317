"""A running wecom-audit (uvicorn on loopback) over the handover world: the simulated
company with departed members (``handover_edge``), its chats pulled, and console users —
a manager scoped to the leaver's department, one scoped elsewhere, a company-wide
compliance officer, an auditor, and ``heir``: a reviewer account linked to the successor's
WeCom userid. Import ``office`` into a test module to use it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from api.app import ApiServer
from api.context import AppContext
from archive.clock import utcnow
from archive.directory.service import sync_directory
from archive.simulator.directory_feed import directory_of
from audit.security import service as security
from config.database import session_scope

if TYPE_CHECKING:
    from tests.audit.handover.edge import HandoverWorldEdge

PASSWORD = "correct horse battery staple"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Caller:
    """One signed-in console user talking to the running server."""

    def __init__(self, base_url: str, username: str) -> None:
        self.username = username
        self.http = httpx.Client(base_url=base_url, timeout=60)
        response = self.http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        self.http.headers["X-CSRF-Token"] = response.json()["csrf_token"]

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, json=body, **kwargs)

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, (
            str(response.request.url),
            response.json() if response.status_code >= 400 else response.text[:200],
        )
        return response.json() if "json" in response.headers.get("content-type", "") else response


@dataclass
class Office:
    """The running server, the simulated WeCom and who works where."""

    edge: HandoverWorldEdge
    context: AppContext
    url: str
    leaver: str
    successor: str
    department: int

    def caller(self, username: str) -> Caller:
        return Caller(self.url, username)


@pytest.fixture
def office(handover_edge: HandoverWorldEdge) -> Iterator[Office]:
    edge = handover_edge
    company = edge.simulator.company
    leaver = edge.leavers()[0]
    department = company.employee(leaver).department_id
    colleagues = sorted(
        e.userid
        for e in company.employees
        if e.department_id == department and e.userid != leaver and edge.world.active(e.userid)
    )
    assert colleagues, "the simulated leaver has no colleague to hand over to"
    successor = colleagues[0]
    parents = {d.id: d.parent_id for d in company.departments}
    above: set[int] = set()
    cursor: int | None = department
    while cursor is not None:
        above.add(cursor)
        cursor = parents.get(cursor)
    other_department = next(d for d in sorted(parents) if d not in above)  # its subtree misses the leaver
    context = edge.context()
    departments, members = directory_of(company)
    with session_scope(context.session_factory) as session:
        # The directory as wecom-audit saw it while the leaver still worked here (their
        # memberships stay when they are no longer listed): the case's department scope.
        sync_directory(session, edge.corp_id, departments, members, utcnow())
        staying = [m for m in members if m.userid not in edge.world.departed]
        sync_directory(session, edge.corp_id, departments, staying, utcnow())
        operator = security.cli_principal("cli:test")
        for username, role, extra in (
            ("manager", "manager", {"departments": [(edge.corp_id, department)]}),
            ("elsewhere", "manager", {"departments": [(edge.corp_id, other_department)]}),
            ("officer", "compliance_officer", {"scope_all": True}),
            ("auditor", "auditor", {}),
            ("heir", "reviewer", {"wecom_member": (edge.corp_id, successor)}),
        ):
            security.create_user(
                session, operator, username=username, password=PASSWORD, role=role, now=utcnow(), **extra
            )
    server = ApiServer(context, "127.0.0.1", _free_port()).start()
    try:
        httpx.get(f"{server.url}/health/live", timeout=10)
        yield Office(edge, context, server.url, leaver, successor, department)
    finally:
        server.stop()
        context.close()
