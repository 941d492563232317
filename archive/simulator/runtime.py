"""``SimulatedWeCom``: a simulated company on WeCom's side of the edge.

It generates the company's chats (deterministic from the seed), encrypts each one the
way WeCom does (fresh random key, RSA-wrapped with the public key of the current
``publickey_ver``), and keeps them — with media bytes and contact events — in its own
store, from which its HTTP server feeds the fake Finance SDK. Key rotation makes later
messages use a new ``publickey_ver``, as when an admin uploads a new public key.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from archive.simulator.cipher import CorpKeyPair, encrypt_message
from archive.simulator.company import Company, build_company
from archive.simulator.consent import note_consent_message
from archive.simulator.conversations import ContactEvent, ConversationGenerator, GeneratedMessage, SimEvent
from archive.simulator.server import PERMIT_USER_LIST_META_KEY
from archive.simulator.store import SimulatorStore, StoredChat

APPEND_BATCH = 1000
MS_PER_DAY = 86_400_000


@dataclass(frozen=True)
class PopulateReport:
    messages: int
    contact_events: int
    first_seq: int
    last_seq: int
    # Seq numbers skipped on purpose (``seq_gap_every``): they never exist on WeCom's side.
    skipped_seqs: tuple[int, ...] = ()


class SimulatedWeCom:
    def __init__(
        self,
        data_dir: Path,
        *,
        seed: int = 7,
        employees: int = 40,
        customers: int = 240,
        groups: int = 16,
    ) -> None:
        self.data_dir = data_dir
        self.seed = seed
        self.store = SimulatorStore(data_dir / "sim.db")
        self.company: Company = build_company(seed, employees=employees, customers=customers, groups=groups)
        # What the admin copies from 管理工具 → 会话内容存档 (deterministic, so a re-run matches).
        self.archive_secret = hashlib.sha256(f"wecom-archive-secret:{seed}".encode()).hexdigest()[:43]
        self._keys = {pair.version: pair for pair in self.store.key_pairs()}
        if not self._keys:
            self.rotate_key()
        # What msgaudit/get_permit_user_list answers: the members with the archiving licence.
        permitted = [employee.userid for employee in self.company.employees if employee.archived]
        self.store.set_meta(PERMIT_USER_LIST_META_KEY, json.dumps(permitted))
        self._live: Iterator[SimEvent] | None = None
        self._pending: SimEvent | None = None

    @property
    def corp_id(self) -> str:
        return self.company.corp_id

    @property
    def current_key(self) -> CorpKeyPair:
        return self._keys[max(self._keys)]

    def key_pairs(self) -> list[CorpKeyPair]:
        return [self._keys[version] for version in sorted(self._keys)]

    def rotate_key(self) -> CorpKeyPair:
        """Upload a new public key: later messages carry the next ``publickey_ver``."""
        pair = CorpKeyPair.generate(max(self._keys, default=0) + 1)
        self.store.save_key(pair)
        self._keys[pair.version] = pair
        return pair

    # --- generating ---------------------------------------------------------------------

    def populate(
        self,
        count: int,
        *,
        end_ms: int | None = None,
        messages_per_day: int = 3000,
        rotate_after: int | None = None,
        encrypt_with: CorpKeyPair | None = None,
        record: list[GeneratedMessage] | None = None,
        stop_at_end: bool = False,
        seq_gap_every: int | None = None,
    ) -> PopulateReport:
        """Generate ``count`` messages ending about ``end_ms`` (default: now).

        The generator follows office hours, so ``count`` messages may run past ``end_ms``;
        ``stop_at_end`` stops there instead (fewer messages, none in the future).

        ``rotate_after``: rotate to a new key version after that many messages.
        ``encrypt_with``: encrypt with this key pair instead of the current one (tests use
        it to stand for a key the corp never registered). ``record``: the generated messages
        are appended to it (tests compare what was stored with what was sent).
        ``seq_gap_every``: after every that many messages skip one to three seq numbers
        (deterministically), as WeCom's seqs are not always contiguous (spec §9.1).
        """
        end_ms = end_ms if end_ms is not None else int(time.time() * 1000)
        start_ms = end_ms - int(count / messages_per_day * MS_PER_DAY * (2 if stop_at_end else 1))
        generator = ConversationGenerator(
            self.company, seed=self.seed + start_ms, start_ms=start_ms, messages_per_day=messages_per_day
        )
        return self._append(
            generator.events(),
            count,
            rotate_after=rotate_after,
            encrypt_with=encrypt_with,
            record=record,
            seq_gap_every=seq_gap_every,
        )

    def generate_until(self, now_ms: int, *, messages_per_day: int) -> PopulateReport:
        """Append the live stream's messages up to ``now_ms`` (the demo calls this each tick)."""
        if self._live is None:
            # Live traffic starts now: a company that was not simulated for a while was
            # simply quiet, rather than bursting a day of chats into one tick.
            last = self.store.last_msgtime_ms() or 0
            start = last + 1 if now_ms - 1000 < last + 1 <= now_ms else now_ms - 1000
            self._live = ConversationGenerator(
                self.company, seed=self.seed + start, start_ms=start, messages_per_day=messages_per_day
            ).events()
        return self._append(self._live_until(now_ms), None)

    def _live_until(self, now_ms: int) -> Iterator[SimEvent]:
        assert self._live is not None
        while True:
            event = self._pending or next(self._live)
            self._pending = None
            if _event_ms(event) > now_ms:
                self._pending = event
                return
            yield event

    def _append(
        self,
        events: Iterator[SimEvent],
        count: int | None,
        *,
        rotate_after: int | None = None,
        encrypt_with: CorpKeyPair | None = None,
        record: list[GeneratedMessage] | None = None,
        seq_gap_every: int | None = None,
    ) -> PopulateReport:
        seq = self.store.max_seq()
        first_seq = seq + 1
        messages = contact_events = 0
        skipped: list[int] = []
        chats: list[tuple[int, StoredChat]] = []
        media: list[tuple[str, bytes, str, int]] = []
        contacts: list[tuple[int, str, str, str]] = []
        for event in events:
            if isinstance(event, ContactEvent):
                contacts.append((event.time_ms, event.change_type, event.userid, event.external_userid))
                contact_events += 1
                continue
            if rotate_after is not None and messages == rotate_after:
                self._flush(chats, media, contacts)
                self.rotate_key()
            if record is not None:
                record.append(event)
            note_consent_message(self.store, event.plaintext)  # the consent API answers what these imply
            pair = encrypt_with or self.current_key
            plaintext = _encode(event)
            encrypted = encrypt_message(plaintext, pair.private_key.public_key(), pair.version)
            if seq_gap_every and messages and messages % seq_gap_every == 0:
                gap = 1 + (messages // seq_gap_every) % 3
                skipped.extend(range(seq + 1, seq + 1 + gap))
                seq += gap
            seq += 1
            chats.append(
                (
                    seq,
                    StoredChat(
                        seq,
                        event.msgid,
                        encrypted.publickey_ver,
                        encrypted.encrypt_random_key,
                        encrypted.encrypt_chat_msg,
                        event.msgtime_ms,
                    ),
                )
            )
            media.extend((blob.sdkfileid, blob.data, blob.md5, event.msgtime_ms) for blob in event.media)
            messages += 1
            if len(chats) >= APPEND_BATCH:
                self._flush(chats, media, contacts)
            if count is not None and messages >= count:
                break
        self._flush(chats, media, contacts)
        return PopulateReport(messages, contact_events, first_seq, seq, tuple(skipped))

    def inject(self, plaintexts: list[dict[str, object]], *, encrypt_with: CorpKeyPair | None = None) -> PopulateReport:
        """Append hand-written messages (a type WeCom added yesterday, odd bytes …)."""
        events = (
            GeneratedMessage(
                msgid=str(p["msgid"]),
                msgtime_ms=int(p.get("msgtime", p.get("time", 0))),  # type: ignore[call-overload]
                plaintext=p,
                media=(),
                labels=frozenset(),
            )
            for p in plaintexts
        )
        return self._append(events, None, encrypt_with=encrypt_with)

    def _flush(
        self,
        chats: list[tuple[int, StoredChat]],
        media: list[tuple[str, bytes, str, int]],
        contacts: list[tuple[int, str, str, str]],
    ) -> None:
        if chats or media:
            self.store.append(chats, media)
        if contacts:
            self.store.add_contact_events(contacts)
        chats.clear()
        media.clear()
        contacts.clear()

    def close(self) -> None:
        self.store.close()


def _event_ms(event: SimEvent) -> int:
    return event.msgtime_ms if isinstance(event, GeneratedMessage) else event.time_ms


def _encode(message: GeneratedMessage) -> bytes:
    return json.dumps(message.plaintext, ensure_ascii=False, separators=(",", ":")).encode()
