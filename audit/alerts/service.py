"""Raising alerts: one per conversation, rule and time window, explained and routed.

The public entry point for every stage that finds something (detection, group monitoring,
reply timeouts, contact events) is :func:`raise_alert`. It is idempotent for the same
evidence: raising again with messages already on the alert changes nothing, so a stage
that re-runs after a crash never doubles an alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.alerts.models import Alert
from audit.alerts.routing import REVIEWER, RouteMatcher, is_channel_target
from audit.detect.hits import Severity
from audit.notify import service as notify

DEFAULT_WINDOW_MINUTES = 60
NEW = "new"
# An explanation keeps this many matches; the alert's message_ids keep them all.
MAX_EXPLAINED_MATCHES = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEY_CHUNK = 500  # dedupe keys per IN (...) query


def window_start(at: datetime, window_minutes: int = DEFAULT_WINDOW_MINUTES) -> datetime:
    """The start of the fixed window containing ``at`` (windows are aligned to the epoch,
    so the same evidence lands in the same window however often it is re-scanned)."""
    window = timedelta(minutes=window_minutes)
    return _EPOCH + ((at.astimezone(UTC) - _EPOCH) // window) * window


def dedupe_key(conversation_id: int | None, rule: str, start: datetime) -> str:
    conversation = "-" if conversation_id is None else str(conversation_id)
    return f"{conversation}|{rule}|{start.astimezone(UTC):%Y%m%dT%H%M}"


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    alert: Alert
    created: bool
    changed: bool


def raise_alert(
    session: Session,
    *,
    corp_id: str,
    conversation_id: int | None,
    rule: str,
    category: str,
    severity: Severity,
    source: str,
    explanation: Mapping[str, Any],
    message_ids: Sequence[int],
    now: datetime,
    window_minutes: int = DEFAULT_WINDOW_MINUTES,
) -> Alert:
    """Raise (or add to) the alert of ``rule`` in ``conversation_id`` for the window of ``now``.

    ``now`` is the time the finding is about (the message time for a hit, the detection
    time for a timeout), not the wall clock: re-scanning history then finds the same
    window. A new alert is routed to the reviewer targets and its notifications queued;
    an existing one takes the maximum severity and the union of the evidence.
    """
    return upsert_alert(
        session,
        corp_id=corp_id,
        conversation_id=conversation_id,
        rule=rule,
        category=category,
        severity=severity,
        source=source,
        explanation=explanation,
        message_ids=message_ids,
        now=now,
        window_minutes=window_minutes,
    ).alert


def upsert_alert(
    session: Session,
    *,
    corp_id: str,
    conversation_id: int | None,
    rule: str,
    category: str,
    severity: Severity,
    source: str,
    explanation: Mapping[str, Any],
    message_ids: Sequence[int],
    now: datetime,
    window_minutes: int = DEFAULT_WINDOW_MINUTES,
    recorded_at: datetime | None = None,
) -> AlertOutcome:
    """:func:`raise_alert`, also saying whether the alert was created or changed."""
    spec = AlertSpec(
        corp_id=corp_id,
        conversation_id=conversation_id,
        rule=rule,
        category=category,
        severity=severity,
        source=source,
        explanation=explanation,
        message_ids=message_ids,
        now=now,
        window_minutes=window_minutes,
        recorded_at=recorded_at,
    )
    [outcome] = raise_alerts(session, [spec])
    return outcome


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """One finding to raise (the arguments of :func:`upsert_alert`)."""

    corp_id: str
    conversation_id: int | None
    rule: str
    category: str
    severity: Severity
    source: str
    explanation: Mapping[str, Any]
    message_ids: Sequence[int]
    now: datetime
    window_minutes: int = DEFAULT_WINDOW_MINUTES
    recorded_at: datetime | None = None


def raise_alerts(session: Session, specs: Sequence[AlertSpec]) -> list[AlertOutcome]:
    """:func:`upsert_alert` for many findings at once, with the same result as raising them
    one after the other (one outcome per spec, in order), at a cost of a few statements
    per batch rather than per alert: existing alerts are read with one query per chunk
    of keys, new ones inserted with one flush, routing rules read once per corp."""
    if not specs:
        return []
    session.flush()  # the caller's pending changes, outside the savepoint below
    keyed = [(spec, window_start(spec.now, spec.window_minutes)) for spec in specs]
    keys = [(spec.corp_id, dedupe_key(spec.conversation_id, spec.rule, start)) for spec, start in keyed]
    alerts = _by_keys(session, keys)
    outcomes: list[AlertOutcome] = []
    created: list[tuple[Alert, datetime]] = []
    for (spec, start), (corp_id, key) in zip(keyed, keys, strict=True):
        severity = Severity(spec.severity)
        stamp = spec.recorded_at or spec.now
        alert = alerts.get((corp_id, key))
        if alert is None:
            alert = alerts[(corp_id, key)] = _new_alert(spec, severity, key, start, stamp)
            created.append((alert, stamp))
            outcomes.append(AlertOutcome(alert, created=True, changed=True))
        else:
            changed = _merge(alert, severity, spec.explanation, spec.message_ids, spec.now, stamp)
            outcomes.append(AlertOutcome(alert, created=False, changed=changed))
    if not created:
        session.flush()
        return outcomes
    try:
        # A savepoint: when a concurrent stage inserted one of the keys first, this batch is
        # undone and raised one by one, each merging into the alert that won.
        with session.begin_nested():
            session.add_all([alert for alert, _ in created])
            session.flush()
    except IntegrityError:
        return [_raise_one(session, spec) for spec in specs]
    router = RouteMatcher(session, REVIEWER)
    for alert, stamp in created:
        _route_new(session, router, alert, stamp)
    session.flush()
    return outcomes


def _new_alert(spec: AlertSpec, severity: Severity, key: str, start: datetime, stamp: datetime) -> Alert:
    return Alert(
        corp_id=spec.corp_id,
        dedupe_key=key,
        conversation_id=spec.conversation_id,
        rule=spec.rule,
        category=spec.category,
        severity=severity.value,
        source=spec.source,
        status=NEW,
        disposition=None,
        assignee=None,
        window_start=start,
        first_seen_at=spec.now,
        last_seen_at=spec.now,
        created_at=stamp,
        updated_at=stamp,
        message_ids=sorted({int(i) for i in spec.message_ids}),
        explanation=_merge_explanations({}, spec.explanation),
        tags=[],
        routed_to=[],
    )


def _raise_one(session: Session, spec: AlertSpec) -> AlertOutcome:
    """One finding, racing a concurrent insert of the same key (the slow, safe path)."""
    severity = Severity(spec.severity)
    start = window_start(spec.now, spec.window_minutes)
    key = dedupe_key(spec.conversation_id, spec.rule, start)
    stamp = spec.recorded_at or spec.now
    existing = _by_key(session, spec.corp_id, key)
    if existing is None:
        alert = _new_alert(spec, severity, key, start, stamp)
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except IntegrityError:
            existing = _by_key(session, spec.corp_id, key)
            if existing is None:
                raise
        else:
            _route_new(session, RouteMatcher(session, REVIEWER), alert, stamp)
            session.flush()
            return AlertOutcome(alert, created=True, changed=True)
    changed = _merge(existing, severity, spec.explanation, spec.message_ids, spec.now, stamp)
    return AlertOutcome(existing, created=False, changed=changed)


def _by_key(session: Session, corp_id: str, key: str) -> Alert | None:
    return session.scalars(select(Alert).where(Alert.corp_id == corp_id, Alert.dedupe_key == key)).one_or_none()


def _by_keys(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Alert]:
    by_corp: dict[str, set[str]] = {}
    for corp_id, key in keys:
        by_corp.setdefault(corp_id, set()).add(key)
    found: dict[tuple[str, str], Alert] = {}
    for corp_id, corp_keys in by_corp.items():
        ordered = sorted(corp_keys)
        for offset in range(0, len(ordered), _KEY_CHUNK):
            chunk = ordered[offset : offset + _KEY_CHUNK]
            query = select(Alert).where(Alert.corp_id == corp_id, Alert.dedupe_key.in_(chunk))
            found.update(((corp_id, alert.dedupe_key), alert) for alert in session.scalars(query))
    return found


def _merge(
    alert: Alert,
    severity: Severity,
    explanation: Mapping[str, Any],
    message_ids: Sequence[int],
    now: datetime,
    stamp: datetime,
) -> bool:
    ids = sorted(set(alert.message_ids) | {int(i) for i in message_ids})
    merged = _merge_explanations(alert.explanation, explanation)
    higher = severity.rank > Severity(alert.severity).rank
    if ids == alert.message_ids and merged == alert.explanation and not higher:
        return False
    alert.message_ids = ids
    alert.explanation = merged
    if higher:
        alert.severity = severity.value
    alert.first_seen_at = min(alert.first_seen_at, now)
    alert.last_seen_at = max(alert.last_seen_at, now)
    alert.updated_at = stamp
    return True


def _merge_explanations(current: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Keys already explained stay; ``matches`` lists are united (by message and span)."""
    merged = dict(current)
    for key, value in new.items():
        if key == "matches" and isinstance(value, list):
            matches = list(merged.get("matches", []))
            seen = {_match_key(m) for m in matches}
            for match in value:
                if _match_key(match) not in seen and len(matches) < MAX_EXPLAINED_MATCHES:
                    matches.append(dict(match))
                    seen.add(_match_key(match))
            merged["matches"] = sorted(matches, key=_match_key)
        elif key not in merged:
            merged[key] = value
    return merged


def _match_key(match: Mapping[str, Any]) -> tuple[int, int, int]:
    return (int(match.get("message_id") or 0), int(match.get("start") or -1), int(match.get("end") or -1))


def _route_new(session: Session, router: RouteMatcher, alert: Alert, now: datetime) -> None:
    targets = router.targets(alert)
    alert.routed_to = targets
    channels = [t for t in targets if is_channel_target(t)]
    if channels:
        notify.enqueue_for_alert(session, alert, channels, kind="alert", now=now, flush=False)
