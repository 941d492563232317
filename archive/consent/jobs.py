"""Scheduled work of the consent ledger (thin wrappers; the rules are in ``service``).

One run per corp: the pass over new agree/disagree messages (one transaction), then the
due checks against WeCom — asked with no transaction open, the answers written in one
transaction. A WeCom error other than "unknown pair/room" stops the run with nothing of
the checks written; the next run asks again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from archive.consent import service
from archive.wecom.client import WeComClient
from archive.wecom.consent import AgreeInfo, WeComConsent
from archive.wecom.errors import WeComRejectedError
from config.database import session_scope
from config.logs import get_logger
from config.settings import ConfigError, ConsentSettings, CorpSettings

log = get_logger("archive.consent")


@dataclass(frozen=True)
class ConsentCheckLimits:
    recheck_after: timedelta
    max_pairs: int
    max_rooms: int


def limits_from_settings(settings: ConsentSettings, *, everything: bool = False) -> ConsentCheckLimits:
    """The check's limits from the settings; ``everything``: ask again about every pair and room."""
    return ConsentCheckLimits(
        timedelta(0) if everything else timedelta(hours=settings.recheck_after_h),
        settings.max_pairs_per_run,
        settings.max_rooms_per_run,
    )


def archive_client(corp: CorpSettings, *, timeout_s: float = 10.0) -> WeComClient:
    """A WeCom client with the corp's 会话内容存档 secret: msgaudit/* APIs need it (spec §6)."""
    secret = corp.archive_secret.get_secret_value()
    if not (corp.corp_id and secret):
        raise ConfigError(
            "Consent checks need the corp id and its 会话内容存档 secret: set WECOM_AUDIT_WECOM__CORP_ID "
            "and WECOM_AUDIT_WECOM__ARCHIVE_SECRET."
        )
    return WeComClient(corp.api_base_url, corp.corp_id, secret, timeout_s=timeout_s)


def ingest_messages(session_factory: sessionmaker[Session], corp_id: str, now: datetime) -> service.MessagePassReport:
    started = time.monotonic()
    with session_scope(session_factory) as session:
        report = service.ingest_messages(session, corp_id, now)
    if report.unresolved:
        # Ids only (never content): messages whose member or customer could not be told.
        log.warning("archive.consent.messages_unresolved", corp_id=corp_id, msgids=report.unresolved[:20])
    log.info(
        "archive.consent.messages_read",
        corp_id=corp_id,
        read=report.read,
        recorded=report.recorded,
        duplicates=report.duplicates,
        unresolved=len(report.unresolved),
        duration_s=round(time.monotonic() - started, 3),
    )
    return report


async def check_corp(
    session_factory: sessionmaker[Session],
    consent: WeComConsent,
    corp_id: str,
    now: datetime,
    limits: ConsentCheckLimits,
) -> service.CheckReport:
    started = time.monotonic()
    with session_scope(session_factory) as session:
        due = service.due_checks(
            session,
            corp_id,
            now,
            recheck_after=limits.recheck_after,
            max_pairs=limits.max_pairs,
            max_rooms=limits.max_rooms,
        )
    answer = await consent.check_pairs(due.pairs) if due.pairs else None
    rooms: dict[str, tuple[AgreeInfo, ...] | None] = {}
    for roomid in due.rooms:
        try:
            rooms[roomid] = tuple(await consent.check_room_agree(roomid))
        except WeComRejectedError as exc:  # recorded as "refused" and counted in the report
            log.warning("archive.consent.room_refused", corp_id=corp_id, roomid=roomid, errcode=exc.errcode)
            rooms[roomid] = None
    answers = service.CheckAnswers(
        due.pairs,
        answer.answers if answer else (),
        answer.not_found if answer else (),
        rooms,
    )
    with session_scope(session_factory) as session:
        report = service.record_check_answers(session, corp_id, answers, now)
    log.info(
        "archive.consent.checked",
        corp_id=corp_id,
        pairs=report.pairs_checked,
        new_pairs=due.new_pairs,
        rooms=report.rooms_checked,
        recorded=report.recorded,
        not_found=report.not_found,
        unanswered=report.unanswered,
        refused_rooms=report.refused_rooms,
        duration_s=round(time.monotonic() - started, 3),
    )
    return report


async def run_corp(
    session_factory: sessionmaker[Session], corp: CorpSettings, now: datetime, limits: ConsentCheckLimits
) -> tuple[service.MessagePassReport, service.CheckReport]:
    """The scheduler's job for one corp: messages first, then WeCom's check APIs."""
    messages = ingest_messages(session_factory, corp.corp_id, now)
    async with archive_client(corp) as client:
        checks = await check_corp(session_factory, WeComConsent(client), corp.corp_id, now, limits)
    return messages, checks
