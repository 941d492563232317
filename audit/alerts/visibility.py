"""Which alerts a caller may see: one rule for the API, the console, the charts and the
handover dossiers.

An alert with a conversation is visible when its conversation is in the caller's data
scope (``audit.security.scope``, protected people included). An alert without one (a
customer deleted by a member whose chat with them was never archived, say) is visible to
company-wide scopes only, and not even to those when it is about a protected person the
caller is not a named officer of: a person it names (``user_id``, ``external_user_id``,
``employee`` in its explanation), or, since the people behind them cannot be told in SQL,
any messages it lists.

:func:`alert_for` is the check every front end makes before it shows or changes one alert.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from sqlalchemy import ColumnElement, String, and_, cast, func, not_, or_, select
from sqlalchemy.orm import Session

from archive.models import Conversation
from audit.alerts.errors import AlertNotFoundError
from audit.alerts.models import Alert
from audit.security.errors import OutOfScope
from audit.security.principal import Principal
from audit.security.scope import DataScope, conversation_id_visible, resolve_scope, visible_clause

# The explanation keys that name the people a conversation-less alert is about
# (``audit.events.service``, ``audit.monitor.service``).
PERSON_KEYS: Final = ("user_id", "external_user_id", "employee")


def _names_none_of(people: Collection[str]) -> ColumnElement[bool]:
    """Over ``Alert``: it names none of ``people`` and lists no messages. Never NULL."""
    named = [func.coalesce(Alert.explanation[key].as_string(), "").in_(sorted(people)) for key in PERSON_KEYS]
    return and_(not_(or_(*named)), cast(Alert.message_ids, String) == "[]")


def visible_alerts(scope: DataScope) -> ColumnElement[bool]:
    """A WHERE clause over ``Alert`` selecting exactly the alerts this scope may see."""
    with_conversation = conversation_id_visible(Alert.conversation_id, scope)
    if not scope.everything or not scope.excluded_people:
        return with_conversation
    return or_(
        and_(Alert.conversation_id.is_not(None), with_conversation),
        and_(Alert.conversation_id.is_(None), _names_none_of(scope.excluded_people)),
    )


def visible_alert_ids(session: Session, scope: DataScope, alert_ids: Collection[int]) -> frozenset[int]:
    if not alert_ids:
        return frozenset()
    rows = session.execute(select(Alert.id).where(Alert.id.in_(list(alert_ids)), visible_alerts(scope)))
    return frozenset(rows.scalars())


def visible_alert(session: Session, scope: DataScope, alert_id: int) -> Alert | None:
    """The alert if it exists and this scope may see it (``None`` if there is none;
    ``OutOfScope`` if there is one the scope does not reach)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    if not visible_alert_ids(session, scope, [alert_id]):
        raise OutOfScope("this alert is outside your data scope")
    return alert


def alert_for(session: Session, principal: Principal, alert_id: int) -> Alert:
    """The alert ``principal`` asks about, resolving their scope: ``AlertNotFoundError`` if
    there is none, ``OutOfScope`` if their scope does not reach it."""
    alert = visible_alert(session, resolve_scope(session, principal), alert_id)
    if alert is None:
        raise AlertNotFoundError(alert_id)
    return alert


def require_visible_alerts(session: Session, scope: DataScope, alert_ids: Collection[int]) -> None:
    """``OutOfScope`` unless every one of ``alert_ids`` is visible to ``scope`` (before a bulk
    action: a missing alert counts as out of scope, so ids are not probed one by one)."""
    if set(alert_ids) - visible_alert_ids(session, scope, alert_ids):
        raise OutOfScope("some of the selected alerts are outside your data scope")


def visible_conversation_ids(session: Session, scope: DataScope, conversation_ids: Collection[int]) -> frozenset[int]:
    """Those of ``conversation_ids`` in ``scope`` (one query)."""
    if not conversation_ids:
        return frozenset()
    rows = session.execute(
        select(Conversation.id).where(Conversation.id.in_(list(conversation_ids)), visible_clause(scope))
    )
    return frozenset(rows.scalars())
