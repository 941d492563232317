"""The review workflow: every transition allowed or refused, each one in the audit trail."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.alerts.errors import TransitionRefusedError
from audit.alerts.from_hits import ScannedMessage, alert_requests
from audit.alerts.routing import MANAGER, RouteSpec, add_route
from audit.detect.hits import Hit, Severity
from audit.notify.models import Notification
from audit.review import service as review
from audit.review.errors import AssigneeRefusedError
from audit.review.models import AlertTrail, Suppression
from audit.security import service as security
from tests.audit.alerts.helpers import CORP, T0, alert, conversation, minutes
from tests.conftest import Database

LATER = T0 + minutes(30)
PASSWORD = "correct horse battery staple"


def users(session: Session, **roles: str) -> None:
    """Accounts that alerts may be handed to (or not, per their role)."""
    for username, role in roles.items():
        security.create_user(
            session,
            security.cli_principal("cli:test"),
            username=username,
            password=PASSWORD,
            role=role,
            now=T0,
        )


def _trail(session: Session, alert_id: int) -> list[tuple[str, str, str, str, str | None]]:
    return [(t.actor, t.action, t.from_status, t.to_status, t.note) for t in review.trail(session, alert_id)]


def test_claim_escalate_resolve_is_recorded_step_by_step(database: Database) -> None:
    with database.sessions.begin() as session:
        add_route(session, CORP, RouteSpec("managers", MANAGER, ["email:boss@example.com"]), T0)
        item = alert(session, conversation(session, "pair:a|wmcust"))
        review.claim(session, item.id, actor="li", now=LATER)
        assert (item.status, item.assignee) == ("claimed", "li")
        review.add_note(session, item.id, actor="li", note="客户说是误会", now=LATER)
        review.escalate(session, item.id, actor="li", now=LATER, note="needs a manager")
        assert item.status == "escalated" and "email:boss@example.com" in item.routed_to
        review.resolve(session, item.id, actor="wang", disposition="coached", now=LATER, note="talked to staff")
        assert (item.status, item.disposition) == ("resolved", "coached")
        assert _trail(session, item.id) == [
            ("li", "claim", "new", "claimed", None),
            ("li", "note", "claimed", "claimed", "客户说是误会"),
            ("li", "escalate", "claimed", "escalated", "needs a manager"),
            ("wang", "resolve", "escalated", "resolved", "talked to staff"),
        ]
        escalation = session.scalars(select(Notification).where(Notification.kind == "escalation")).one()
        assert escalation.target == "email:boss@example.com" and escalation.subject.startswith("Escalated: ")


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], ["release", "resolve", "false_positive", "reopen"]),
        (["claim"], ["claim", "reopen"]),
        (["escalate"], ["claim", "escalate", "release", "reopen"]),
        (["claim", "resolve"], ["claim", "release", "escalate", "resolve", "false_positive"]),
        (["claim", "false_positive"], ["claim", "release", "escalate", "resolve", "false_positive"]),
    ],
)
def test_refused_transitions_change_nothing(database: Database, path: list[str], refused: list[str]) -> None:
    with database.sessions.begin() as session:
        item = alert(session, conversation(session, "pair:a|wmcust"))
        for action in path:
            _apply(session, item.id, action)
        status, entries = item.status, len(review.trail(session, item.id))
        assert sorted(set(review.TRANSITIONS) - set(refused)) == sorted(review.allowed_actions(status))
        for action in refused:
            with pytest.raises(TransitionRefusedError):
                _apply(session, item.id, action)
        assert item.status == status
        assert len(review.trail(session, item.id)) == entries


def _apply(session: Session, alert_id: int, action: str) -> None:
    if action == "resolve":
        review.resolve(session, alert_id, disposition="no_action", actor="li", now=LATER)
    else:
        getattr(review, {"false_positive": "mark_false_positive"}.get(action, action))(
            session, alert_id, actor="li", now=LATER
        )


def test_release_reopen_assign_and_tags(database: Database) -> None:
    with database.sessions.begin() as session:
        users(session, li="reviewer", zhao="compliance_officer")
        item = alert(session, conversation(session, "pair:a|wmcust"))
        review.assign(session, item.id, actor="boss", assignee="li", now=LATER)
        assert (item.status, item.assignee) == ("claimed", "li")
        review.assign(session, item.id, actor="boss", assignee="zhao", now=LATER)
        review.release(session, item.id, actor="zhao", now=LATER)
        assert (item.status, item.assignee) == ("new", None)
        review.tag(session, item.id, actor="li", add=["飞单", "vip"], now=LATER)
        review.tag(session, item.id, actor="li", remove=["vip"], now=LATER)
        assert item.tags == ["飞单"]
        review.claim(session, item.id, actor="li", now=LATER)
        review.resolve(session, item.id, actor="li", disposition="warned", now=LATER)
        review.reopen(session, item.id, actor="boss", now=LATER, note="new evidence")
        assert (item.status, item.disposition, item.assignee) == ("new", None, None)
        with pytest.raises(TransitionRefusedError):
            review.resolve(session, item.id, actor="li", disposition="not-a-disposition", now=LATER)
        actions = [a for _, a, *_ in _trail(session, item.id)]
        assert actions == ["claim", "assign", "release", "tag", "tag", "claim", "resolve", "reopen"]


def test_alerts_are_handed_only_to_active_users_who_review_alerts(database: Database) -> None:
    with database.sessions.begin() as session:
        users(session, li="reviewer", audrey="auditor", root="admin", gone="reviewer")
        security.disable_user(session, security.cli_principal("cli:test"), "gone", T0)
        item = alert(session, conversation(session, "pair:a|wmcust"))
        for nobody in ("ghost", "audrey", "root", "gone"):  # unknown, auditor, admin, disabled
            with pytest.raises(AssigneeRefusedError, match=nobody):
                review.assign(session, item.id, actor="li", assignee=nobody, now=LATER)
            with pytest.raises(AssigneeRefusedError):
                review.claim(session, item.id, actor="li", assignee=nobody, now=LATER)
        assert (item.status, item.assignee, review.trail(session, item.id)) == ("new", None, [])
        review.claim(session, item.id, actor="boss", assignee="li", now=LATER)
        assert (item.status, item.assignee) == ("claimed", "li")


def test_the_trail_is_append_only(database: Database) -> None:
    with database.sessions.begin() as session:
        item = alert(session, conversation(session, "pair:a|wmcust"))
        review.claim(session, item.id, actor="li", now=LATER)
    with database.sessions() as session:
        entry = session.scalars(select(AlertTrail)).one()
        entry.note = "rewritten"
        with pytest.raises(ValueError, match="append-only"):
            session.flush()
        session.rollback()
        session.delete(session.scalars(select(AlertTrail)).one())
        with pytest.raises(ValueError, match="append-only"):
            session.flush()
        session.rollback()
    with database.sessions() as session:
        assert [(t.action, t.note) for t in session.scalars(select(AlertTrail))] == [("claim", None)]


def test_bulk_actions_apply_where_allowed_and_report_the_rest(database: Database) -> None:
    with database.sessions.begin() as session:
        chat = conversation(session, "pair:a|wmcust")
        ids = [alert(session, chat, rule=f"r{n}").id for n in range(4)]
        review.claim(session, ids[1], actor="zhao", now=LATER)
        result = review.bulk(session, [*ids, 999], lambda i: review.claim(session, i, actor="li", now=LATER))
        assert result.done == [ids[0], ids[2], ids[3]]
        assert set(result.refused) == {ids[1], 999}
        assert "claimed" in result.refused[ids[1]] and "does not exist" in result.refused[999]
        closed = review.bulk(
            session, ids, lambda i: review.resolve(session, i, actor="li", disposition="no_action", now=LATER)
        )
        assert closed.done == ids
        assert len(review.trail(session, ids[1])) == 2


def test_false_positive_suppresses_the_same_match_in_the_same_conversation(database: Database) -> None:
    with database.sessions.begin() as session:
        chat, other = conversation(session, "pair:a|wmcust"), conversation(session, "pair:b|wmcust")
        item = alert(session, chat, rule="offplatform", normalised="加微信")
        review.claim(session, item.id, actor="li", now=LATER)
        review.mark_false_positive(session, item.id, actor="li", now=LATER, note="他在说公司官方企业微信")
        assert [(s.conversation_id, s.rule, s.normalised) for s in session.scalars(select(Suppression))] == [
            (chat, "offplatform", "加微信")
        ]
        suppressed = review.suppressions(session, CORP)

        def raised(conversation_id: int, normalised: str, rule: str = "offplatform") -> int:
            message = ScannedMessage(1, CORP, conversation_id, LATER, "请加微信聊")
            hit = Hit("lexicon", "1", "off_platform_contact", rule, Severity.HIGH, 1, 4, "加微信", normalised)
            requests = alert_requests(
                [message], [[hit]], window_minutes=60, min_severity=Severity.LOW, suppressed=suppressed
            )
            return len(requests)

        assert raised(chat, "加微信") == 0  # same match, same conversation: suppressed
        assert raised(other, "加微信") == 1  # another conversation
        assert raised(chat, "加vx") == 1  # another match
        assert raised(chat, "加微信", rule="kickback") == 1  # another rule

        review.reopen(session, item.id, actor="boss", now=LATER)
        assert review.suppressions(session, CORP) == set()
