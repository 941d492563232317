"""The review use cases every front end calls: the action dispatch, alert visibility, the
sampling queue in scope and routing rules (``audit.review.actions``, ``audit.review.queue``,
``audit.review.sampling``, ``audit.alerts.routing``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.accesslog.models import AccessLogEntry
from audit.alerts import routing
from audit.alerts.errors import AlertNotFoundError, TransitionRefusedError
from audit.alerts.visibility import alert_for
from audit.errors import Conflict, InvalidInput, NotFound
from audit.review import queue, sampling
from audit.review.actions import ReviewStep, apply_review_action, review_alert, review_alerts
from audit.review.queue import AlertFilters
from audit.security import service as security
from audit.security.errors import OutOfScope
from audit.security.principal import Principal
from audit.security.roles import ROLE_PERMISSIONS, Role
from tests.audit.alerts.helpers import CORP, T0, alert, conversation
from tests.audit.review.test_sampling import END, START, _messages
from tests.conftest import Database

LATER = T0 + timedelta(minutes=30)
PASSWORD = "correct horse battery staple"


def principal(session: Session, username: str, *, scope_all: bool) -> Principal:
    """A reviewer who sees everything, or (``scope_all=False``, no department) nothing."""
    user = security.create_user(
        session,
        security.cli_principal("cli:test"),
        username=username,
        password=PASSWORD,
        role="reviewer",
        scope_all=scope_all,
        now=T0,
    )
    return Principal(user.id, username, Role.REVIEWER, ROLE_PERMISSIONS[Role.REVIEWER], "session")


def test_every_action_goes_through_the_one_dispatch(database: Database) -> None:
    with database.sessions.begin() as session:
        officer = principal(session, "li", scope_all=True)
        principal(session, "wang", scope_all=True)
        item = alert(session, conversation(session, "pair:a|wmcust"))
        review_alert(session, officer, item.id, ReviewStep("claim"), LATER)
        assert (item.status, item.assignee) == ("claimed", "li")
        review_alert(session, officer, item.id, ReviewStep("assign", assignee="wang"), LATER)
        review_alert(session, officer, item.id, ReviewStep("tag", add_tags=["vip", "wire"]), LATER)
        review_alert(session, officer, item.id, ReviewStep("tag", remove_tags=["wire"]), LATER)
        review_alert(session, officer, item.id, ReviewStep("note", note="客户说是误会"), LATER)
        with pytest.raises(InvalidInput, match="needs a disposition"):
            review_alert(session, officer, item.id, ReviewStep("resolve"), LATER)
        with pytest.raises(InvalidInput, match="a note needs text"):
            review_alert(session, officer, item.id, ReviewStep("note", note="   "), LATER)  # was a 500
        with pytest.raises(InvalidInput, match="assignee"):
            review_alert(session, officer, item.id, ReviewStep("assign"), LATER)
        with pytest.raises(InvalidInput, match="unknown review action"):
            review_alert(session, officer, item.id, ReviewStep("delete"), LATER)
        review_alert(session, officer, item.id, ReviewStep("resolve", disposition="coached", note="ok"), LATER)
        assert (item.status, item.assignee, item.disposition, item.tags) == ("resolved", "wang", "coached", ["vip"])
        detail = queue.alert_detail(session, officer, item.id)
        assert [t.action for t in detail.trail] == ["claim", "assign", "tag", "tag", "note", "resolve"]
        assert detail.allowed_actions == ["reopen"]
        with pytest.raises(TransitionRefusedError):
            apply_review_action(session, item.id, ReviewStep("claim"), actor="li", now=LATER)


def test_an_alert_outside_the_scope_is_neither_shown_nor_changed(database: Database) -> None:
    with database.sessions.begin() as session:
        nobody = principal(session, "zhao", scope_all=False)
        everyone = principal(session, "li", scope_all=True)
        first = alert(session, conversation(session, "pair:a|wmcust"))
        second = alert(session, conversation(session, "pair:b|wmcust"), rule="other")
        assert alert_for(session, everyone, first.id) is first
        with pytest.raises(OutOfScope):
            alert_for(session, nobody, first.id)
        with pytest.raises(AlertNotFoundError):
            alert_for(session, everyone, 999_999)
        with pytest.raises(OutOfScope):
            review_alert(session, nobody, first.id, ReviewStep("claim"), LATER)
        with pytest.raises(OutOfScope):  # all or nothing: the visible ones are not done either
            review_alerts(session, nobody, [first.id, second.id], ReviewStep("claim"), actor="zhao", now=LATER)
        assert first.status == second.status == "new"
        assert queue.alerts_for(session, nobody, CORP, AlertFilters(), limit=10).alerts == []
        listed = queue.alerts_for(session, everyone, CORP, AlertFilters(rule="other"), limit=10).alerts
        assert [a.id for a in listed] == [second.id]

        # The CLI passes no principal: the whole archive; a refusal leaves the others done.
        apply_review_action(session, first.id, ReviewStep("claim"), actor="li", now=LATER)
        result = review_alerts(session, None, [first.id, second.id], ReviewStep("claim"), actor="li", now=LATER)
        assert result.done == [second.id] and list(result.refused) == [first.id]
        choices = queue.filter_choices(session, everyone, CORP)
        assert choices.rules == ["offplatform", "other"] and choices.assignees == ["li"]


def test_the_sampling_queue_is_drawn_listed_and_completed_in_scope(database: Database) -> None:
    with database.sessions.begin() as session:
        nobody = principal(session, "zhao", scope_all=False)
        everyone = principal(session, "li", scope_all=True)
        ids = [conversation(session, f"pair:s{n}|wmcust") for n in range(4)]
        _messages(session, ids)
        drawn = sampling.draw_sample(session, CORP, start=START, end=END, rate=1.0, seed=7, now=T0)
        assert [s.conversation_id for s in drawn] == ids
        with pytest.raises(InvalidInput):
            sampling.draw_sample(session, CORP, start=START, end=END + timedelta(days=1), rate=2.0, seed=7, now=T0)
        assert sampling.samples_for(session, nobody, CORP) == []
        with pytest.raises(OutOfScope):
            sampling.complete_for(session, nobody, drawn[0].id, note=None, now=LATER)
        done = sampling.complete_for(session, everyone, drawn[1].id, note="看过", now=LATER)
        assert (done.status, done.reviewer, done.note) == ("reviewed", "li", "看过")
        with pytest.raises(InvalidInput, match="already reviewed"):
            sampling.complete_for(session, everyone, drawn[1].id, note=None, now=LATER)
        shown = sampling.samples_for(session, everyone, CORP)
        assert [s.status for s in shown] == ["pending", "pending", "pending", "reviewed"]  # pending first
        assert sampling.samples_for(session, everyone, CORP, status="reviewed") == [done]


def test_routing_rules_are_added_listed_and_removed_once(database: Database) -> None:
    with database.sessions.begin() as session:
        officer = principal(session, "li", scope_all=True)
        spec = routing.RouteSpec("desk", routing.REVIEWER, ["email:desk@example.com"])
        routing.add_route(session, CORP, spec, T0, actor=officer)
        with pytest.raises(Conflict):
            routing.add_route(session, CORP, spec, T0)
        with pytest.raises(InvalidInput):
            routing.add_route(session, CORP, routing.RouteSpec("x", "boss", ["email:a@example.com"]), T0)
        with pytest.raises(InvalidInput):
            routing.add_route(session, CORP, routing.RouteSpec("x", routing.MANAGER, []), T0)
        assert [r.name for r in routing.list_routes(session, CORP)] == ["desk"]
        assert routing.remove_route(session, CORP, "desk", T0, actor=officer).name == "desk"
        assert routing.list_routes(session, CORP) == []
        with pytest.raises(NotFound):
            routing.remove_route(session, CORP, "desk", T0)
        logged = session.scalars(select(AccessLogEntry.action).order_by(AccessLogEntry.id)).all()
        assert [a for a in logged if a.startswith("admin.routes")] == ["admin.routes.add", "admin.routes.remove"]
