"""The detection engine: one compiled rule set plus the pattern and behaviour detectors.

``compile_engine(rules, settings)`` builds an engine from any ``RuleSet`` (from the database,
a file, or a draft in memory for rule simulation); ``EngineCache`` keeps the database's
compiled engine and recompiles only when the rule tables changed (a cheap fingerprint
query per call, no restart). ``scan`` is batch-first: it folds and compacts the whole
batch in a few C-speed passes, finds the messages that have any candidate at all, and builds
the offset-keeping per-message views only for those.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path

from sqlalchemy.orm import Session

from audit.detect.behaviours import BehaviourDetector, WorkingHours
from audit.detect.context import ChatKind, MessageContext
from audit.detect.hits import Hit
from audit.detect.lexicon import LexiconDetector
from audit.detect.patterns import PatternDetector
from audit.detect.rules import repository as rules_repository
from audit.detect.rules.spec import RuleSet
from audit.detect.rules.starter import load_variants
from audit.text.normalise import BATCH_DELIMITER, Normaliser
from config.settings import DetectionSettings

__all__ = [
    "ChatKind",
    "DetectionEngine",
    "EngineCache",
    "MessageContext",
    "build_contexts",
    "compile_engine",
    "load_rules",
]


class DetectionEngine:
    """Scans batches of messages; ``ruleset_version`` identifies the rules it was compiled
    from (stored with every hit so a re-scan replaces exactly its own results)."""

    def __init__(self, rules: RuleSet, settings: DetectionSettings, normaliser: Normaliser) -> None:
        self.ruleset_version = rules.version
        self.rules = rules
        self.normaliser = normaliser
        self.lexicon = LexiconDetector(rules, normaliser, pinyin=settings.pinyin_matching)
        self.patterns = PatternDetector(normaliser, settings.url_allow_domains)
        self.behaviours = BehaviourDetector(
            WorkingHours.parse(
                settings.timezone, settings.working_hours_start, settings.working_hours_end, settings.working_days
            ),
            settings.red_packet_threshold_yuan,
        )

    def scan(self, messages: Sequence[MessageContext]) -> list[list[Hit]]:
        """One list of hits per message, in order: text hits first, then behaviours."""
        results = self._scan_text(messages)
        detect = self.behaviours.detect
        for hits, message in zip(results, messages, strict=True):
            found = detect(message)
            if found:
                hits.extend(found)
        return results

    def scan_texts(self, texts: Sequence[str], template: MessageContext) -> list[list[Hit]]:
        """Text hits of bare texts judged as ``template``'s (sender, chat kind, scope): for
        ``wecom-audit detect``; behaviours need a real message and are left out."""
        return self._scan_text([replace(template, text=text) for text in texts])

    def _scan_text(self, messages: Sequence[MessageContext]) -> list[list[Hit]]:
        results: list[list[Hit]] = [[] for _ in messages]
        texts = [message.text or "" for message in messages]
        lexicon_candidates, pattern_candidates, contact_candidates = self._candidates(texts)
        for index in sorted(lexicon_candidates | pattern_candidates | contact_candidates):
            views = self.normaliser.views(texts[index])
            message = messages[index]
            hits = results[index]
            if index in lexicon_candidates:
                hits.extend(self.lexicon.detect(message, views))
            if index in pattern_candidates:
                hits.extend(self.patterns.detect(message, views))
            if index in contact_candidates:
                hits.extend(self.patterns.detect_contact_ids(message, views))
        return results

    def _candidates(self, texts: list[str]) -> tuple[set[int], set[int], set[int]]:
        """Indexes of the texts in which a lexicon term, a number/e-mail/URL pattern and a
        WeChat/QQ id could match (supersets: the per-message pass decides)."""
        if not any(texts):
            return set(), set(), set()
        folded = self.normaliser.fast_fold_batch(texts)
        compact = self.normaliser.compact_plain(folded)
        lexicon: set[int] = set()
        patterns: set[int] = set()
        positions = self.lexicon.candidate_positions(compact, BATCH_DELIMITER)
        if positions:
            lexicon |= _owners(compact, positions)
        if self.lexicon.needs_every_text:
            lexicon |= {index for index, text in enumerate(texts) if text}
        starts = [m.start() for m in self.normaliser.digit_run_re.finditer(self.normaliser.bmp_separators(folded))]
        starts += [m.start() for m in _TEXT_CANDIDATE_RE.finditer(folded)]
        if starts:
            patterns |= _owners(folded, starts)
        contacts: set[int] = set()
        compact_starts = [m.start() for m in _COMPACT_CANDIDATE_RE.finditer(compact)]
        if compact_starts:
            contacts = _owners(compact, compact_starts)
        return lexicon, patterns, contacts


_TEXT_CANDIDATE_RE = re.compile(r"[a-z0-9._%+-]@[a-z0-9]|https?://|www\.|[a-z0-9]\.[a-z]{2,}")
_COMPACT_CANDIDATE_RE = re.compile(r"微信|wechat|qq")


def _owners(batch: str, positions: list[int]) -> set[int]:
    """Which texts of a delimiter-joined batch the positions fall into (delimiters counted
    in C between consecutive positions: no per-text Python work)."""
    owners: set[int] = set()
    index = last = 0
    for position in sorted(positions):
        index += batch.count(BATCH_DELIMITER, last, position)
        last = position
        owners.add(index)
    return owners


@cache
def _normaliser(data_dir: Path | None) -> Normaliser:
    return Normaliser(load_variants(data_dir))


def compile_engine(rules: RuleSet, settings: DetectionSettings) -> DetectionEngine:
    """An engine for ``rules`` (also for simulating a draft rule set; nothing is stored)."""
    return DetectionEngine(rules, settings, _normaliser(settings.lexicon_data_dir))


def load_rules(session: Session, corp_id: str | None = None) -> RuleSet:
    """The enabled lexicon groups in the database (global ones plus ``corp_id``'s)."""
    return rules_repository.load_rule_set(session, corp_id)


class EngineCache:
    """The database rules' engine, recompiled only when the rule tables changed.

    ``get`` runs one aggregate query (row counts, newest change) per call; thread-safe."""

    def __init__(self, settings: DetectionSettings, corp_id: str | None = None) -> None:
        self._settings = settings
        self._corp_id = corp_id
        self._lock = threading.Lock()
        self._fingerprint: tuple[object, ...] | None = None
        self._engine: DetectionEngine | None = None

    def get(self, session: Session) -> DetectionEngine:
        fingerprint = rules_repository.fingerprint(session)
        with self._lock:
            if self._engine is None or fingerprint != self._fingerprint:
                rules = load_rules(session, self._corp_id)
                if self._engine is None or rules.version != self._engine.ruleset_version:
                    self._engine = compile_engine(rules, self._settings)
                self._fingerprint = fingerprint
            return self._engine


def build_contexts(session: Session, message_ids: Sequence[int]) -> list[MessageContext]:
    """Contexts of stored messages (in the order of ``message_ids``) from the archive tables
    and the directory; ids that do not exist are left out."""
    from audit.detect.contexts_repository import contexts_for

    return contexts_for(session, message_ids)
