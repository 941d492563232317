"""Alerts are de-duplicated per conversation, rule and window, explained and routed."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import func, select

from archive.directory import repository as directory
from audit.alerts.models import Alert
from audit.alerts.routing import MANAGER, REVIEWER, RouteSpec, add_route, targets_for
from audit.alerts.service import AlertSpec, raise_alert, raise_alerts, upsert_alert
from audit.detect.hits import Severity
from audit.notify.models import Notification
from tests.audit.alerts.helpers import CORP, T0, alert, conversation, minutes
from tests.conftest import Database


def test_same_conversation_rule_and_window_is_one_alert(database: Database) -> None:
    with database.sessions.begin() as session:
        chat = conversation(session, "pair:a|wmcust")
        first = alert(session, chat, at=T0, message_id=1)
        second = alert(session, chat, at=T0 + minutes(20), severity=Severity.HIGH, message_id=2)
        again = alert(session, chat, at=T0 + minutes(20), severity=Severity.HIGH, message_id=2)  # a re-scan
        assert first.id == second.id == again.id
        assert second.severity == "high"  # the maximum of its hits
        assert [m["message_id"] for m in second.explanation["matches"]] == [1, 2]
        assert second.first_seen_at == T0 and second.last_seen_at == T0 + minutes(20)

        next_window = alert(session, chat, at=T0 + minutes(60), message_id=3)
        other_rule = alert(session, chat, rule="kickback", at=T0, message_id=1)
        other_chat = alert(session, conversation(session, "pair:b|wmcust"), at=T0, message_id=4)
        no_chat = alert(session, None, at=T0)
        assert len({first.id, next_window.id, other_rule.id, other_chat.id, no_chat.id}) == 5
        assert alert(session, None, at=T0 + minutes(1)).id == no_chat.id
        assert session.scalar(select(func.count(Alert.id))) == 5


def test_raising_again_with_the_same_evidence_changes_nothing(database: Database) -> None:
    with database.sessions.begin() as session:
        chat = conversation(session, "pair:a|wmcust")
        kwargs: dict[str, Any] = {
            "corp_id": CORP,
            "conversation_id": chat,
            "rule": "idcard",
            "category": "pii.id_number",
            "severity": Severity.HIGH,
            "source": "detect",
            "explanation": {"matches": [{"message_id": 7, "start": 2, "end": 20, "normalised": "x"}]},
            "message_ids": [7],
            "now": T0,
        }
        first = upsert_alert(session, **kwargs)
        repeat = upsert_alert(session, **kwargs)
        assert first.created and not repeat.created and not repeat.changed
        assert repeat.alert.message_ids == [7]


def test_routing_by_department_subtree_room_category_and_severity(database: Database) -> None:
    with database.sessions.begin() as session:
        directory.add_department(session, CORP, 1, "总部", None, T0)
        directory.add_department(session, CORP, 2, "财富管理部", 1, T0)
        directory.add_department(session, CORP, 3, "理财一组", 2, T0)
        directory.add_department(session, CORP, 4, "行政部", 1, T0)
        directory.add_member(session, CORP, "zhangsan", "张三", T0)
        directory.replace_memberships(session, CORP, "zhangsan", [3])
        add_route(session, CORP, RouteSpec("wealth", REVIEWER, ["email:wealth@example.com"], department_ids=[2]), T0)
        add_route(session, CORP, RouteSpec("admin", REVIEWER, ["email:admin@example.com"], department_ids=[4]), T0)
        add_route(session, CORP, RouteSpec("pii-high", REVIEWER, ["webhook:soc"], Severity.HIGH, ["pii"]), T0)
        add_route(session, CORP, RouteSpec("vip-room", REVIEWER, ["wecom:vip"], roomids=["wrVIP"]), T0)
        add_route(session, CORP, RouteSpec("boss", MANAGER, ["email:boss@example.com"]), T0)

        chat = conversation(session, "pair:wmcust|zhangsan", a="wmcust", b="zhangsan")
        offplatform = alert(session, chat)
        assert offplatform.routed_to == ["email:wealth@example.com"]
        pii = raise_alert(
            session,
            corp_id=CORP,
            conversation_id=chat,
            rule="idcard",
            category="pii.id_number",
            severity=Severity.HIGH,
            source="detect",
            explanation={},
            message_ids=[],
            now=T0,
        )
        assert pii.routed_to == ["webhook:soc", "email:wealth@example.com"]
        room = alert(session, conversation(session, "room:wrVIP", roomid="wrVIP"))
        assert room.routed_to == ["wecom:vip"]
        assert targets_for(session, room, MANAGER) == ["email:boss@example.com"]

        queued = session.scalars(select(Notification.target).where(Notification.alert_id == pii.id)).all()
        assert sorted(queued) == ["email:wealth@example.com", "webhook:soc"]


def test_a_notification_is_queued_when_the_alert_is_created_not_when_it_grows(database: Database) -> None:
    with database.sessions.begin() as session:
        add_route(session, CORP, RouteSpec("all", REVIEWER, ["email:desk@example.com", "li.reviewer"]), T0)
        chat = conversation(session, "pair:a|wmcust")
        first = alert(session, chat, message_id=1)
        alert(session, chat, message_id=2, at=T0 + minutes(5))
        assert first.routed_to == ["email:desk@example.com", "li.reviewer"]
        # Only channel targets get notifications; a user name is a queue recipient.
        notifications = session.scalars(select(Notification)).all()
        assert [(n.target, n.kind, n.status) for n in notifications] == [("email:desk@example.com", "alert", "pending")]


def test_raising_a_batch_equals_raising_one_after_the_other(database: Database) -> None:
    """The monitor and the stage raise in batches; de-duplication is the same as one by one."""
    results = []
    for batched in (False, True):
        session = database.sessions()
        try:
            add_route(session, CORP, RouteSpec("all", REVIEWER, ["webhook:soc"]), T0)
            a, b = conversation(session, "pair:a|wmcust"), conversation(session, "pair:b|wmcust")
            findings = [
                _finding(a, 0, 1),
                _finding(a, 10, 2, Severity.HIGH),  # same window: merged, severity raised
                _finding(b, 0, 3),
                _finding(a, 70, 4),  # raised before the batch, same evidence: unchanged
                _finding(a, 0, 1),  # a repeat inside the batch: unchanged
                _finding(None, 0, 5),
            ]
            upsert_alert(session, **_arguments(findings[3]))
            if batched:
                outcomes = raise_alerts(session, findings)
            else:
                outcomes = [upsert_alert(session, **_arguments(finding)) for finding in findings]
            alerts = session.scalars(select(Alert).order_by(Alert.dedupe_key)).all()
            results.append(
                (
                    [(o.alert.id - alerts[0].id, o.created, o.changed) for o in outcomes],
                    [(x.severity, x.message_ids, x.explanation, x.routed_to) for x in alerts],
                    session.scalar(select(func.count(Notification.id))),
                )
            )
        finally:
            session.rollback()
            session.close()
    assert results[0] == results[1]
    assert [(created, changed) for _, created, changed in results[1][0]] == [
        (True, True),
        (False, True),
        (True, True),
        (False, False),
        (False, False),
        (True, True),
    ]
    assert results[1][2] == 4  # one notification per alert: a@0, b, a@70, no conversation


def _finding(chat: int | None, at_minutes: float, message_id: int, severity: Severity = Severity.MEDIUM) -> AlertSpec:
    return AlertSpec(
        corp_id=CORP,
        conversation_id=chat,
        rule="offplatform",
        category="off_platform_contact",
        severity=severity,
        source="detect",
        explanation={"matches": [{"message_id": message_id, "start": 0, "end": 3, "normalised": "加微信"}]},
        message_ids=[message_id],
        now=T0 + minutes(at_minutes),
    )


def _arguments(finding: AlertSpec) -> dict[str, Any]:
    return {field.name: getattr(finding, field.name) for field in fields(finding)}
