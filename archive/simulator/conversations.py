"""The conversation generator: an endless, deterministic stream of WeCom messages and contact events.

Conversations (customer single chats, colleague chats, internal and customer groups, robot
posts) start at a rate shaped by Asia/Shanghai office hours and scaled to
``messages_per_day``. Each conversation is scripted in full when it starts (so labels such
as "recalled" or "unanswered" are known up-front), and the scripts of overlapping
conversations are merged by time. Every message is the exact decrypted JSON of the
protocol spec §4 and carries ground-truth labels for tests.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from archive.simulator import phrases
from archive.simulator.company import Company, Group
from archive.simulator.media import MediaFactory, make_sdkfileid, md5_hex

# fmt: off
MSG_TYPES: tuple[str, ...] = (
    "text", "image", "voice", "video", "file", "link", "card", "location", "emotion", "weapp", "chatrecord",
    "mixed", "redpacket", "external_redpacket", "revoke", "agree", "disagree", "docmsg", "meeting", "todo", "vote",
    "collect", "calendar", "markdown", "news", "meeting_voice_call", "voip_doc_share", "sphfeed", "voiptext",
    "switch",
)
# fmt: on

_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_TZ_MS = 8 * _HOUR_MS  # Asia/Shanghai, no DST
_SHANGHAI = timezone(timedelta(hours=8))
_ID_BASE = 10**19
_ID_SPACE = 2**64 - _ID_BASE


@dataclass(frozen=True)
class MediaBlob:
    sdkfileid: str
    data: bytes
    md5: str  # lowercase hex md5 of data


@dataclass(frozen=True)
class GeneratedMessage:
    msgid: str
    msgtime_ms: int
    plaintext: dict[str, object]  # the exact decrypted WeCom JSON object
    media: tuple[MediaBlob, ...]  # bytes for every sdkfileid referenced in plaintext
    labels: frozenset[str]  # ground truth for tests


@dataclass(frozen=True)
class ContactEvent:
    time_ms: int
    change_type: Literal["del_external_contact", "del_follow_user"]
    userid: str
    external_userid: str


SimEvent = GeneratedMessage | ContactEvent


# --- office hours ------------------------------------------------------------------------


def is_working_time(t_ms: int) -> bool:
    """09:00–18:00 Monday–Friday, Asia/Shanghai."""
    local = t_ms + _TZ_MS
    return (local // _DAY_MS + 3) % 7 < 5 and 9 <= (local % _DAY_MS) // _HOUR_MS < 18


def add_working_time(t_ms: int, duration_ms: int) -> int:
    """The instant when ``duration_ms`` of working time has elapsed after ``t_ms``."""
    t, left = t_ms, duration_ms
    while True:
        day = (t + _TZ_MS) // _DAY_MS
        day_start = day * _DAY_MS - _TZ_MS
        opens, closes = day_start + 9 * _HOUR_MS, day_start + 18 * _HOUR_MS
        if (day + 3) % 7 >= 5 or t >= closes:
            t = day_start + _DAY_MS
            continue
        t = max(t, opens)
        if t + left <= closes:
            return t + left
        left -= closes - t
        t = day_start + _DAY_MS


# fmt: off
_WEEKDAY_HOURS = (
    0.05, 0.02, 0.02, 0.02, 0.02, 0.03, 0.1, 0.3, 0.8, 2.6, 2.8, 2.6, 1.4, 2, 2.8, 2.8, 2.6, 2.4, 1.2, 0.8, 0.7,
    0.5, 0.3, 0.12,
)
# fmt: on
# fmt: off
_WEEKEND_HOURS = (
    0.04, 0.02, 0.02, 0.02, 0.02, 0.02, 0.04, 0.1, 0.2, 0.35, 0.4, 0.4, 0.3, 0.3, 0.35, 0.35, 0.35, 0.3, 0.3, 0.35,
    0.35, 0.3, 0.15, 0.08,
)
# fmt: on
_WEEK_MEAN = (5 * sum(_WEEKDAY_HOURS) + 2 * sum(_WEEKEND_HOURS)) / 168

# --- scenarios ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Beat:
    role: str
    item: str  # a text category, or "@msgtype"
    mode: str  # "" once, "?" maybe, "*" zero to two times


def _beats(spec: str) -> tuple[_Beat, ...]:
    out = []
    for token in spec.split():
        role, item = token.split(":", 1)
        mode = item[-1] if item[-1] in "?*" else ""
        out.append(_Beat(role, item.rstrip("?*"), mode))
    return tuple(out)


_Scenario = tuple[str, float, tuple[_Beat, ...]]
SCENARIOS: dict[str, tuple[_Scenario, ...]] = {
    "ext": tuple(
        (n, w, _beats(s))
        for n, w, s in (
            (
                "inquiry",
                30,
                "C:c_greet? E:e_greet C:c_ask_product E:e_product C:c_followup E:e_answer C:c_followup? "
                "E:e_answer? E:@file? E:e_disclaimer? C:c_ack",
            ),
            (
                "appointment",
                12,
                "C:c_appoint_ask E:e_appoint C:c_appoint_confirm E:e_appoint_confirm E:@location? C:c_ack?",
            ),
            ("service", 12, "C:c_service E:e_wait E:e_service_answer C:c_followup? E:e_answer? C:c_thanks"),
            ("followup", 14, "E:e_followup C:c_reply E:e_product? C:c_ack"),
            ("onboarding", 5, "E:e_pii_request C:c_pii C:c_pii? E:e_ack C:c_ack?"),
            ("complaint", 6, "C:c_complain C:c_complain? E:e_soothe C:c_angry? C:c_threat? E:e_soothe? E:e_escalate?"),
            ("risky_sales", 5, "E:e_product E:risk_e C:c_followup E:risk_e E:e_answer? C:c_ack"),
            ("holiday", 4, "E:e_holiday E:@external_redpacket? C:c_thanks E:@emotion?"),
            ("documents", 7, "C:c_ask_doc E:e_share_intro E:@file E:@docmsg? C:c_thanks"),
            ("call", 4, "E:e_call_ask C:c_ack E:@voiptext E:e_after_call? C:c_ack?"),
            ("referral", 2, "C:c_referral C:@card E:e_thanks_referral"),
        )
    ),
    "int": tuple(
        (n, w, _beats(s))
        for n, w, s in (
            ("task", 30, "A:i_task B:i_reply A:i_detail? B:i_reply?"),
            ("forward", 8, "A:i_forward_intro A:@chatrecord B:i_reply A:i_detail?"),
            ("meeting", 8, "A:i_meeting A:@meeting? A:@calendar? B:i_reply"),
            ("documents", 10, "A:i_doc_ask B:@file B:@docmsg? A:i_thanks"),
            ("chat", 14, "A:i_chat B:i_chat_reply A:@emotion? B:i_chat_reply?"),
            ("report", 8, "A:i_report B:i_reply A:@docmsg?"),
            ("todo", 5, "A:i_task A:@todo B:i_reply"),
            ("risky", 4, "A:risk_i B:i_reply A:risk_i?"),
            ("pii", 4, "A:i_customer_pii B:i_reply"),
            ("call", 3, "A:i_task A:@voiptext B:i_reply?"),
        )
    ),
    "igroup": tuple(
        (n, w, _beats(s))
        for n, w, s in (
            ("notice", 25, "O:ig_notice M:i_reply* M:@emotion?"),
            ("discuss", 25, "O:i_task M:i_reply O:i_detail M:i_reply*"),
            ("vote", 6, "O:ig_vote_intro O:@vote M:i_reply?"),
            ("collect", 5, "O:ig_collect_intro O:@collect M:i_reply?"),
            ("meeting", 8, "O:i_meeting O:@meeting M:i_reply*"),
            ("redpacket", 6, "O:ig_celebrate O:@redpacket M:ig_thanks*"),
            ("report", 8, "O:i_report M:ig_thanks? M:i_reply?"),
            ("risky", 3, "O:risk_i M:i_reply?"),
            ("chat", 8, "O:i_chat M:i_chat_reply* M:@emotion?"),
        )
    ),
    "cgroup": tuple(
        (n, w, _beats(s))
        for n, w, s in (
            ("broadcast", 25, "O:g_broadcast O:@link? Z:g_c_reply*"),
            ("qa", 25, "X:g_c_ask O:g_e_answer X:g_c_reply?"),
            ("activity", 12, "O:g_activity O:@location? Z:g_c_join*"),
            ("chatter", 15, "X:g_c_chat Z:g_c_chat? X:@emotion? Z:g_c_chat*"),
            ("complaint", 5, "X:c_complain X:c_angry? O:e_soothe X:c_threat?"),
            ("spam", 3, "X:g_spam O:g_e_warn?"),
            ("redpacket", 5, "O:g_festival O:@external_redpacket Z:g_c_reply*"),
            ("channels", 5, "O:@sphfeed Z:g_c_reply?"),
            ("product", 5, "O:e_product O:@file? X:c_followup O:e_answer"),
        )
    ),
}
_KIND_WEIGHTS = {"ext": 46.0, "int": 18.0, "igroup": 13.0, "cgroup": 17.0, "robot": 3.5, "switch": 0.6}
_KIND_WEIGHTS_AFTER_HOURS = {"ext": 60.0, "int": 9.0, "igroup": 5.0, "cgroup": 17.0, "robot": 0.5, "switch": 0.6}
_EXTRA_P = {"ext": 0.3, "int": 0.25, "igroup": 0.3, "cgroup": 0.35}
# fmt: off
_EXTRA_TYPES: dict[tuple[str, bool], dict[str, float]] = {  # (kind, sender is staff) -> weights
    ("ext", True): {
        "image": 25, "file": 12, "link": 12, "emotion": 14, "voice": 8, "weapp": 5, "card": 5, "docmsg": 3,
        "mixed": 4, "external_redpacket": 1.5, "location": 3, "video": 3, "voiptext": 4, "calendar": 1,
        "meeting": 1, "sphfeed": 2, "meeting_voice_call": 0.6, "voip_doc_share": 0.6,
    },
    ("ext", False): {
        "image": 30, "voice": 22, "emotion": 25, "file": 4, "video": 5, "link": 5, "location": 3, "card": 2,
        "mixed": 5, "sphfeed": 3, "external_redpacket": 1.5, "chatrecord": 1, "voiptext": 3, "weapp": 2,
    },
    ("int", True): {
        "image": 20, "file": 15, "emotion": 15, "voice": 10, "chatrecord": 6, "docmsg": 7, "link": 6, "card": 4,
        "todo": 3, "meeting": 3, "calendar": 3, "mixed": 4, "redpacket": 2, "voiptext": 4, "video": 3,
        "location": 2, "weapp": 2, "meeting_voice_call": 1, "voip_doc_share": 1, "sphfeed": 1,
    },
    ("igroup", True): {
        "image": 18, "file": 12, "emotion": 20, "docmsg": 8, "link": 6, "meeting": 3, "todo": 3, "calendar": 3,
        "redpacket": 3, "chatrecord": 4, "mixed": 3, "voice": 6, "video": 2, "voiptext": 2, "sphfeed": 2,
        "location": 1, "weapp": 2, "meeting_voice_call": 1, "voip_doc_share": 1,
    },
    ("cgroup", True): {
        "image": 20, "link": 15, "file": 8, "emotion": 10, "sphfeed": 8, "weapp": 8, "external_redpacket": 4,
        "mixed": 5, "video": 5, "docmsg": 2, "card": 3, "location": 2,
    },
    ("cgroup", False): {
        "emotion": 35, "image": 25, "voice": 10, "link": 8, "sphfeed": 8, "video": 5, "external_redpacket": 2,
        "location": 2, "mixed": 5,
    },
}
# fmt: on
# fmt: off
_RISK_P: dict[tuple[str, bool], float] = {
    ("ext", True): 0.1, ("ext", False): 0.08, ("int", True): 0.05, ("igroup", True): 0.025, ("cgroup", True): 0.035,
    ("cgroup", False): 0.05,
}
# fmt: on
# fmt: off
_RISK_SWAP: dict[str, dict[str, float]] = {
    "risk_e": {
        "e_guaranteed": 24, "e_off_platform": 26, "e_kickback": 14, "e_private": 12, "e_poaching": 8, "e_abuse": 5,
        "e_pii_self": 11,
    },
    "risk_c": {
        "c_pii": 55, "c_off_platform": 30, "c_kickback": 15,
    },
    "risk_i": {
        "i_customer_pii": 35, "i_poaching": 14, "i_abuse": 14, "i_kickback": 14, "i_private": 12,
        "i_off_platform": 11,
    },
    "risk_gc": {
        "g_spam": 40, "c_complain": 30, "c_pii": 30,
    },
}
# fmt: on
# fmt: off
_FORCE: dict[str, tuple[str, str]] = {  # msgtype -> (conversation kind, role) used when a type is overdue
    "text": ("ext", "E"), "image": ("ext", "C"), "voice": ("ext", "C"), "video": ("int", "A"), "file": ("ext", "E"),
    "link": ("ext", "E"), "card": ("ext", "E"), "location": ("ext", "E"), "emotion": ("ext", "C"),
    "weapp": ("ext", "E"), "chatrecord": ("int", "A"), "mixed": ("ext", "C"), "redpacket": ("int", "A"),
    "external_redpacket": ("ext", "E"), "revoke": ("ext", "E"), "agree": ("ext", "C"), "disagree": ("ext", "C"),
    "docmsg": ("int", "A"), "meeting": ("int", "A"), "todo": ("int", "A"), "vote": ("igroup", "O"),
    "collect": ("igroup", "O"), "calendar": ("int", "A"), "markdown": ("robot", ""), "news": ("robot", ""),
    "meeting_voice_call": ("ext", "E"), "voip_doc_share": ("int", "A"), "sphfeed": ("cgroup", "O"),
    "voiptext": ("ext", "E"), "switch": ("switch", ""),
}
# fmt: on
_RECALLABLE = frozenset(
    ("text", "image", "voice", "video", "file", "link", "card", "location", "emotion", "weapp", "mixed")
)
_RISKY_PREFIXES = ("sensitive:", "pii:")
_OVERDUE_AFTER = 1000  # messages without a type before the next conversation is made to carry it
_CONTACT_OVERDUE_AFTER = 2500
_ALPHANUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _js(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


_CUM_CACHE: dict[int, tuple[tuple[str, ...], tuple[float, ...], dict[str, float]]] = {}


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    cached = _CUM_CACHE.get(id(weights))
    if cached is None or cached[2] is not weights:
        keys = tuple(weights)
        cum = tuple(itertools.accumulate(weights.values()))
        cached = (keys, cum, weights)
        _CUM_CACHE[id(weights)] = cached
    keys, cum, _w = cached
    return keys[bisect.bisect(cum, rng.random() * cum[-1])]


class ConversationGenerator:
    """Endless stream of ``SimEvent`` for a company; deterministic for its arguments.

    ``messages_per_day`` is the average over a week: weekdays run about 30 % above it,
    nights and weekends well below (about three quarters of messages fall in office hours).
    Single chats with customers only involve members with an archiving licence.
    """

    def __init__(self, company: Company, *, seed: int, start_ms: int, messages_per_day: int = 3000) -> None:
        if messages_per_day <= 0:
            raise ValueError("messages_per_day must be positive")
        self.company = company
        self.seed = seed
        self.start_ms = start_ms
        self.messages_per_day = messages_per_day
        self._media = MediaFactory(seed * 7919 + 17)

    def events(self) -> Iterator[SimEvent]:
        """Infinite, time-ordered (non-decreasing) events; each call replays the same stream."""
        return _Run(self.company, random.Random(self.seed), self._media, self.start_ms, self.messages_per_day).run()


# --- the run: state of one pass over the stream -----------------------------------------------

_Fields = dict[str, object]
_Built = tuple[_Fields, list[MediaBlob], set[str]]


class _Run:
    def __init__(
        self, company: Company, rng: random.Random, media: MediaFactory, start_ms: int, messages_per_day: int
    ) -> None:
        self.co = company
        self.rng = rng
        self.media = media
        self.start_ms = start_ms
        self.mpd = messages_per_day
        self.text = phrases.TextMaker(rng)
        mult = rng.randrange(1, _ID_SPACE) | 1
        while math.gcd(mult, _ID_SPACE) != 1:
            mult += 2
        self._id_mult, self._id_add, self._counter = mult, rng.randrange(_ID_SPACE), 0
        self._nonce = rng.getrandbits(64)
        self._blobs = 0
        self._large_in = rng.randint(20, 180)  # files until the next large one (~1 in 200)
        self.short = company.short_name
        brand = next((slug for b, slug in phrases.COMPANY_BRANDS if b in company.name), "corp")
        kind = next((slug for suffix, _s, slug in phrases.COMPANY_KINDS if company.name.endswith(suffix)), "group")
        self.domain = f"{brand}-{kind}.com"
        staff = company.employees
        self.staff_ids = [e.userid for e in staff]
        self.archived = [e.userid for e in staff if e.archived] or self.staff_ids
        self.names: dict[str, str] = {e.userid: e.name for e in staff}
        self.names.update({c.external_userid: c.name for c in company.customers})
        self.dept_names = [d.name for d in company.departments if d.parent_id is not None]
        self.by_dept: dict[int, list[str]] = {}
        for e in staff:
            self.by_dept.setdefault(e.department_id, []).append(e.userid)
        self.dept_of = {e.userid: e.department_id for e in staff}
        self.ecall = {e.userid: self._surname(e.name) + rng.choice(("经理", "经理", "老师", "顾问")) for e in staff}
        for e in staff:
            if rng.random() < 0.2:
                self.ecall[e.userid] = "小" + self._surname(e.name)
        nicknames = set(phrases.NICKNAMES)
        self.ccall: dict[str, str] = {}
        self.cust_weight: dict[str, float] = {}
        for c in company.customers:
            sur = rng.choice(phrases.SURNAMES)[0] if c.name in nicknames else self._surname(c.name)
            self.ccall[c.external_userid] = sur + rng.choice(("先生", "先生", "女士", "女士", "总", "姐", "哥", "老师"))
            self.cust_weight[c.external_userid] = min(20.0, rng.paretovariate(1.4))
        self.customer_ids = [c.external_userid for c in company.customers]
        self.archived_set = set(self.archived)
        self.follows = [f for f in company.follows if f[0] in self.archived_set]
        self.follow_set = set(self.follows)
        self.dead: set[tuple[str, str]] = set()
        self.follow_cw: list[float] = []
        self._rebuild_follows()
        self.igroups = [g for g in company.groups if g.kind == "internal" and len(g.members) >= 2]
        self.cgroups = [g for g in company.groups if g.kind == "customer" and len(g.members) >= 2]
        self.available: dict[str, int] = {}
        self.emitted = 0
        self.last_seen = dict.fromkeys(MSG_TYPES, 0)
        self.pending = dict.fromkeys(MSG_TYPES, 0)
        self.last_contact = 0
        self.pending_contacts = 0
        self.scripted_msgs = 0
        self.scripted_convs = 0
        self.builders: dict[str, Callable[[_Conv, str, int], _Built]] = {
            "image": self._image,
            "voice": self._voice,
            "video": self._video,
            "file": self._file,
            "link": self._link,
            "card": self._card,
            "location": self._location,
            "emotion": self._emotion,
            "weapp": self._weapp,
            "chatrecord": self._chatrecord,
            "mixed": self._mixed,
            "redpacket": self._redpacket,
            "external_redpacket": self._redpacket,
            "agree": self._agree,
            "disagree": self._agree,
            "docmsg": self._docmsg,
            "meeting": self._meeting,
            "todo": self._todo,
            "vote": self._vote,
            "collect": self._collect,
            "calendar": self._calendar,
            "markdown": self._markdown,
            "news": self._news,
            "meeting_voice_call": self._meeting_voice_call,
            "voip_doc_share": self._voip_doc_share,
            "sphfeed": self._sphfeed,
            "voiptext": self._voiptext,
        }

    @staticmethod
    def _surname(name: str) -> str:
        return name[:2] if any(name.startswith(s) for s, _p in phrases.SURNAMES if len(s) == 2) else name[:1]

    def _rebuild_follows(self) -> None:
        total = 0.0
        self.follow_cw = []
        for _emp, cust in self.follows:
            total += self.cust_weight[cust]
            self.follow_cw.append(total)

    # --- ids ---

    def next_id_number(self) -> int:
        self._counter += 1
        return (self._counter * self._id_mult + self._id_add) % _ID_SPACE + _ID_BASE

    def msgid(self, t_ms: int) -> str:
        return f"{self.next_id_number()}_{t_ms // 1000}"

    def blob(self, data: bytes, t_ms: int) -> MediaBlob:
        self._blobs += 1
        return MediaBlob(make_sdkfileid(self.rng, self._nonce, self._blobs, t_ms // 1000), data, md5_hex(data))

    def token(self, n: int) -> str:
        return "".join(self.rng.choices(_ALPHANUM, k=n))

    def fill(self, template: str, ctx: dict[str, str]) -> str:
        return self.text.fill(template, ctx)

    # --- the merged stream ---

    def run(self) -> Iterator[SimEvent]:
        heap: list[tuple[int, int, int, list[SimEvent]]] = []
        order = 0
        next_start = self._next_start(self.start_ms)
        while True:
            while not heap or next_start <= heap[0][0]:
                script = self._start(next_start)
                if script:
                    heapq.heappush(heap, (_time(script[0]), order, 0, script))
                    order += 1
                next_start = self._next_start(next_start)
            _t, key, pos, script = heapq.heappop(heap)
            event = script[pos]
            if pos + 1 < len(script):
                heapq.heappush(heap, (_time(script[pos + 1]), key, pos + 1, script))
            if isinstance(event, GeneratedMessage):
                self.emitted += 1
                mtype = str(event.plaintext.get("msgtype", "switch"))
                self.last_seen[mtype] = self.emitted
                self.pending[mtype] -= 1
            else:
                self.last_contact = self.emitted
                self.pending_contacts -= 1
            yield event

    def _next_start(self, t: int) -> int:
        mean_len = (self.scripted_msgs + 140) / (self.scripted_convs + 20)
        per_ms = self.mpd / mean_len / _DAY_MS / _WEEK_MEAN
        e = self.rng.expovariate(1.0)
        while True:
            local = t + _TZ_MS
            hours = _WEEKDAY_HOURS if (local // _DAY_MS + 3) % 7 < 5 else _WEEKEND_HOURS
            rate = per_ms * hours[(local % _DAY_MS) // _HOUR_MS]
            hour_end = t - local % _HOUR_MS + _HOUR_MS
            if e <= rate * (hour_end - t):
                return t + int(e / rate)
            e -= rate * (hour_end - t)
            t = hour_end

    def _start(self, t: int) -> list[SimEvent] | None:
        forced = None
        threshold = self.emitted - _OVERDUE_AFTER
        stale = []
        if min(self.last_seen.values()) < threshold:
            stale = [m for m in MSG_TYPES if self.last_seen[m] < threshold and self.pending[m] == 0]
        if stale:
            forced = min(stale, key=lambda m: self.last_seen[m])
        force_contact = self.emitted - self.last_contact > _CONTACT_OVERDUE_AFTER and self.pending_contacts == 0
        if forced is not None:
            kind = _FORCE[forced][0]
        elif force_contact:
            kind = "ext"
        else:
            kind = _pick(self.rng, _KIND_WEIGHTS if is_working_time(t) else _KIND_WEIGHTS_AFTER_HOURS)
        script = self._build(kind, t, forced, force_contact)
        if script is None and kind != "int":
            script = self._build("int", t, None, False)
        if not script:
            return None
        for event in script:
            if isinstance(event, GeneratedMessage):
                self.pending[str(event.plaintext.get("msgtype", "switch"))] += 1
                self.scripted_msgs += 1
            else:
                self.pending_contacts += 1
        self.scripted_convs += 1
        return script

    def _build(self, kind: str, t: int, forced: str | None, force_contact: bool) -> list[SimEvent] | None:
        if kind == "ext":
            return self._ext(t, forced, force_contact)
        if kind == "int":
            return self._int(t, forced)
        if kind == "igroup":
            return self._group(t, forced, self.igroups or self.cgroups)
        if kind == "cgroup":
            return self._group(t, forced, self.cgroups or self.igroups)
        if kind == "robot":
            return self._robot(t, forced)
        return self._switch(t)

    def _free(self, key: str, t: int) -> bool:
        return self.available.get(key, 0) <= t

    def _ctx(self, **extra: str) -> dict[str, str]:
        rng = self.rng
        ctx = {
            "short": self.short,
            "ename2": self.names[rng.choice(self.staff_ids)],
            "dept": rng.choice(self.dept_names),
            "cname": self.ccall[rng.choice(self.customer_ids)],
        }
        ctx.update(extra)
        return ctx

    # --- conversation kinds ---

    def _ext(self, t: int, forced: str | None, force_contact: bool) -> list[SimEvent] | None:
        rng = self.rng
        if not self.follows:
            return None
        for _ in range(10):
            emp, cust = rng.choices(self.follows, cum_weights=self.follow_cw)[0]
            key = f"{emp}|{cust}"
            if self._free(key, t):
                break
        else:
            return None
        ctx = self._ctx(ename=self.names[emp], ecall=self.ecall[emp], ccall=self.ccall[cust], cname=self.ccall[cust])
        conv = _Conv(self, "ext", t, "", (emp, cust), ctx, {"E": emp, "C": cust})
        if forced == "disagree" or (forced is None and rng.random() < 0.006):
            conv.send(cust, "disagree")
            conv.text(emp, "e_disagree_reply", recall_ok=False)
            self.available[key] = conv.t + 60_000
            return conv.events
        if forced == "agree" or (forced is None and rng.random() < 0.03):
            conv.send(cust, "agree")
        name, _w, beats = self._scenario("ext")
        if forced == "revoke":
            conv.force_recall = True
        conv.play(beats, forced if forced not in ("agree", "revoke", "text") else None)
        complaint = name == "complaint"
        if rng.random() < (0.25 if complaint else 0.04):
            conv.text(cust, "c_unanswered", recall_ok=False)
            # blocked: no staff reply in this chat for at least two working hours
            self.available[key] = add_working_time(conv.t, 2 * _HOUR_MS) + rng.randrange(60_000, 20 * _HOUR_MS)
        else:
            if conv.last_sender != emp:
                conv.text(emp, "e_close", recall_ok=False)
            self.available[key] = conv.t + 60_000
        p_ext, p_follow = (0.05, 0.2) if complaint else (0.006, 0.006)
        roll = rng.random()
        if force_contact and roll >= p_ext + p_follow:
            roll = rng.random() * (p_ext + p_follow)
        if roll < p_ext + p_follow:
            change: Literal["del_external_contact", "del_follow_user"] = (
                "del_external_contact" if roll < p_ext else "del_follow_user"
            )
            when = conv.t + rng.randrange(60_000, 3 * _HOUR_MS)
            conv.events.append(ContactEvent(when, change, emp, cust))
            self._drop_follow(emp, cust)
        return conv.events

    def _drop_follow(self, emp: str, cust: str) -> None:
        self.follow_set.discard((emp, cust))
        self.dead.add((emp, cust))
        self.follows = [f for f in self.follows if f != (emp, cust)]
        still_followed = any(c == cust for _e, c in self.follows)
        if not still_followed or self.rng.random() < 0.6:  # handed over to (or re-added by) a colleague
            candidates = [e for e in self.archived if (e, cust) not in self.dead and (e, cust) not in self.follow_set]
            if candidates:
                pair = (self.rng.choice(candidates), cust)
                self.follows.append(pair)
                self.follow_set.add(pair)
        self._rebuild_follows()

    def _scenario(self, kind: str) -> _Scenario:
        table = SCENARIOS[kind]
        return self.rng.choices(table, weights=[w for _n, w, _b in table])[0]

    def _int(self, t: int, forced: str | None) -> list[SimEvent] | None:
        rng = self.rng
        if len(self.staff_ids) < 2:
            return None
        for _ in range(10):
            a = rng.choice(self.archived)
            same = [u for u in self.by_dept[self.dept_of[a]] if u != a]
            b = rng.choice(same) if same and rng.random() < 0.55 else rng.choice(self.staff_ids)
            key = "|".join(sorted((a, b)))
            if b != a and self._free(key, t):
                break
        else:
            return None
        conv = _Conv(self, "int", t, "", (a, b), self._ctx(ename=self.names[a], ename2=self.names[b]), {"A": a, "B": b})
        if forced == "revoke":
            conv.force_recall = True
        _name, _w, beats = self._scenario("int")
        conv.play(beats, forced if forced not in ("revoke", "text") else None)
        self.available[key] = conv.t + 60_000
        return conv.events

    def _group(self, t: int, forced: str | None, groups: list[Group]) -> list[SimEvent] | None:
        rng = self.rng
        if not groups:
            return None
        group = rng.choice(groups)
        if not self._free(group.roomid, t):
            group = rng.choice(groups)
        staff = [m for m in group.members if m in self.dept_of]
        custs = [m for m in group.members if m not in self.dept_of]
        if not staff:
            return None
        kind = "cgroup" if group.kind == "customer" and custs else "igroup"
        archived_staff = [m for m in staff if m in self.archived_set] or staff
        if kind == "cgroup":
            owner = group.owner if group.owner in self.dept_of and rng.random() < 0.7 else rng.choice(staff)
            main = rng.choice(custs)
            roles = {"O": owner, "X": main}
            ctx = self._ctx(ename=self.names[owner], ecall=self.ecall[owner], ccall=self.ccall.get(main, "您"))
        else:
            owner = rng.choice(archived_staff)
            roles = {"O": owner}
            ctx = self._ctx(ename=self.names[owner])
        conv = _Conv(self, kind, t, group.roomid, group.members, ctx, roles)
        conv.group_name = group.name
        conv.staff_pool = [m for m in staff if m != roles["O"]] or staff
        conv.cust_pool = [m for m in custs if m != roles.get("X")] or custs
        if forced == "revoke":
            conv.force_recall = True
        _name, _w, beats = self._scenario(kind)
        if forced in ("vote", "collect") and kind == "cgroup":
            beats = (*beats, _Beat("O", "@" + forced, ""))
            forced = None
        conv.play(beats, forced if forced not in ("revoke", "text") else None)
        self.available[group.roomid] = conv.t + 30_000
        return conv.events

    def _robot(self, t: int, forced: str | None) -> list[SimEvent] | None:
        rng = self.rng
        groups = self.igroups or self.cgroups
        if not groups or not self.co.robots:
            return None
        group = rng.choice(groups)
        robot = rng.choice(self.co.robots)
        staff = [m for m in group.members if m in self.dept_of] or self.staff_ids
        conv = _Conv(
            self, "igroup", t, group.roomid, group.members, self._ctx(robot=robot.name), {"O": rng.choice(staff)}
        )
        conv.staff_pool = staff
        mtype = forced if forced in ("markdown", "news") else ("markdown" if rng.random() < 0.6 else "news")
        conv.send(robot.robot_id, mtype, recall_ok=False)
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            member = rng.choice(staff)
            if rng.random() < 0.3:
                conv.send(member, "emotion")
            else:
                conv.text(member, rng.choice(("i_reply", "ig_thanks")))
        return conv.events

    def _switch(self, t: int) -> list[SimEvent]:
        user = self.rng.choice(self.archived)
        msgid = f"1{self.next_id_number()}"
        plaintext: dict[str, object] = {"msgid": msgid, "action": "switch", "time": t, "user": user}
        return [GeneratedMessage(msgid, t, plaintext, (), frozenset({"type:switch"}))]

    # --- bodies ---

    def _image(self, conv: _Conv, sender: str, t: int) -> _Built:
        blob = self.blob(self.media.jpeg(self.rng, f"{self._nonce:x}-{self._blobs + 1}"), t)
        return {"image": {"md5sum": blob.md5, "filesize": len(blob.data), "sdkfileid": blob.sdkfileid}}, [blob], set()

    def _voice_body(self, t: int) -> tuple[dict[str, object], MediaBlob]:
        seconds = min(60.0, max(1.0, self.rng.lognormvariate(1.8, 0.7)))
        data, play_length = self.media.amr(self.rng, seconds)
        blob = self.blob(data, t)
        return {
            "md5sum": blob.md5,
            "voice_size": len(data),
            "play_length": play_length,
            "sdkfileid": blob.sdkfileid,
        }, blob

    def _voice(self, conv: _Conv, sender: str, t: int) -> _Built:
        body, blob = self._voice_body(t)
        return {"voice": body}, [blob], set()

    def _video(self, conv: _Conv, sender: str, t: int) -> _Built:
        blob = self.blob(self.media.mp4(self.rng, self.rng.randrange(30_000, 250_000)), t)
        body = {
            "md5sum": blob.md5,
            "filesize": len(blob.data),
            "play_length": self.rng.randint(3, 60),
            "sdkfileid": blob.sdkfileid,
        }
        return {"video": body}, [blob], set()

    def _file_body(self, conv: _Conv, t: int, *, allow_large: bool = True) -> tuple[dict[str, object], MediaBlob]:
        rng = self.rng
        large = False
        if allow_large:
            self._large_in -= 1
            if self._large_in <= 0:
                large = True
                self._large_in = rng.randint(120, 280)
        stem, ext = rng.choice(phrases.LARGE_FILE_NAMES if large else phrases.FILE_NAMES)
        name = self.fill(stem, conv.ctx) + "." + ext
        if large:
            size = rng.randrange(int(1.2 * 2**20), int(2.5 * 2**20))
        else:
            size = int(min(50_000, max(1_000, rng.lognormvariate(9.4, 0.8))))
        blob = self.blob(self.media.document(rng, ext, size, name), t)
        return {
            "md5sum": blob.md5,
            "filename": name,
            "fileext": ext,
            "filesize": len(blob.data),
            "sdkfileid": blob.sdkfileid,
        }, blob

    def _file(self, conv: _Conv, sender: str, t: int) -> _Built:
        body, blob = self._file_body(conv, t)
        labels = {"file-to-external"} if conv.has_external and sender in self.dept_of else set()
        return {"file": body}, [blob], labels

    def _link_body(self, conv: _Conv) -> dict[str, object]:
        rng = self.rng
        if rng.random() < 0.6:
            url = "https://mp.weixin.qq.com/s/" + self.token(22)
        else:
            url = f"https://www.{self.domain}/article/{rng.randrange(10_000, 99_999)}.html"
        return {
            "title": self.fill(rng.choice(phrases.LINK_TITLES), conv.ctx),
            "description": self.fill(rng.choice(phrases.LINK_DESCS), conv.ctx),
            "link_url": url,
            "image_url": f"https://mmbiz.qpic.cn/mmbiz_jpg/{self.token(40)}/0?wx_fmt=jpeg",
        }

    def _link(self, conv: _Conv, sender: str, t: int) -> _Built:
        return {"link": self._link_body(conv)}, [], set()

    def _card(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        if sender in self.dept_of:
            if conv.has_external:  # a staff member's personal card handed to customers
                shared = sender if rng.random() < 0.6 else rng.choice(self.staff_ids)
                return {"card": {"corpname": self.co.name, "userid": shared}}, [], {"card-to-customer"}
            if rng.random() < 0.5:
                shared = rng.choice(self.staff_ids)
                return {"card": {"corpname": self.co.name, "userid": shared}}, [], set()
        other = self.co.customer(rng.choice(self.customer_ids))
        return {"card": {"corpname": other.corp_name or "", "userid": other.external_userid}}, [], set()

    def _location_body(self) -> dict[str, object]:
        rng = self.rng
        lon, lat, address, title = rng.choice(phrases.LOCATIONS)
        return {
            "longitude": round(lon + rng.uniform(-0.002, 0.002), 6),
            "latitude": round(lat + rng.uniform(-0.002, 0.002), 6),
            "address": address,
            "title": title,
            "zoom": rng.randint(15, 17),
        }

    def _location(self, conv: _Conv, sender: str, t: int) -> _Built:
        return {"location": self._location_body()}, [], set()

    def _emotion_body(self, t: int) -> tuple[dict[str, object], MediaBlob]:
        etype, width, height, data = self.rng.choice(self.media.stickers)
        blob = self.blob(data, t)
        return {
            "type": etype,
            "width": width,
            "height": height,
            "imagesize": len(data),
            "md5sum": blob.md5,
            "sdkfileid": blob.sdkfileid,
        }, blob

    def _emotion(self, conv: _Conv, sender: str, t: int) -> _Built:
        body, blob = self._emotion_body(t)
        return {"emotion": body}, [blob], set()

    def _weapp(self, conv: _Conv, sender: str, t: int) -> _Built:
        display, username, title, desc = self.rng.choice(phrases.WEAPPS)
        body = {
            "title": self.fill(title, conv.ctx),
            "description": desc,
            "username": username,
            "displayname": self.fill(display, conv.ctx),
        }
        return {"weapp": body}, [], set()

    def _chatrecord(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        from_room = rng.random() < 0.3
        cust = rng.choice(self.customer_ids)
        title = "群聊" if from_room else f"{self.names.get(sender, '我')}和{self.ccall[cust]}的聊天记录"
        ctx = self._ctx(ecall=self.ecall.get(sender, "经理"), ccall=self.ccall[cust], ename=self.names.get(sender, ""))
        items: list[dict[str, object]] = []
        blobs: list[MediaBlob] = []
        labels: set[str] = set()
        ts = t // 1000 - rng.randrange(600, 3 * 86_400)
        kinds = (
            "ChatRecordText",
            "ChatRecordImage",
            "ChatRecordFile",
            "ChatRecordVoice",
            "ChatRecordLink",
            "ChatRecordEmotion",
            "ChatRecordLocation",
        )
        for i in range(rng.randint(2, 6)):
            item_type = "ChatRecordText" if i == 0 else rng.choices(kinds, weights=(55, 14, 8, 8, 6, 6, 3))[0]
            content: dict[str, object]
            if item_type == "ChatRecordText":
                cat = rng.choice(
                    ("c_ask_product", "e_product", "c_followup", "e_answer", "c_service", "e_service_answer")
                )
                if rng.random() < 0.12:
                    cat = rng.choice(("c_pii", "e_guaranteed", "c_complain", "e_off_platform"))
                text, text_labels = self.text.make(cat, ctx)
                labels |= text_labels
                content = {"content": text}
            elif item_type == "ChatRecordImage":
                fields, media, _l = self._image(conv, sender, t)
                content, blobs = dict(_body(fields, "image")), blobs + media
            elif item_type == "ChatRecordFile":
                content, blob = self._file_body(conv, t, allow_large=False)
                blobs.append(blob)
            elif item_type == "ChatRecordVoice":
                content, blob = self._voice_body(t)
                blobs.append(blob)
            elif item_type == "ChatRecordEmotion":
                content, blob = self._emotion_body(t)
                blobs.append(blob)
            elif item_type == "ChatRecordLink":
                content = self._link_body(conv)
            else:
                content = self._location_body()
            items.append({"type": item_type, "msgtime": ts, "content": _js(content), "from_chatroom": from_room})
            ts += rng.randrange(5, 400)
        return {"chatrecord": {"title": title, "item": items}}, blobs, labels

    def _mixed(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        if sender not in self.dept_of:
            cat = rng.choice(("c_followup", "c_service", "c_ask_product", "g_c_chat"))
        elif conv.has_external:
            cat = rng.choice(("e_product", "e_service_answer", "e_share_intro"))
        else:
            cat = rng.choice(("i_task", "i_report", "i_detail"))
        text, labels = self.text.make(cat, conv.ctx)
        items: list[dict[str, object]] = [
            {"type": "text", "content": _js({"content": text + rng.choice(("", "\n", "[微笑]\n"))})}
        ]
        blobs: list[MediaBlob] = []
        for _ in range(rng.randint(1, 3)):
            fields, media, _l = self._image(conv, sender, t)
            items.append({"type": "image", "content": _js(_body(fields, "image"))})
            blobs += media
        if rng.random() < 0.2:
            body, blob = self._emotion_body(t)
            items.append({"type": "emotion", "content": _js(body)})
            blobs.append(blob)
        return {"mixed": {"item": items}}, blobs, set(labels)

    def _redpacket(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        group = bool(conv.roomid)
        kind = rng.choice((2, 2, 1)) if group else rng.choice((1, 1, 1, 3))
        count = rng.randint(3, min(20, max(3, len(conv.members)))) if kind == 2 else 1
        amount = rng.choice((88, 166, 200, 520, 666, 888, 1000, 1888, 2000, 5000, 6666, 8888, 20000))
        wish = rng.choice(("恭喜发财，大吉大利", "节日快乐", "辛苦了", "一点心意", "谢谢支持", "开工大吉"))
        return (
            {"redpacket": {"type": kind, "wish": wish, "totalcnt": count, "totalamount": amount * count}},
            [],
            {"redpacket"},
        )

    def _agree(self, conv: _Conv, sender: str, t: int) -> _Built:
        key = "agree" if conv.pending_type == "agree" else "disagree"
        return {key: {"userid": sender, key + "_time": t}}, [], set()

    def _docmsg(self, conv: _Conv, sender: str, t: int) -> _Built:
        kind = self.rng.choice(("doc", "sheet", "slide"))
        url = f"https://doc.weixin.qq.com/{kind}/e3_{self.token(28)}?scode={self.token(20)}"
        body = {
            "title": self.fill(self.rng.choice(phrases.DOC_TITLES), conv.ctx),
            "doc_creator": sender,
            "link_url": url,
        }
        return {"doc": body}, [], set()

    def _future(self, t: int) -> tuple[int, int]:
        start = (t // 1000 + self.rng.randrange(3600, 5 * 86_400)) // 1800 * 1800
        return start, start + self.rng.choice((1800, 3600, 5400, 7200))

    def _meeting(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        start, end = self._future(t)
        body: dict[str, object] = {
            "topic": self.fill(rng.choice(phrases.MEETING_TOPICS), conv.ctx),
            "starttime": start,
            "endtime": end,
            "address": rng.choice(phrases.ROOMS),
            "remarks": rng.choice(("请准时参加", "带上电脑", "", "会议资料稍后发群里")),
            "meetingtype": 101,
            "meetingid": rng.randrange(10**18, 2**64),
        }
        conv.last_meeting = body
        return {"meeting": body}, [], set()

    def _todo(self, conv: _Conv, sender: str, t: int) -> _Built:
        title, content = self.rng.choice(phrases.TODO_TITLES)
        return {"todo": {"title": self.fill(title, conv.ctx), "content": self.fill(content, conv.ctx)}}, [], set()

    def _vote(self, conv: _Conv, sender: str, t: int) -> _Built:
        title, options = self.rng.choice(phrases.VOTE_TOPICS)
        fields: _Fields = {"votetitle": title, "voteitem": list(options), "votetype": 101, "voteid": self.token(24)}
        conv.last_vote = fields
        return fields, [], set()

    def _collect(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        title, questions = rng.choice(phrases.COLLECT_TOPICS)
        details = [
            {"id": rng.getrandbits(64) if rng.random() < 0.3 else rng.getrandbits(32), "ques": q, "type": qt}
            for q, qt in questions
        ]
        created = datetime.fromtimestamp(t / 1000, tz=_SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        body = {
            "room_name": conv.group_name,
            "creator": self.names.get(sender, sender),
            "create_time": created,
            "title": self.fill(title, conv.ctx),
            "details": details,
        }
        return {"collect": body}, [], set()

    def _calendar(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        start, end = self._future(t)
        others = [self.names[m] for m in conv.members if m != sender and m in self.names]
        attendees = rng.sample(others, min(len(others), rng.randint(1, 4)))
        body = {
            "title": self.fill(rng.choice(phrases.CALENDAR_TITLES), conv.ctx),
            "creatorname": self.names.get(sender, sender),
            "attendeename": attendees,
            "starttime": start,
            "endtime": end,
            "place": rng.choice(phrases.ROOMS + phrases.BRANCHES),
            "remarks": rng.choice(("", "请提前准备材料", "客户比较重要")),
        }
        return {"calendar": body}, [], set()

    def _markdown(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        local = datetime.fromtimestamp(t / 1000, tz=_SHANGHAI)
        robot = conv.ctx.get("robot", "")
        if robot == "系统监控告警":
            service = rng.choice(("会话存档同步", "CRM", "交易网关", "短信平台"))
            content = (
                f'### <font color="warning">系统告警</font>\n> 服务：{service}\n> 级别：P{rng.randint(1, 4)}\n'
                f"> 时间：{local:%H:%M}\n请值班同学尽快处理"
            )
        elif robot == "合规提醒小助手":
            content = (
                f'**合规提醒**\n> 今日新增待复核会话 <font color="comment">{rng.randint(1, 40)}</font> 条\n'
                f"> 请相关同事在{local.month}月{local.day}日前完成复核"
            )
        elif robot == "行情早报助手":
            content = (
                f'## 早盘速递 {local:%m-%d}\n> 上证指数：<font color="info">{rng.uniform(2900, 3500):.2f}</font>\n'
                f'> 深证成指：<font color="info">{rng.uniform(9000, 11500):.2f}</font>\n'
                f"[查看详情](https://www.{self.domain}/market/{local:%Y%m%d}.html)"
            )
        else:
            groups = rng.sample(self.dept_names, min(3, len(self.dept_names)))
            lines = "\n".join(f'> {g}：<font color="info">{rng.randint(20, 900)}万</font>' for g in groups)
            content = f"**{local.month}月{local.day}日 业绩播报**\n{lines}\n本月累计完成率：**{rng.randint(20, 130)}%**"
        return {"info": {"content": content}}, [], set()

    def _news(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        day = datetime.fromtimestamp(t / 1000, tz=UTC).strftime("%Y%m%d")
        items = [
            {
                "title": self.fill(rng.choice(phrases.NEWS_TITLES), conv.ctx),
                "description": self.fill(rng.choice(phrases.LINK_DESCS), conv.ctx),
                "url": f"https://www.{self.domain}/news/{day}/{self.token(10)}.html",
                "picurl": f"https://static.{self.domain}/img/{self.token(16)}.jpg",
            }
            for _ in range(rng.randint(1, 3))
        ]
        return {"info": {"item": items}}, [], set()

    def _meeting_voice_call(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        seconds = rng.randint(20, 180)
        data, _pl = self.media.amr(rng, seconds)
        blob = self.blob(data, t)
        start = t // 1000
        others = [m for m in conv.members if m != sender] or [sender]
        demo = [
            {
                "filename": f"{rng.getrandbits(128):032x}.{rng.choice(('docx', 'pptx', 'pdf'))}",
                "demooperator": rng.choice((sender, *others)),
                "starttime": start + 5,
                "endtime": start + seconds // 2,
            }
        ]
        share = [{"share": sender, "starttime": start + seconds // 2, "endtime": start + seconds - 5}]
        body = {
            "endtime": start + seconds,
            "sdkfileid": blob.sdkfileid,
            "demofiledata": demo if rng.random() < 0.6 else [],
            "sharescreendata": share if rng.random() < 0.5 else [],
        }
        return {"voiceid": f"gr{rng.getrandbits(128):032x}", "meeting_voice_call": body}, [blob], set()

    def _voip_doc_share(self, conv: _Conv, sender: str, t: int) -> _Built:
        body, blob = self._file_body(conv, t, allow_large=False)
        share = {
            "filename": body["filename"],
            "md5sum": blob.md5,
            "filesize": len(blob.data),
            "sdkfileid": blob.sdkfileid,
        }
        return {"voipid": f"gr{self.rng.getrandbits(128):032x}", "voip_doc_share": share}, [blob], set()

    def _sphfeed(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        body = {
            "feed_type": rng.choice((2, 4, 4, 9)),
            "sph_name": self.fill(rng.choice(phrases.SPH_NAMES), conv.ctx),
            "feed_desc": rng.choice(phrases.SPH_DESCS),
        }
        return {"sphfeed": body}, [], set()

    def _voiptext(self, conv: _Conv, sender: str, t: int) -> _Built:
        rng = self.rng
        invite = rng.choice((3, 4)) if conv.roomid else rng.choice((1, 2, 2))
        return {"info": {"callduration": int(rng.lognormvariate(5.0, 0.9)), "invitetype": invite}}, [], set()


def _time(event: SimEvent) -> int:
    return event.msgtime_ms if isinstance(event, GeneratedMessage) else event.time_ms


def _body(fields: _Fields, key: str) -> dict[str, object]:
    body = fields[key]
    assert isinstance(body, dict)
    return body


# --- one conversation being scripted -----------------------------------------------------------


class _Conv:
    def __init__(
        self,
        run: _Run,
        kind: str,
        t: int,
        roomid: str,
        members: tuple[str, ...],
        ctx: dict[str, str],
        roles: dict[str, str],
    ) -> None:
        self.run = run
        self.kind = kind
        self.t = t
        self.roomid = roomid
        self.members = members
        self.ctx = ctx
        self.roles = roles
        self.events: list[SimEvent] = []
        self.msgs = 0
        self.last_sender: str | None = None
        self.has_external = any(m not in run.dept_of for m in members)
        self.force_recall = False
        self.pending_type = ""
        self.group_name = ""
        self.staff_pool: list[str] = []
        self.cust_pool: list[str] = []
        self.last_meeting: dict[str, object] | None = None
        self.last_vote: _Fields | None = None
        self.said: set[str] = set()

    def _who(self, role: str) -> str:
        if role in ("M", "B") and self.staff_pool:
            return self.run.rng.choice(self.staff_pool)
        if role == "Z" and self.cust_pool:
            return self.run.rng.choice(self.cust_pool)
        return self.roles.get(role) or self.roles.get("X") or self.roles["O"]

    def _tick(self, sender: str) -> int:
        if self.last_sender is not None:
            rng = self.run.rng
            if sender == self.last_sender:
                gap = 1500 + int(rng.expovariate(1 / 9000))
            else:
                gap = int(rng.lognormvariate(10.4, 1.0))
            self.t += min(gap, 20 * 60_000) + 1
        self.last_sender = sender
        return self.t

    def play(self, beats: tuple[_Beat, ...], forced: str | None) -> None:
        rng = self.run.rng
        plan = list(beats)
        if forced is not None:
            role = _FORCE[forced][1]
            if role not in self.roles and role not in ("M", "B", "Z"):
                role = "O" if "O" in self.roles else next(iter(self.roles))
            plan.insert(rng.randint(0, min(len(plan), 3)), _Beat(role, "@" + forced, ""))
        for beat in plan:
            reps = 1 if beat.mode == "" else (rng.random() < 0.5) if beat.mode == "?" else rng.randint(0, 2)
            if beat.mode and self.msgs >= 11:
                reps = 0
            for _ in range(int(reps)):
                sender = self._who(beat.role)
                if beat.item.startswith("@"):
                    self.send(sender, beat.item[1:])
                else:
                    self.text(sender, self._maybe_risky(beat.item, sender))
                staff = sender in self.run.dept_of
                p = _EXTRA_P.get(self.kind, 0.0)
                extras = _EXTRA_TYPES.get((self.kind, staff))
                if extras and self.msgs < 10 and rng.random() < p:
                    self.send(sender, _pick(rng, extras))

    def _maybe_risky(self, cat: str, sender: str) -> str:
        rng = self.run.rng
        staff = sender in self.run.dept_of
        if cat in _RISK_SWAP:
            return _pick(rng, _RISK_SWAP[cat])
        if rng.random() < _RISK_P.get((self.kind, staff), 0.0):
            table = {
                "ext": "risk_e" if staff else "risk_c",
                "int": "risk_i",
                "igroup": "risk_i",
                "cgroup": "risk_e" if staff else "risk_gc",
            }[self.kind]
            return _pick(rng, _RISK_SWAP[table])
        return cat

    def text(self, sender: str, cat: str, *, recall_ok: bool = True) -> None:
        for _ in range(3):  # people rarely repeat themselves word for word within one exchange
            text, labels = self.run.text.make(cat, self.ctx)
            if text not in self.said:
                break
        self.said.add(text)
        if self.roomid and self.run.rng.random() < 0.1:
            other = self.run.rng.choice([m for m in self.members if m != sender] or [sender])
            text = f"@{self.run.names.get(other, '所有人')} {text}"
        self._emit(sender, "text", {"text": {"content": text}}, [], set(labels), recall_ok=recall_ok)

    def send(self, sender: str, msgtype: str, *, recall_ok: bool = True) -> None:
        if msgtype == "text":
            self.text(sender, "e_answer" if sender in self.run.dept_of else "c_ack", recall_ok=recall_ok)
            return
        if msgtype == "revoke":
            self.force_recall = True
            self.text(sender, "e_answer" if sender in self.run.dept_of else "c_followup")
            return
        if msgtype in ("agree", "disagree") and sender in self.run.dept_of:
            sender = next((m for m in self.members if m not in self.run.dept_of), sender)
        self.pending_type = msgtype
        t = self._tick(sender)
        fields, media, labels = self.run.builders[msgtype](self, sender, t)
        self._emit(sender, msgtype, fields, media, labels, recall_ok=recall_ok, t=t)
        rng = self.run.rng
        if msgtype == "vote" and self.last_vote is not None:
            voters = [m for m in self.members if m != sender]
            options = self.last_vote["voteitem"]
            assert isinstance(options, list)
            for voter in rng.sample(voters, min(len(voters), rng.randint(1, 4), max(0, 14 - self.msgs))):
                cast = dict(self.last_vote, votetype=102, voteitem=[rng.choice(options)])
                self._emit(voter, "vote", cast, [], set(), recall_ok=False)
        elif msgtype == "meeting" and self.last_meeting is not None and not self.roomid and rng.random() < 0.5:
            reply = dict(self.last_meeting, meetingtype=102, status=rng.choice((1, 1, 1, 2, 3)))
            other = next(m for m in self.members if m != sender)
            self._emit(other, "meeting", {"meeting": reply}, [], set(), recall_ok=False)

    def _emit(
        self,
        sender: str,
        msgtype: str,
        fields: _Fields,
        media: list[MediaBlob],
        labels: set[str],
        *,
        recall_ok: bool,
        t: int | None = None,
        action: str = "send",
    ) -> str:
        run = self.run
        if t is None:
            t = self._tick(sender)
        msgid = run.msgid(t)
        tolist = [m for m in self.members if m != sender]
        plaintext: dict[str, object]
        if msgtype in ("meeting_voice_call", "voip_doc_share"):
            plaintext = {
                "msgid": msgid,
                "action": action,
                "from": sender,
                "tolist": tolist,
                "msgtime": t,
                "msgtype": msgtype,
            }
        else:
            plaintext = {
                "msgid": msgid,
                "action": action,
                "from": sender,
                "tolist": tolist,
                "roomid": self.roomid,
                "msgtime": t,
                "msgtype": msgtype,
            }
        plaintext.update(fields)
        labels.add("type:" + msgtype)
        if not is_working_time(t):
            labels.add("after-hours")
        recalled = False
        if recall_ok and msgtype in _RECALLABLE and self.msgs < 12:
            risky = any(label.startswith(_RISKY_PREFIXES) for label in labels)
            recalled = self.force_recall or run.rng.random() < (0.12 if risky else 0.01)
        if recalled:
            labels.add("recalled")
            self.force_recall = False
        self.events.append(GeneratedMessage(msgid, t, plaintext, tuple(media), frozenset(labels)))
        self.msgs += 1
        if recalled:
            self.t = t + run.rng.randrange(3_000, 100_000)
            revoke_labels = {"recall", "type:revoke"}
            if not is_working_time(self.t):
                revoke_labels.add("after-hours")
            revoke_id = run.msgid(self.t)
            revoke: dict[str, object] = {
                "msgid": revoke_id,
                "action": "recall",
                "from": sender,
                "tolist": tolist,
                "roomid": self.roomid,
                "msgtime": self.t,
                "msgtype": "revoke",
                "revoke": {"pre_msgid": msgid},
            }
            self.events.append(GeneratedMessage(revoke_id, self.t, revoke, (), frozenset(revoke_labels)))
            self.msgs += 1
            self.last_sender = sender
            if run.rng.random() < 0.4:
                self.text(sender, "e_recall_fix", recall_ok=False)
        return msgid
