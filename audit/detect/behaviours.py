"""Behaviour detectors: what a message *does* rather than what it says, judged from the message
and its context alone (reply timeouts and deleted customers need history: see audit/monitor
and the detection stage).

- red packets (``redpacket`` §4.19, ``external_redpacket`` §4.28; ``totalamount`` in fen) at or
  above a threshold. WeCom's archive has no transfer (转账) message type in the documented
  protocol (UNCERTAIN): a future ``transfer`` body with ``totalamount``/``amount`` in fen is
  judged the same way.
- personal cards (名片, §4.9) of our own staff handed by staff to a chat with customers;
- recalls (§4.4): the recall names the recalled msgid, whose content stays archived;
- files sent by staff into a chat with external contacts;
- messages outside working hours in the configured time zone (DST-aware via zoneinfo).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from archive.messages import is_external_id
from audit.detect.context import MessageContext
from audit.detect.hits import Hit, Severity

BEHAVIOUR_VERSION = "1"

_AMOUNT_TYPES = frozenset({"redpacket", "external_redpacket", "transfer"})
# Files sent in a chat. (voip_doc_share is a document shown during a call, not handed over.)
_FILE_TYPES = frozenset({"file"})
_HOUR_S = 3600


@dataclass(frozen=True)
class WorkingHours:
    """Working time: ``start``–``end`` local time on ``days`` (ISO weekdays, 1 = Monday)."""

    zone: ZoneInfo
    start: time
    end: time
    days: frozenset[int]

    @classmethod
    def parse(cls, zone: str, start: str, end: str, days: list[int]) -> WorkingHours:
        return cls(ZoneInfo(zone), time.fromisoformat(start), time.fromisoformat(end), frozenset(days))

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        if local.isoweekday() not in self.days:
            return False
        clock = local.time()
        if self.start <= self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end  # a night shift crossing midnight


class BehaviourDetector:
    name = "behaviour"
    version = BEHAVIOUR_VERSION

    def __init__(self, hours: WorkingHours, red_packet_threshold_yuan: float) -> None:
        self._hours = hours
        self._threshold_fen = round(red_packet_threshold_yuan * 100)
        # Working or not per UTC hour bucket is cached when the zone's offset is whole hours
        # and the working hours start/end on the hour (the usual case): one dict lookup.
        self._hourly = hours.start.minute == 0 and hours.end.minute == 0
        self._cache: dict[int, bool] = {}
        # Hits are immutable: the constant ones are built once.
        self._file_hit = self._hit("file_to_external", Severity.LOW, "file sent by staff to external contacts")
        self._after_hours_hit = self._hit(
            "after_hours", Severity.LOW, "chat with external contacts outside working hours"
        )

    def detect(self, message: MessageContext) -> list[Hit]:
        msgtype = message.msgtype
        if msgtype == "text" and message.action == "send":
            # Most messages: only the working-hours check applies (hour cache looked up inline).
            if not message.has_external:
                return []
            working = self._cache.get(int(message.msgtime.timestamp()) // _HOUR_S) if self._hourly else None
            if working is None:
                working = self._working(message.msgtime)
            return [] if working else [self._after_hours_hit]
        hits: list[Hit] = []
        if msgtype in _AMOUNT_TYPES:
            hit = self._amount(message)
            if hit is not None:
                hits.append(hit)
        elif msgtype == "card":
            hit = self._card(message)
            if hit is not None:
                hits.append(hit)
        elif msgtype in _FILE_TYPES and message.sender_is_staff and message.has_external:
            hits.append(self._file_hit)
        if message.action == "recall" or msgtype == "revoke":
            recalled = message.recalls_msgid or ""
            hits.append(self._hit("recall", Severity.LOW, f"recalls message {recalled}".strip()))
        if message.has_external and message.action != "switch" and not self._working(message.msgtime):
            hits.append(self._after_hours_hit)
        return hits

    def _amount(self, message: MessageContext) -> Hit | None:
        body = message.body
        amount = body.get("totalamount", body.get("amount", 0))
        if not isinstance(amount, int | float) or amount < self._threshold_fen:
            return None
        kind = "transfer" if message.msgtype == "transfer" else "red_packet"
        count = body.get("totalcnt", 1)
        return self._hit(
            kind,
            Severity.HIGH if amount >= 10 * self._threshold_fen else Severity.MEDIUM,
            f"{kind.replace('_', ' ')} of {amount / 100:.2f} CNY in {count} part(s), "
            f"threshold {self._threshold_fen / 100:.2f} CNY",
        )

    def _card(self, message: MessageContext) -> Hit | None:
        shared = str(message.body.get("userid", ""))
        # Only a staff member's card (not a customer's) handed by staff to customers.
        if not (message.sender_is_staff and message.has_external and shared and not is_external_id(shared)):
            return None
        own = " (the sender's own)" if shared == message.sender else ""
        return self._hit("personal_card", Severity.MEDIUM, f"staff contact card{own} shared with customers")

    def _working(self, moment: datetime) -> bool:
        if not self._hourly:
            return self._hours.contains(moment)
        bucket = int(moment.timestamp()) // _HOUR_S
        cached = self._cache.get(bucket)
        if cached is None:
            # Whole-hour offsets and on-the-hour working hours: the hour's start decides for
            # the whole hour (zones like +05:30 switch to the exact check).
            start = datetime.fromtimestamp(bucket * _HOUR_S, tz=moment.tzinfo or self._hours.zone)
            offset = start.astimezone(self._hours.zone).utcoffset() or timedelta()
            if offset.total_seconds() % _HOUR_S:
                self._hourly = False
                return self._hours.contains(moment)
            cached = self._cache[bucket] = self._hours.contains(start)
            if len(self._cache) > 100_000:
                self._cache.clear()
        return cached

    def _hit(self, rule: str, severity: Severity, detail: str) -> Hit:
        return Hit(
            detector=self.name,
            detector_version=self.version,
            category=rule,
            rule=rule,
            severity=severity,
            detail=detail,
        )
