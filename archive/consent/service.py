"""The consent ledger's rules: recording observations, deriving the current state, the pass
over archived agree/disagree messages, the incremental check against WeCom, and reads.

Contract:
- Observations are only ever appended; the same observation twice is stored once (the
  unique key of ``consent_events``). The current state of a pair or room member is the
  event with the latest ``changed_at`` (a later-recorded one wins a tie).
- ``status`` is WeCom's word as sent. :func:`classify` reads it: ``Agree`` and
  ``Default_Agree`` (UNCERTAIN, spec §6.3: reported by wrappers only, read here as an
  agreement by default, e.g. for WeCom-to-WeCom contacts) are agreed, ``Disagree`` is not,
  anything else is "unknown" — never guessed to be consent.
- Nothing here commits; a job run writes everything in its caller's one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from archive.consent import repository
from archive.consent.errors import InvalidConsentObservation
from archive.consent.models import ConsentEvent
from archive.consent.repository import Subject
from archive.messages import is_external_id
from archive.models import Conversation, Message
from archive.wecom.consent import AgreeInfo, ConsentPair

SCOPES: Final = frozenset({"single", "room"})
SOURCES: Final = frozenset({"check_api", "callback", "message"})
STATUS_AGREE: Final = "Agree"
STATUS_DISAGREE: Final = "Disagree"
STATUS_DEFAULT_AGREE: Final = "Default_Agree"  # UNCERTAIN (spec §6.3)
# agree_time/disagree_time are milliseconds per the wrappers (spec §4.5, UNCERTAIN for old
# data): a value below this is read as seconds rather than as a date in January 1970.
MIN_MILLISECONDS: Final = 100_000_000_000
MESSAGE_PASS_LIMIT: Final = 5000


class Agreement(StrEnum):
    AGREED = "agreed"
    DISAGREED = "disagreed"
    UNKNOWN = "unknown"


def classify(status: str) -> Agreement:
    if status in (STATUS_AGREE, STATUS_DEFAULT_AGREE):
        return Agreement.AGREED
    if status == STATUS_DISAGREE:
        return Agreement.DISAGREED
    return Agreement.UNKNOWN


@dataclass(frozen=True)
class Observation:
    corp_id: str
    subject: Subject
    status: str
    changed_at: datetime
    source: str
    msgid: str | None = None


def record(session: Session, observation: Observation, now: datetime) -> ConsentEvent | None:
    """Append one observation and update the current state; None when it was known."""
    subject = observation.subject
    if subject.scope not in SCOPES:
        raise InvalidConsentObservation("unknown scope")
    if observation.source not in SOURCES:
        raise InvalidConsentObservation("unknown source")
    if not (observation.corp_id and subject.party and subject.external_userid and observation.status):
        raise InvalidConsentObservation("empty id or status")
    if observation.changed_at.tzinfo is None:
        raise InvalidConsentObservation("naive time")
    event = repository.insert_event(
        session,
        corp_id=observation.corp_id,
        subject=subject,
        status=observation.status[:32],
        changed_at=observation.changed_at.astimezone(UTC),
        source=observation.source,
        msgid=observation.msgid,
        now=now,
    )
    if event is not None:
        repository.apply_to_state(session, event, now)
    return event


def record_approval(
    session: Session, corp_id: str, userid: str, external_userid: str, at: datetime, now: datetime
) -> ConsentEvent | None:
    """The ``msg_audit_approved`` callback (spec §7.1, §8.8): the customer agreed with this member."""
    if not userid or not external_userid:
        raise InvalidConsentObservation("msg_audit_approved without UserID or ExternalUserID")
    subject = Subject("single", userid, external_userid)
    return record(session, Observation(corp_id, subject, STATUS_AGREE, at, "callback"), now)


# --- archived agree/disagree messages -------------------------------------------------------


@dataclass
class MessagePassReport:
    corp_id: str
    read: int = 0
    recorded: int = 0
    duplicates: int = 0
    # Messages naming no member or customer we can pair (logged by id in the job, counted here).
    unresolved: list[str] = field(default_factory=list)


def ingest_messages(
    session: Session, corp_id: str, now: datetime, *, limit: int = MESSAGE_PASS_LIMIT
) -> MessagePassReport:
    """Record the agree/disagree messages stored since the corp's cursor, and move it."""
    report = MessagePassReport(corp_id)
    after = repository.cursor(session, corp_id)
    # The ceiling is read first: under READ COMMITTED a batch the puller commits between two
    # statements must not be skipped by a cursor that jumps to a newer maximum. (One puller per
    # corp holds the lease, so no lower id of this corp can commit after the ceiling was read.)
    ceiling = repository.last_message_id(session, corp_id)
    messages = repository.consent_messages_after(session, corp_id, after, limit, up_to=ceiling)
    for message in messages:
        report.read += 1
        observation = _from_message(session, message)
        if observation is None:
            report.unresolved.append(message.msgid)
            continue
        if record(session, observation, now) is None:
            report.duplicates += 1
        else:
            report.recorded += 1
    # Nothing left below the ceiling: jump there, so the next pass skips the other messages.
    last = messages[-1].id if len(messages) == limit else max(after, ceiling)
    if last != after:
        repository.advance_cursor(session, corp_id, last, now)
    return report


def _from_message(session: Session, message: Message) -> Observation | None:
    body = message.body if isinstance(message.body, dict) else {}
    external = str(body.get("userid") or "") or (message.sender if is_external_id(message.sender) else "")
    if not external:
        return None
    status = STATUS_AGREE if message.msgtype == "agree" else STATUS_DISAGREE
    changed_at = _message_time(body.get(f"{message.msgtype}_time"), message.msgtime)
    if message.roomid:
        subject = Subject("room", message.roomid, external)
    else:
        candidates = [r for r in repository.recipients_of(session, message) if r != external]
        if not candidates:
            a, b = repository.conversation_participants(session, message.conversation_id)
            candidates = [p for p in (a, b) if p and p != external]
        members = [c for c in candidates if not is_external_id(c) and not c.startswith("wb")]
        if len(members) != 1:
            return None
        subject = Subject("single", members[0], external)
    return Observation(message.corp_id, subject, status, changed_at, "message", message.msgid)


def _message_time(value: object, fallback: datetime) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return fallback
    seconds = value / 1000 if value >= MIN_MILLISECONDS else float(value)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback


# --- checks against WeCom -------------------------------------------------------------------


@dataclass(frozen=True)
class DueChecks:
    pairs: tuple[ConsentPair, ...]
    rooms: tuple[str, ...]
    new_pairs: int
    new_rooms: int


def due_checks(
    session: Session, corp_id: str, now: datetime, *, recheck_after: timedelta, max_pairs: int, max_rooms: int
) -> DueChecks:
    """Pairs and rooms seen in archived chats to ask WeCom about: never-checked ones first,
    then those checked longest ago (older than ``recheck_after``)."""
    checked = repository.last_checks(session, corp_id)
    stale_before = now - recheck_after
    pairs = repository.pairs_seen(session, corp_id)
    new_pairs = [p for p in pairs if p not in checked]
    old_pairs = sorted((p for p in pairs if p in checked and checked[p] <= stale_before), key=lambda p: checked[p])
    rooms = [Subject("room", roomid, "") for roomid in repository.rooms_seen(session, corp_id)]
    new_rooms = [r for r in rooms if r not in checked]
    old_rooms = sorted((r for r in rooms if r in checked and checked[r] <= stale_before), key=lambda r: checked[r])
    chosen_pairs = (new_pairs + old_pairs)[:max_pairs]
    chosen_rooms = (new_rooms + old_rooms)[:max_rooms]
    return DueChecks(
        tuple(ConsentPair(p.party, p.external_userid) for p in chosen_pairs),
        tuple(r.party for r in chosen_rooms),
        len(new_pairs),
        len(new_rooms),
    )


@dataclass
class CheckReport:
    corp_id: str
    pairs_checked: int = 0
    rooms_checked: int = 0
    recorded: int = 0
    not_found: int = 0
    unanswered: int = 0
    refused_rooms: int = 0


@dataclass(frozen=True)
class CheckAnswers:
    """What WeCom answered for a :class:`DueChecks`, to be written in one transaction."""

    pairs: tuple[ConsentPair, ...]
    pair_answers: tuple[AgreeInfo, ...]
    not_found: tuple[ConsentPair, ...]
    rooms: dict[str, tuple[AgreeInfo, ...] | None]  # None: WeCom refused the room (recorded)


def record_check_answers(session: Session, corp_id: str, answers: CheckAnswers, now: datetime) -> CheckReport:
    report = CheckReport(corp_id, pairs_checked=len(answers.pairs), rooms_checked=len(answers.rooms))
    answered: set[ConsentPair] = set()
    for info in answers.pair_answers:
        pair = ConsentPair(info.userid or "", info.external_userid)
        answered.add(pair)
        report.recorded += _record_answer(
            session, corp_id, Subject("single", pair.userid, pair.external_userid), info, now
        )
    for pair in answers.pairs:
        subject = Subject("single", pair.userid, pair.external_userid)
        if pair in answers.not_found:
            report.not_found += 1
            repository.mark_checked(session, corp_id, subject, "not_found", now)
        elif pair in answered:
            repository.mark_checked(session, corp_id, subject, "ok", now)
        else:
            report.unanswered += 1
            repository.mark_checked(session, corp_id, subject, "no_answer", now)
    for roomid, infos in answers.rooms.items():
        if infos is None:
            report.refused_rooms += 1
            repository.mark_checked(session, corp_id, Subject("room", roomid, ""), "refused", now)
            continue
        for info in infos:
            report.recorded += _record_answer(
                session, corp_id, Subject("room", roomid, info.external_userid), info, now
            )
        repository.mark_checked(session, corp_id, Subject("room", roomid, ""), "ok", now)
    return report


def _record_answer(session: Session, corp_id: str, subject: Subject, info: AgreeInfo, now: datetime) -> int:
    changed_at = info.changed_at
    if changed_at is None:
        # No status_change_time (UNCERTAIN whether WeCom ever omits it): the answer is only
        # news when the status differs from what the ledger holds; then "seen now".
        current = repository.states(session, corp_id, external_userid=subject.external_userid, party=subject.party)
        if any(s.scope == subject.scope and s.status == info.status for s in current):
            return 0
        changed_at = now
    event = record(session, Observation(corp_id, subject, info.status, changed_at, "check_api"), now)
    return 0 if event is None else 1


# --- reads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentEntry:
    changed_at: datetime
    status: str
    state: Agreement
    source: str
    msgid: str | None


@dataclass(frozen=True)
class ConsentRecord:
    """The current consent of a pair or room member, with its history (oldest first)."""

    scope: str
    party: str
    external_userid: str
    status: str
    state: Agreement
    since: datetime
    source: str
    history: tuple[ConsentEntry, ...]


def ledger(
    session: Session,
    corp_id: str,
    *,
    external_userid: str | None = None,
    party: str | None = None,
    visible: ColumnElement[bool] | None = None,
) -> list[ConsentRecord]:
    """Consent records of a customer and/or a member or room. ``visible`` (a WHERE over
    ``Conversation``, the access gate's scope) keeps only records whose archived
    conversation the caller may see; None reads everything (CLI, jobs)."""
    if external_userid is None and party is None:
        raise InvalidConsentObservation("a customer, member or room is required")
    rows = repository.states(session, corp_id, external_userid=external_userid, party=party)
    subjects = [Subject(s.scope, s.party, s.external_userid) for s in rows]
    if visible is not None:
        allowed = repository.visible_subjects(session, corp_id, subjects, visible)
        rows = [s for s in rows if Subject(s.scope, s.party, s.external_userid) in allowed]
        subjects = [s for s in subjects if s in allowed]
    history: dict[Subject, list[ConsentEntry]] = {}
    for event in repository.events_of(session, corp_id, subjects):
        history.setdefault(Subject(event.scope, event.party, event.external_userid), []).append(
            ConsentEntry(event.changed_at, event.status, classify(event.status), event.source, event.msgid)
        )
    return [
        ConsentRecord(
            s.scope,
            s.party,
            s.external_userid,
            s.status,
            classify(s.status),
            s.changed_at,
            s.source,
            tuple(history.get(Subject(s.scope, s.party, s.external_userid), ())),
        )
        for s in rows
    ]


def for_conversation(session: Session, conversation: Conversation) -> list[ConsentRecord]:
    """The consent records behind one archived conversation (a pair, or a room's customers)."""
    if conversation.kind == "group" and conversation.roomid:
        return ledger(session, conversation.corp_id, party=conversation.roomid)
    a, b = conversation.participant_a, conversation.participant_b
    if conversation.kind != "single" or not a or not b:
        return []
    external, member = (a, b) if is_external_id(a) else (b, a)
    if not is_external_id(external) or is_external_id(member):
        return []
    return [r for r in ledger(session, conversation.corp_id, external_userid=external) if r.party == member]


@dataclass(frozen=True)
class ConsentCoverage:
    """For completeness reports: archived single-chat pairs by consent, and rooms."""

    pairs_seen: int
    agreed: int
    disagreed: int
    unknown: int  # checked, but a status the ledger cannot read
    unchecked: int  # no observation yet
    # Pairs whose chats WeCom does not archive (yet): disagreed + unknown + unchecked.
    without_consent: int


def coverage(session: Session, corp_id: str) -> ConsentCoverage:
    pairs = repository.pairs_seen(session, corp_id)
    current = {
        Subject(s.scope, s.party, s.external_userid): classify(s.status)
        for s in repository.states(session, corp_id)
        if s.scope == "single"
    }
    counts = dict.fromkeys(Agreement, 0)
    unchecked = 0
    for pair in pairs:
        state = current.get(pair)
        if state is None:
            unchecked += 1
        else:
            counts[state] += 1
    disagreed, unknown = counts[Agreement.DISAGREED], counts[Agreement.UNKNOWN]
    return ConsentCoverage(
        len(pairs), counts[Agreement.AGREED], disagreed, unknown, unchecked, disagreed + unknown + unchecked
    )


def subjects_of(records: Iterable[ConsentRecord]) -> list[Subject]:
    return [Subject(r.scope, r.party, r.external_userid) for r in records]
