"""The simulated company's handover world: who left, who follows whom, transfers (spec §8).

``HandoverWorld.build(company, now_ms)`` is deterministic: two sales members have left
(3 and 10 days ago) with their customers unassigned and their customer groups awaiting
inheritance; each deleted two customers in the days before leaving. Transfers play out on
the server's clock (``SimulatorClock`` lets tests advance it):

- most customers are auto-accepted 24 h after the transfer (WeCom's rule, spec §8.2);
- the first remaining customer of each departed member accepts after 1 h;
- the second refuses after 2 h (status 3, and a ``transfer_fail`` callback);
- the third was transferred too often: the transfer call answers 40128 for it;
- a takeover member with a limit (``customer_limits``) gets status 4 and a
  ``transfer_fail`` (``customer_limit_exceed``) for customers beyond it.

Contact-change callbacks (``del_external_contact``, ``del_follow_user``, ``transfer_fail``)
go through ``callbacks`` (``callbacks.py``: encrypted, signed, POSTed if a URL is
configured); ``api.py`` serves WeCom's customer-contact API over this state. ``faults``
makes the next API calls answer a rate-limit errcode.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from typing import Final

from archive.simulator.company import Company
from archive.simulator.handover.callbacks import ContactCallbacks
from archive.simulator.server import SimulatorServer

DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
AUTO_ACCEPT_MS: Final = 24 * HOUR_MS  # spec §8.2
ONJOB_TRANSFERS_PER_90_DAYS: Final = 2  # spec §8.6


class SimulatorClock:
    """The simulated WeCom's time, advanced by tests (pass ``now_ms`` as the server's clock)."""

    def __init__(self, start_ms: int) -> None:
        self._now_ms = start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now_ms

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now_ms += int(seconds * 1000)


@dataclass
class ContactFaults:
    """The next ``rate_limited`` customer-contact calls answer ``rate_limit_errcode``.

    ``garbled_failed_chat_ids``: group transfers name each failed group by a chat id that is
    not the one requested (its last 4 characters cut), as an answer we cannot match would."""

    rate_limited: int = 0
    rate_limit_errcode: int = 45009
    garbled_failed_chat_ids: bool = False


@dataclass
class Transfer:
    kind: str  # "resigned" or "onjob"
    handover: str
    takeover: str
    external_userid: str
    started_ms: int
    due_ms: int
    outcome: int  # the status it will reach at due_ms: 1 completed, 3 refused
    status: int = 2  # waiting


@dataclass(frozen=True)
class Deletion:
    userid: str
    external_userid: str
    deleted_ms: int


@dataclass
class HandoverWorld:
    company: Company
    departed: dict[str, int]  # userid → dimission time (ms)
    follows: dict[str, list[str]]  # userid → external_userids (insertion ordered)
    group_owner: dict[str, str]  # customer group chat_id → owner
    deletions: list[Deletion]
    refusing: set[str]
    quick: set[str]
    too_often: set[str]
    contact_secret: str
    callbacks: ContactCallbacks
    customer_limits: dict[str, int] = field(default_factory=dict)
    faults: ContactFaults = field(default_factory=ContactFaults)
    transfers: list[Transfer] = field(default_factory=list)
    inherited_groups: set[str] = field(default_factory=set)
    onjob_history: dict[str, list[int]] = field(default_factory=dict)  # external_userid → transfer times
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _server: SimulatorServer | None = field(default=None, repr=False)

    @classmethod
    def build(cls, company: Company, now_ms: int) -> HandoverWorld:
        follows: dict[str, list[str]] = {}
        for userid, ext in company.follows:
            follows.setdefault(userid, []).append(ext)
        customer_groups = [g for g in company.groups if g.kind == "customer"]
        owners = {g.owner for g in customer_groups}
        # The two members with the most customers (ties by userid), preferring group owners.
        ranked = sorted(follows, key=lambda u: (u not in owners, -len(follows[u]), u))
        leavers = ranked[:2]
        departed = {leavers[0]: now_ms - 3 * DAY_MS, leavers[1]: now_ms - 10 * DAY_MS}
        group_owner = {g.roomid: g.owner for g in customer_groups}
        for i, leaver in enumerate(leavers):  # each leaver owns at least one group
            if leaver not in group_owner.values() and i < len(customer_groups):
                group_owner[customer_groups[-1 - i].roomid] = leaver
        deletions: list[Deletion] = []
        refusing: set[str] = set()
        quick: set[str] = set()
        too_often: set[str] = set()
        for leaver, left_ms in departed.items():
            for n, ext in enumerate(follows[leaver][:2]):
                deletions.append(Deletion(leaver, ext, left_ms - (n + 1) * DAY_MS))
            follows[leaver] = follows[leaver][2:]
            remaining = follows[leaver]
            quick.update(remaining[0:1])
            refusing.update(remaining[1:2])
            too_often.update(remaining[2:3])
        secret = base64.urlsafe_b64encode(company.corp_id.encode()).decode().rstrip("=") + "contact"
        return cls(
            company,
            departed,
            follows,
            group_owner,
            deletions,
            refusing,
            quick,
            too_often,
            secret,
            ContactCallbacks(company.corp_id),
        )

    # --- wiring ---------------------------------------------------------------------------

    def install(self, server: SimulatorServer) -> HandoverWorld:
        """Serve the customer-contact API on ``server`` (and use its clock) from now on."""
        from archive.simulator.handover.api import ContactApi  # the API reads this module's state

        self._server = server
        ContactApi(self).install(server)
        return self

    def now_ms(self) -> int:
        return self._server.clock_ms() if self._server is not None else int(time.time() * 1000)

    def active(self, userid: str) -> bool:
        return self.company.is_employee(userid) and userid not in self.departed

    # --- things that happen in the company --------------------------------------------------

    def assign_customers(self, userid: str, external_userids: list[str]) -> None:
        """An admin assigns customers to a member (e.g. a book larger than one transfer call)."""
        with self.lock:
            book = self.follows.setdefault(userid, [])
            book.extend(ext for ext in external_userids if ext not in book)

    def delete_customer(self, userid: str, external_userid: str) -> None:
        """The member deletes the customer (``del_external_contact``)."""
        with self.lock:
            _drop(self.follows.get(userid, []), external_userid)
        self.callbacks.send(self.callbacks.event("del_external_contact", userid, external_userid, self.now_ms()))

    def customer_deletes_member(self, userid: str, external_userid: str) -> None:
        """The customer deletes the member (``del_follow_user``)."""
        with self.lock:
            _drop(self.follows.get(userid, []), external_userid)
        self.callbacks.send(self.callbacks.event("del_follow_user", userid, external_userid, self.now_ms()))

    def send_departure_deletions(self) -> None:
        """The ``del_external_contact`` callbacks of the deletions before the departures."""
        for deletion in self.deletions:
            self.callbacks.send(
                self.callbacks.event(
                    "del_external_contact", deletion.userid, deletion.external_userid, deletion.deleted_ms
                )
            )

    def settle(self) -> None:
        """Let due transfers finish (called before every API answer)."""
        now = self.now_ms()
        events: list[dict[str, str]] = []
        with self.lock:
            for transfer in self.transfers:
                if transfer.status != 2 or transfer.due_ms > now:
                    continue
                status = transfer.outcome
                limit = self.customer_limits.get(transfer.takeover)
                if status == 1 and limit is not None and len(self.follows.get(transfer.takeover, [])) >= limit:
                    status = 4
                transfer.status = status
                if status == 1:
                    _drop(self.follows.get(transfer.handover, []), transfer.external_userid)
                    self.follows.setdefault(transfer.takeover, []).append(transfer.external_userid)
                    if transfer.kind == "onjob":
                        # The handover member loses the customer "by transfer" (spec §8.8); whether
                        # WeCom sends this for API-initiated transfers is UNCERTAIN (open question 16).
                        events.append(
                            self.callbacks.event(
                                "del_external_contact",
                                transfer.handover,
                                transfer.external_userid,
                                transfer.due_ms,
                                Source="DELETE_BY_TRANSFER",
                            )
                        )
                else:
                    reason = "customer_refused" if status == 3 else "customer_limit_exceed"
                    # WeCom documents transfer_fail for on-job transfers; sending it for resigned
                    # ones too is a guess (spec open question 16, UNCERTAIN).
                    events.append(
                        self.callbacks.event(
                            "transfer_fail",
                            transfer.takeover,
                            transfer.external_userid,
                            transfer.due_ms,
                            FailReason=reason,
                        )
                    )
        for event in events:
            self.callbacks.send(event)


def _drop(book: list[str], external_userid: str) -> None:
    if external_userid in book:
        book.remove(external_userid)
