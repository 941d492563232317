"""`wecom-audit handover …` against the simulated WeCom, and `users add --wecom-userid`
granting what the member inherited before the account existed."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from api.cli import app
from api.scheduler import PullScheduler
from audit.handover.decisions import accept_suggestions
from audit.handover.execution import execute
from audit.handover.models import CaseStatus, HandoverCase, HandoverInheritance
from config.database import session_scope
from tests.audit.handover.edge import HandoverWorldEdge
from tests.audit.handover.execution_world import PASSWORD, HandoverArchive, from_edge, manager


@pytest.fixture
def archive(handover_edge: HandoverWorldEdge) -> HandoverArchive:
    return from_edge(handover_edge)


def _env(archive: HandoverArchive, *, contact_secret: bool = True) -> dict[str, str]:
    settings = archive.edge.settings
    return {
        "WECOM_AUDIT_DATA_DIR": str(settings.data_dir),
        "WECOM_AUDIT_DATABASE__URL": archive.edge.database.url,
        "WECOM_AUDIT_WECOM__CORP_ID": archive.corp_id,
        "WECOM_AUDIT_WECOM__ARCHIVE_SECRET": archive.edge.simulator.archive_secret,
        "WECOM_AUDIT_WECOM__CONTACT_SECRET": archive.world.contact_secret if contact_secret else "",
        "WECOM_AUDIT_WECOM__API_BASE_URL": archive.edge.server.url,
        "COLUMNS": "200",  # tables unwrapped, as in a wide terminal
    }


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    return result.exit_code, result.output


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_case_from_the_command_line(archive: HandoverArchive) -> None:
    env = _env(archive)
    leaver = archive.leavers()[0]
    code, out = run(env, "handover", "list")
    assert code == 0 and "No handover cases" in out
    code, out = run(_env(archive, contact_secret=False), "handover", "open", leaver)
    assert code == 1 and "WECOM_AUDIT_WECOM__CONTACT_SECRET" in out
    code, out = run(env, "handover", "open", leaver)
    assert code == 0, out
    with session_scope(archive.sessions) as session:
        case_id = session.execute(select(HandoverCase.id)).scalar_one()
    assert f"Opened case {case_id}" in out
    code, out = run(env, "handover", "show", str(case_id))
    assert code == 0, out
    assert all(ext[:12] in out for ext in archive.world.follows[leaver])
    assert "deleted by the member before leaving" in out and "Not ready for sign-off" in out

    code, out = run(env, "handover", "decide", str(case_id))
    assert code == 1 and "exactly one decision" in out and "--transfer-to" in out
    code, out = run(env, "handover", "decide", str(case_id), "--transfer-to", leaver)
    assert code == 1 and "member handing over" in out and "What to do" in out
    code, out = run(env, "handover", "execute", str(case_id))
    assert code == 1 and "decide first" in out
    code, out = run(env, "handover", "decide", str(case_id), "--accept-suggestions")
    assert code == 0 and "Decided" in out, out
    code, out = run(env, "handover", "execute", str(case_id))
    assert code == 0 and "customers sent" in out and f"handover poll {case_id}" in out, out

    archive.advance_hours(25)
    code, out = run(env, "handover", "poll")  # every executing case
    assert code == 0 and "completed" in out, out
    code, out = run(env, "handover", "list", "--status", "completed")
    assert code == 0 and leaver in out
    code, out = run(env, "handover", "list", "--status", "finished")
    assert code == 1 and "unknown status" in out

    with session_scope(archive.sessions) as session:
        assert session.get_one(HandoverCase, case_id).status == CaseStatus.COMPLETED
        rows = session.execute(select(HandoverInheritance.successor_userid, HandoverInheritance.granted_user_id)).all()
    heirs = sorted({successor for successor, granted in rows if granted is None})
    assert heirs, "some successor inherited conversations without having an account"
    inherited = sum(1 for successor, _ in rows if successor == heirs[0])
    code, out = run(
        env,
        "users",
        "add",
        "heir",
        "--role",
        "reviewer",
        "--wecom-userid",
        heirs[0],
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0, out
    assert f"Granted {inherited} conversations" in out


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_scheduler_discovers_departed_members_and_polls_their_cases(archive: HandoverArchive) -> None:
    scheduler = PullScheduler(archive.edge.context())
    scheduler.discover_handovers()
    with session_scope(archive.sessions) as session:
        cases = {case.handover_userid: case.id for case in session.execute(select(HandoverCase)).scalars()}
    assert set(cases) == set(archive.leavers())
    case_id = cases[archive.leavers()[0]]
    with session_scope(archive.sessions) as session:
        assert accept_suggestions(session, manager(), case_id, archive.now()) > 0
    archive.run(lambda contacts: execute(archive.sessions, contacts, case_id, manager(), archive.now()))
    scheduler.poll_handovers()
    with session_scope(archive.sessions) as session:
        assert session.get_one(HandoverCase, case_id).status == CaseStatus.EXECUTING
    archive.advance_hours(25)
    scheduler.poll_handovers()
    with session_scope(archive.sessions) as session:
        assert session.get_one(HandoverCase, case_id).status == CaseStatus.COMPLETED
