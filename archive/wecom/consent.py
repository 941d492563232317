"""WeCom's consent APIs of 会话内容存档 (spec §6.3, §6.4): msgaudit/check_single_agree and
msgaudit/check_room_agree.

Contract:
- Use a :class:`WeComClient` built with the **会话内容存档 Secret** (like
  ``get_permit_user_list``); other secrets get 48002.
- ``check_single_agree`` splits its pairs into calls of at most 100 (WeCom answers 301060
  beyond that). One unknown userid or external id fails a whole call with 301061, so
  :meth:`WeComConsent.check_pairs` bisects a failing batch to name the unknown pairs
  instead of losing the other 99 answers.
- ``agree_status`` is kept exactly as WeCom sent it: ``Agree``/``Disagree`` are documented,
  ``Default_Agree`` only reported by wrappers (UNCERTAIN); anything else is passed on for the
  ledger to store as-is and read as "unknown".
- The request and answer key is the official misspelling ``exteranalopenid`` (it holds an
  external_userid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from archive.wecom.client import WeComClient
from archive.wecom.errors import WeComApiError, WeComRejectedError

SINGLE_AGREE_BATCH_LIMIT: Final = 100  # pairs per check_single_agree call (spec §6.3)
TOO_MANY_PAIRS_ERRCODE: Final = 301060
UNKNOWN_PARTY_ERRCODE: Final = 301061
EXTERNAL_KEY: Final = "exteranalopenid"  # sic: WeCom's spelling


class ConsentQueryTooLarge(WeComRejectedError):
    """301060: more than 100 pairs in one check_single_agree call."""

    code = "wecom_consent_too_many"


class ConsentPartyNotFound(WeComRejectedError):
    """301061: a userid or external id of the call is unknown to WeCom."""

    code = "wecom_consent_not_found"


@dataclass(frozen=True, order=True)
class ConsentPair:
    """A member and a customer of a single chat."""

    userid: str
    external_userid: str


@dataclass(frozen=True)
class AgreeInfo:
    """One line of ``agreeinfo``. ``userid`` is None in room answers; ``changed_at`` is None
    when WeCom sent no usable ``status_change_time`` (0 or missing: UNCERTAIN whether it happens)."""

    userid: str | None
    external_userid: str
    status: str
    changed_at: datetime | None


@dataclass(frozen=True)
class PairsAnswer:
    answers: tuple[AgreeInfo, ...]
    not_found: tuple[ConsentPair, ...]  # pairs WeCom answered 301061 for, alone


class WeComConsent:
    def __init__(self, client: WeComClient) -> None:
        self.client = client

    async def check_single_agree(
        self, pairs: Sequence[ConsentPair], *, batch_size: int = SINGLE_AGREE_BATCH_LIMIT
    ) -> list[AgreeInfo]:
        """Consent of each (member, customer) pair, in calls of ``batch_size`` pairs (WeCom
        allows 100; a larger size is only for showing its 301060).

        Raises :class:`ConsentPartyNotFound` when a call names an unknown id."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        answers: list[AgreeInfo] = []
        for start in range(0, len(pairs), batch_size):
            answers.extend(await self._single(pairs[start : start + batch_size]))
        return answers

    async def check_pairs(self, pairs: Sequence[ConsentPair]) -> PairsAnswer:
        """Like :meth:`check_single_agree`, but a batch refused with 301061 is bisected until
        the unknown pairs are isolated; they are returned, the others answered."""
        answers: list[AgreeInfo] = []
        not_found: list[ConsentPair] = []
        pending = [
            list(pairs[i : i + SINGLE_AGREE_BATCH_LIMIT]) for i in range(0, len(pairs), SINGLE_AGREE_BATCH_LIMIT)
        ]
        while pending:
            batch = pending.pop()
            try:
                answers.extend(await self._single(batch))
            except ConsentPartyNotFound:
                if len(batch) == 1:
                    not_found.append(batch[0])
                else:
                    middle = len(batch) // 2
                    pending += [batch[:middle], batch[middle:]]
        return PairsAnswer(tuple(answers), tuple(sorted(not_found)))

    async def check_room_agree(self, roomid: str) -> list[AgreeInfo]:
        """Consent of each external member of a group (spec §6.4)."""
        if not roomid:
            raise ValueError("roomid must not be empty")
        document = await self._call("msgaudit/check_room_agree", {"roomid": roomid})
        return _agree_infos(document, "check_room_agree", with_userid=False)

    async def _single(self, batch: Sequence[ConsentPair]) -> list[AgreeInfo]:
        if not batch:
            return []
        body = {"info": [{"userid": p.userid, EXTERNAL_KEY: p.external_userid} for p in batch]}
        document = await self._call("msgaudit/check_single_agree", body)
        return _agree_infos(document, "check_single_agree", with_userid=True)

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.client.call("POST", f"/cgi-bin/{path}", body)
        except WeComApiError as exc:
            if exc.errcode == TOO_MANY_PAIRS_ERRCODE:
                raise ConsentQueryTooLarge(
                    f"WeCom {path} answered errcode 301060 (more than 100 pairs)",
                    hint="this is a bug in wecom-audit's batching; please report it",
                    errcode=exc.errcode,
                ) from None
            if exc.errcode == UNKNOWN_PARTY_ERRCODE:
                raise ConsentPartyNotFound(
                    f"WeCom {path} answered errcode 301061 (userid or external id not found)",
                    hint="the member or customer is unknown to WeCom (left, deleted, or another corp's id)",
                    errcode=exc.errcode,
                ) from None
            raise


def _agree_infos(document: dict[str, Any], call: str, *, with_userid: bool) -> list[AgreeInfo]:
    rows = document.get("agreeinfo", [])
    if not isinstance(rows, list):
        raise _malformed(call)
    infos: list[AgreeInfo] = []
    for row in rows:
        if not isinstance(row, dict):
            raise _malformed(call)
        external, status = row.get(EXTERNAL_KEY), row.get("agree_status")
        userid = row.get("userid") if with_userid else None
        if not isinstance(external, str) or not external or not isinstance(status, str) or not status:
            raise _malformed(call)
        if with_userid and (not isinstance(userid, str) or not userid):
            raise _malformed(call)
        infos.append(AgreeInfo(userid, external, status, _seconds(row.get("status_change_time"))))
    return infos


def _seconds(value: object) -> datetime | None:
    # Seconds per the docs (spec §6.3). 0 or missing: no time we can show.
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _malformed(call: str) -> WeComApiError:
    return WeComApiError(
        f"WeCom {call} answered an agreeinfo list wecom-audit cannot read",
        hint="check WECOM_AUDIT_WECOM__API_BASE_URL points at WeCom's API",
    )
