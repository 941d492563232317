"""The simulated company's consent to archiving (同意会话存档, spec §4.5, §4.6, §6.3, §6.4, §7.1).

One truth, three views of it, kept consistent:
- every ``agree``/``disagree`` message the simulator stores (generated or injected) is
  noted here (:func:`note_consent_message`, called by ``SimulatedWeCom``), so
- ``msgaudit/check_single_agree`` / ``check_room_agree`` answer what those messages imply:
  the latest one of a pair (or of a customer in a room) decides, with its time;
- a pair without such a message answers ``Agree`` since ``baseline_ms`` (its chats are
  archived, so the customer agreed before the history began), or ``Default_Agree`` for a
  WeCom-user customer (type 2: UNCERTAIN, spec §6.3 — it makes clients meet the third word);
- :meth:`ConsentWorld.change` writes a new agree/disagree message and, for an agreement,
  sends the signed ``change_external_contact``/``msg_audit_approved`` callback.

Unknown members or customers answer 301061; more than 100 pairs 301060.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from archive.simulator.handover.callbacks import ContactCallbacks
from archive.simulator.server import Reply, SimulatorServer, _json
from archive.simulator.store import SimulatorStore

if TYPE_CHECKING:  # runtime imports this module (note_consent_message)
    from archive.simulator.runtime import SimulatedWeCom

CONSENT_META_KEY: Final = "consent_observations"
SINGLE_AGREE_BATCH_LIMIT: Final = 100
DAY_MS: Final = 86_400_000
BASELINE_DAYS: Final = 90
EXTERNAL_KEY: Final = "exteranalopenid"  # sic (spec §6.3)
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ConsentNote:
    scope: str  # "single" | "room"
    party: str  # member userid or roomid
    external_userid: str
    status: str  # "Agree" | "Disagree"
    time_ms: int


def note_consent_message(store: SimulatorStore, plaintext: dict[str, Any]) -> None:
    """Remember an agree/disagree message (no-op for every other message)."""
    msgtype = plaintext.get("msgtype")
    if msgtype not in ("agree", "disagree"):
        return
    body = plaintext.get(msgtype)
    body = body if isinstance(body, dict) else {}
    sender = str(plaintext.get("from", ""))
    external = str(body.get("userid") or sender)
    at_ms = body.get(f"{msgtype}_time")
    at_ms = at_ms if isinstance(at_ms, int) and at_ms > 0 else int(plaintext.get("msgtime", 0) or 0)
    roomid = str(plaintext.get("roomid") or "")
    tolist = plaintext.get("tolist")
    others = [p for p in [sender, *(tolist if isinstance(tolist, list) else [])] if p and p != external]
    party = roomid or (str(others[0]) if others else "")
    if not party:
        return
    note = [("room" if roomid else "single"), party, external, "Agree" if msgtype == "agree" else "Disagree", at_ms]
    with _LOCK:
        notes = json.loads(store.get_meta(CONSENT_META_KEY) or "[]")
        notes.append(note)
        store.set_meta(CONSENT_META_KEY, json.dumps(notes))


def consent_notes(store: SimulatorStore) -> list[ConsentNote]:
    return [ConsentNote(*row) for row in json.loads(store.get_meta(CONSENT_META_KEY) or "[]")]


class ConsentWorld:
    """Consent state of the simulated company, served on a :class:`SimulatorServer`."""

    def __init__(
        self, simulator: SimulatedWeCom, callbacks: ContactCallbacks | None = None, *, baseline_ms: int | None = None
    ) -> None:
        self.simulator = simulator
        self.company = simulator.company
        self.callbacks = callbacks or ContactCallbacks(simulator.corp_id)
        self.baseline_ms = baseline_ms if baseline_ms is not None else int(time.time() * 1000) - BASELINE_DAYS * DAY_MS
        self._server: SimulatorServer | None = None
        self._counter = 0

    def install(self, server: SimulatorServer) -> ConsentWorld:
        self._server = server
        server.extra_routes[("POST", "/cgi-bin/msgaudit/check_single_agree")] = self._guarded(self._single)
        server.extra_routes[("POST", "/cgi-bin/msgaudit/check_room_agree")] = self._guarded(self._room)
        return self

    def now_ms(self) -> int:
        return self._server.clock_ms() if self._server is not None else int(time.time() * 1000)

    # --- the truth ------------------------------------------------------------------------

    def pair_status(self, userid: str, external_userid: str) -> tuple[str, int]:
        """(agree_status, status_change_time in ms) of a member and a customer."""
        notes = [
            n
            for n in consent_notes(self.simulator.store)
            if n.scope == "single" and n.party == userid and n.external_userid == external_userid
        ]
        return self._latest(notes, external_userid)

    def room_status(self, roomid: str, external_userid: str) -> tuple[str, int]:
        notes = [
            n
            for n in consent_notes(self.simulator.store)
            if n.scope == "room" and n.party == roomid and n.external_userid == external_userid
        ]
        return self._latest(notes, external_userid)

    def _latest(self, notes: list[ConsentNote], external_userid: str) -> tuple[str, int]:
        if notes:
            last = max(notes, key=lambda n: n.time_ms)
            return last.status, last.time_ms
        default = "Default_Agree" if self.company.customer(external_userid).type == 2 else "Agree"
        return default, self.baseline_ms

    def story_pair(self) -> tuple[str, str]:
        """The member and customer of the scripted "disagrees, then agrees" story: the first
        follow of an archived member with a WeChat-user customer (deterministic per seed)."""
        for userid, external in self.company.follows:
            if self.company.employee(userid).archived and self.company.customer(external).type == 1:
                return userid, external
        raise LookupError("the simulated company has no archived member following a WeChat customer")

    def change(self, userid: str, external_userid: str, status: str, at_ms: int, *, callback: bool = True) -> str:
        """The customer answers the archiving notice in a chat with ``userid`` at ``at_ms``:
        the agree/disagree message (stored, so the puller archives it), and for an
        agreement the ``msg_audit_approved`` callback. Returns the message's msgid."""
        if status not in ("Agree", "Disagree"):
            raise ValueError("status must be Agree or Disagree")
        msgtype = "agree" if status == "Agree" else "disagree"
        self._counter += 1
        msgid = f"consent{at_ms}_{self._counter}_{msgtype}"
        self.simulator.inject(
            [
                {
                    "msgid": msgid,
                    "action": "send",
                    "from": external_userid,
                    "tolist": [userid],
                    "roomid": "",
                    "msgtime": at_ms,
                    "msgtype": msgtype,
                    msgtype: {"userid": external_userid, f"{msgtype}_time": at_ms},
                }
            ]
        )
        if callback and status == "Agree":
            self.callbacks.send(self.callbacks.event("msg_audit_approved", userid, external_userid, at_ms))
        return msgid

    def story_played(self) -> bool:
        """Whether the story customer has answered the archiving notice in this store already."""
        userid, external = self.story_pair()
        return any(
            n.scope == "single" and n.party == userid and n.external_userid == external
            for n in consent_notes(self.simulator.store)
        )

    def play_disagree_then_agree(self, disagree_ms: int, agree_ms: int) -> tuple[str, str]:
        """The story customer declines at ``disagree_ms`` and agrees at ``agree_ms``."""
        userid, external = self.story_pair()
        self.change(userid, external, "Disagree", disagree_ms)
        self.change(userid, external, "Agree", agree_ms)
        return userid, external

    # --- the HTTP API ---------------------------------------------------------------------

    def _guarded(self, handler: Callable[[dict[str, Any]], Reply]) -> Callable[[dict[str, str], bytes], Reply]:
        def route(query: dict[str, str], body: bytes) -> Reply:
            assert self._server is not None
            error = self._server.check_token(query.get("access_token"))
            if error:
                return _answer(error[0], error[1])
            if self._server.faults.msgaudit_errcode:
                return _answer(self._server.faults.msgaudit_errcode, "simulated")
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                return _answer(47001, "data format error")
            if not isinstance(request, dict):
                return _answer(47001, "data format error")
            return handler(request)

        return route

    def _single(self, request: dict[str, Any]) -> Reply:
        info = request.get("info")
        if not isinstance(info, list) or not info:
            return _answer(41035, "missing info")
        if len(info) > SINGLE_AGREE_BATCH_LIMIT:
            return _answer(301060, "check agree exceed limit")
        customers = {c.external_userid for c in self.company.customers}
        answers = []
        for item in info:
            userid = item.get("userid") if isinstance(item, dict) else None
            external = item.get(EXTERNAL_KEY) if isinstance(item, dict) else None
            if (
                not isinstance(userid, str)
                or not isinstance(external, str)
                or not self.company.is_employee(userid)
                or external not in customers
            ):
                return _answer(301061, "userid or exteranalopenid not exist")
            status, at_ms = self.pair_status(userid, external)
            answers.append(
                {"status_change_time": at_ms // 1000, "userid": userid, EXTERNAL_KEY: external, "agree_status": status}
            )
        return _answer(0, "ok", agreeinfo=answers)

    def _room(self, request: dict[str, Any]) -> Reply:
        roomid = request.get("roomid")
        group = next((g for g in self.company.groups if g.roomid == roomid), None)
        if not isinstance(roomid, str) or group is None:
            return _answer(301061, "roomid not exist")
        customers = {c.external_userid for c in self.company.customers}
        answers = []
        for member in group.members:
            if member in customers:
                status, at_ms = self.room_status(roomid, member)
                answers.append({"status_change_time": at_ms // 1000, EXTERNAL_KEY: member, "agree_status": status})
        return _answer(0, "ok", agreeinfo=answers)


def _answer(errcode: int, errmsg: str, **fields: Any) -> Reply:
    return _json(200, {"errcode": errcode, "errmsg": errmsg, **fields})
