"""What a successor inherits: read access to the predecessor's conversations with exactly
the customers and groups that reached them (ADR 0016).

Contract:
- Only a *completed* transfer inherits. The conversations are the single chats between
  the member handing over and that customer, and the transferred group's own
  conversation; nothing else of the predecessor's.
- Inheritance goes through the security scopes: a ``HandoverInheritance`` row per
  conversation, and ``grant_conversations`` (logged, idempotent) to every enabled console
  account linked to the successor (``SecurityUser.wecom_corp_id/wecom_userid``).
  Protected people still apply. A successor without an account keeps the rows with
  ``granted_user_id`` NULL; :func:`apply_pending_inheritances` grants them when one is
  linked.
- Everything runs in the caller's transaction and is written to the access log as
  ``handover.grant`` with the case id.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Conversation
from audit.handover.decisions import SYSTEM_ACTOR, log_step
from audit.handover.models import HandoverCase, HandoverInheritance
from audit.security.models import SecurityUser
from audit.security.principal import Principal
from audit.security.scope import grant_conversations


def pair_key(a: str, b: str) -> str:
    """The conversation key of a single chat (as ``archive.repository`` builds it)."""
    first, second = sorted((a, b))
    return f"pair:{first}|{second}"


def inherited_conversations(
    session: Session, corp_id: str, handover_userid: str, *, customers: Collection[str], groups: Collection[str]
) -> list[int]:
    """The conversations a successor of these customers and groups inherits."""
    found: set[int] = set()
    if customers:
        keys = [pair_key(handover_userid, external_userid) for external_userid in customers]
        found.update(
            session.execute(
                select(Conversation.id).where(Conversation.corp_id == corp_id, Conversation.key.in_(keys))
            ).scalars()
        )
    if groups:
        found.update(
            session.execute(
                select(Conversation.id).where(
                    Conversation.corp_id == corp_id, Conversation.kind == "group", Conversation.roomid.in_(list(groups))
                )
            ).scalars()
        )
    return sorted(found)


def linked_accounts(session: Session, corp_id: str, userid: str) -> list[SecurityUser]:
    return list(
        session.execute(
            select(SecurityUser)
            .where(
                SecurityUser.wecom_corp_id == corp_id,
                SecurityUser.wecom_userid == userid,
                SecurityUser.disabled_at.is_(None),
            )
            .order_by(SecurityUser.id)
        ).scalars()
    )


def inherit(
    session: Session,
    case: HandoverCase,
    successor: str,
    *,
    customers: Collection[str],
    groups: Collection[str],
    actor: Principal | None,
    now: datetime,
) -> int:
    """Record and grant what ``successor`` inherits from these completed transfers
    (``actor`` None: found by the scheduler's poll). Returns how many conversations were
    newly inherited."""
    granted_by = actor.username if actor else SYSTEM_ACTOR
    conversation_ids = inherited_conversations(
        session, case.corp_id, case.handover_userid, customers=customers, groups=groups
    )
    existing = set(
        session.execute(
            select(HandoverInheritance.conversation_id).where(
                HandoverInheritance.case_id == case.id, HandoverInheritance.successor_userid == successor
            )
        ).scalars()
    )
    new = [conversation_id for conversation_id in conversation_ids if conversation_id not in existing]
    accounts = linked_accounts(session, case.corp_id, successor)
    for account in accounts if new else []:
        grant_conversations(session, account.id, new, _reason(case), granted_by, now=now)
    for conversation_id in new:
        session.add(
            HandoverInheritance(
                case_id=case.id,
                corp_id=case.corp_id,
                successor_userid=successor,
                conversation_id=conversation_id,
                granted_user_id=accounts[0].id if accounts else None,
                granted_at=now if accounts else None,
            )
        )
    log_step(
        session,
        actor,
        "handover.grant",
        case.id,
        {
            "successor": successor,
            "customers": sorted(customers),
            "groups": sorted(groups),
            "conversation_ids": new,
            "accounts": [account.username for account in accounts],
            "pending_account": not accounts,
        },
        now,
        count=len(new),
    )
    session.flush()
    return len(new)


def apply_pending_inheritances(session: Session, user_id: int, now: datetime) -> int:
    """Grant a console account what its WeCom member inherited through handover cases
    (call after linking the account to a member). Returns how many grants were new."""
    user = session.get(SecurityUser, user_id)
    if user is None or not user.wecom_corp_id or not user.wecom_userid or user.disabled_at is not None:
        return 0
    rows = session.execute(
        select(HandoverInheritance).where(
            HandoverInheritance.corp_id == user.wecom_corp_id,
            HandoverInheritance.successor_userid == user.wecom_userid,
        )
    ).scalars()
    by_case: dict[int, list[HandoverInheritance]] = {}
    for row in rows:
        by_case.setdefault(row.case_id, []).append(row)
    granted = 0
    for case_id, case_rows in sorted(by_case.items()):
        case = session.get(HandoverCase, case_id)
        if case is None:
            continue
        conversation_ids = sorted({row.conversation_id for row in case_rows})
        new = grant_conversations(session, user.id, conversation_ids, _reason(case), SYSTEM_ACTOR, now=now)
        for row in case_rows:
            if row.granted_user_id is None:
                row.granted_user_id, row.granted_at = user.id, now
        log_step(
            session,
            None,
            "handover.grant",
            case_id,
            {
                "successor": user.wecom_userid,
                "conversation_ids": conversation_ids,
                "accounts": [user.username],
                "linked_later": True,
            },
            now,
            count=new,
        )
        granted += new
    session.flush()
    return granted


def _reason(case: HandoverCase) -> str:
    return f"handover case {case.id}: inherited from {case.handover_userid}"
