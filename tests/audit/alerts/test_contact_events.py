"""Contact-change events are stored once; a member deleting a customer raises an alert."""

from __future__ import annotations

from sqlalchemy import func, select

from audit.alerts.models import Alert
from audit.events.models import ContactEvent
from audit.events.service import CUSTOMER_DELETED_RULE, list_contact_events, record_contact_event
from tests.audit.alerts.helpers import CORP, T0, conversation
from tests.conftest import Database

CUSTOMER = "wmAJ2GCAAAXtWyujaWJHDDGi0mACAAAA"


def test_staff_deleting_a_customer_raises_one_alert_on_their_chat(database: Database) -> None:
    with database.sessions.begin() as session:
        chat = conversation(session, f"pair:{CUSTOMER}|zhangsan", a=CUSTOMER, b="zhangsan")
        raw = {"ChangeType": "del_external_contact", "UserID": "zhangsan", "ExternalUserID": CUSTOMER}
        for _ in range(2):  # WeCom re-delivers callbacks
            record_contact_event(
                session,
                corp_id=CORP,
                change_type="del_external_contact",
                user_id="zhangsan",
                external_user_id=CUSTOMER,
                occurred_at=T0,
                raw=raw,
            )
        [raised] = session.scalars(select(Alert)).all()
        assert (raised.rule, raised.category, raised.conversation_id, raised.severity) == (
            CUSTOMER_DELETED_RULE,
            "customer_deleted",
            chat,
            "medium",
        )
        assert raised.explanation["user_id"] == "zhangsan"
        assert session.scalar(select(func.count(ContactEvent.id))) == 1


def test_other_events_are_stored_without_an_alert(database: Database) -> None:
    with database.sessions.begin() as session:
        for change_type, source, fail_reason in [
            ("del_follow_user", None, None),
            ("transfer_fail", None, "customer_refused"),
            ("del_external_contact", "DELETE_BY_TRANSFER", None),  # a transfer, not the member's choice
        ]:
            record_contact_event(
                session,
                corp_id=CORP,
                change_type=change_type,
                user_id="lisi",
                external_user_id=CUSTOMER,
                fail_reason=fail_reason,
                occurred_at=T0,
                raw={"Source": source} if source else {},
            )
        assert session.scalar(select(func.count(Alert.id))) == 0
        events = list_contact_events(session, CORP)
        assert sorted(e.change_type for e in events) == ["del_external_contact", "del_follow_user", "transfer_fail"]
        assert {e.fail_reason for e in events} == {None, "customer_refused"}
