"""Detection benchmark: messages/s per core of the full text + behaviour detection against a bare
Aho-Corasick scan of the same raw text with the same 10,000 terms, plus sentiment messages/s.

    python -m bench.detect [--messages 50000] [--terms 10000] [--batch 2000] [--repeat 5]

Messages come from the simulator's conversation generator (its mix of message types, risky
phrases, evasions, recalls, red packets, cards and files), parsed as the ingest parses them. The lexicon is the
starter lexicons plus generated 3–4 character terms up to ``--terms``. Everything runs in one
process on one core and is timed in CPU seconds (``time.process_time``), so the rates are per
core and hold up on a busy machine. The last line is ``key=value`` pairs
(targets: ``ratio`` ≥ 0.25, ``sentiment_per_s`` ≥ 2000).
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import ahocorasick

from archive.messages import is_external_id, parse_message
from archive.simulator.company import build_company
from archive.simulator.conversations import ConversationGenerator, GeneratedMessage
from audit.detect.context import MessageContext
from audit.detect.contexts_repository import is_staff
from audit.detect.engine import compile_engine
from audit.detect.hits import Severity
from audit.detect.rules.spec import LexiconGroup, RuleSet
from audit.detect.rules.starter import starter_groups
from config.settings import DetectionSettings

START_MS = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1000)


def generate(count: int, seed: int = 7) -> list[MessageContext]:
    """``count`` messages of the simulated company's conversations (its realistic mix of
    types, risky phrases and evasions), parsed as the ingest parses them."""
    generator = ConversationGenerator(build_company(seed), seed=seed, start_ms=START_MS, messages_per_day=20_000)
    messages: list[MessageContext] = []
    events = (event for event in generator.events() if isinstance(event, GeneratedMessage))
    for index, event in enumerate(itertools.islice(events, count)):
        parsed = parse_message(json.dumps(event.plaintext, ensure_ascii=False).encode())
        parties = (parsed.sender, *parsed.tolist)
        external = any(is_external_id(party) for party in parties)
        messages.append(
            MessageContext(
                message_id=index,
                corp_id="ww-bench",
                msgid=parsed.msgid,
                msgtype=parsed.msgtype,
                action=parsed.action,
                text=parsed.text or None,
                body=parsed.body_document(),
                sender=parsed.sender,
                sender_is_staff=is_staff(parsed.sender),
                recipients=parsed.tolist,
                roomid=parsed.roomid or None,
                chat_kind="internal" if not external else ("group" if parsed.roomid else "single"),
                has_external=external,
                msgtime=parsed.msgtime,
                recalls_msgid=parsed.recalls_msgid,
            )
        )
    return messages


def lexicon(terms: int, texts: Sequence[str], seed: int = 11) -> RuleSet:
    """The starter lexicons plus generated 3–4 character terms up to ``terms``, drawn from the
    distinct Han characters of the corpus (real lexicon terms are rare in chat; terms of the
    most frequent characters would match a fifth of all messages)."""
    rng = random.Random(seed)
    groups = starter_groups()
    have = sum(len(group.terms) for group in groups)
    characters = sorted({char for text in texts[:5000] for char in text if "\u4e00" <= char <= "\u9fff"})
    generated: set[str] = set()
    while len(generated) < terms - have:
        generated.add("".join(rng.choice(characters) for _ in range(rng.choice((3, 4)))))
    extra = LexiconGroup("bench", "bench", Severity.LOW, tuple(sorted(generated)))
    return RuleSet((*groups, extra))


def bare_scan(automaton: ahocorasick.Automaton, texts: Sequence[str]) -> int:
    found = 0
    for text in texts:
        for _end, _value in automaton.iter(text):
            found += 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--terms", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="Runs of each batch per side (the best counts).")
    args = parser.parse_args()

    began = time.process_time()
    messages = generate(args.messages)
    texts = [message.text or "" for message in messages]
    rules = lexicon(args.terms, texts)
    terms = [term for group in rules.groups for term in group.terms]
    print(f"generated {len(messages):,} messages and {len(terms):,} terms in {time.process_time() - began:.1f} s")

    automaton = ahocorasick.Automaton()
    for index, term in enumerate(terms):
        automaton.add_word(term, index)
    automaton.make_automaton()
    engine = compile_engine(rules, DetectionSettings())
    engine.scan(messages[:100])  # warm the caches (tables are built at compile time)

    # The two sides are timed batch by batch, back to back, and each batch keeps its best
    # run per side (as timeit does): on a shared machine a burst of load then hits both
    # sides of a batch alike instead of one whole side, so the ratio stays put.
    batches = [(messages[o : o + args.batch], texts[o : o + args.batch]) for o in range(0, len(messages), args.batch)]
    bare_best = [float("inf")] * len(batches)
    full_best = [float("inf")] * len(batches)
    raw_matches = hits = 0
    for _ in range(args.repeat):
        raw_matches = hits = 0
        for index, (batch_messages, batch_texts) in enumerate(batches):
            began = time.process_time()
            raw_matches += bare_scan(automaton, batch_texts)
            bare_best[index] = min(bare_best[index], time.process_time() - began)
            began = time.process_time()
            hits += sum(len(found) for found in engine.scan(batch_messages))
            full_best[index] = min(full_best[index], time.process_time() - began)
    bare_s, full_s = sum(bare_best), sum(full_best)

    bare_rate = len(messages) / bare_s
    full_rate = len(messages) / full_s
    print(f"bare Aho-Corasick over raw text: {bare_rate:,.0f} messages/s ({raw_matches:,} raw matches)")
    print(
        f"normalise + lexicon + patterns + behaviours: {full_rate:,.0f} messages/s ({hits:,} hits), "
        f"ratio {full_rate / bare_rate:.2f}"
    )
    sentiment = _sentiment_rate([text for text in texts if text])
    print(f"sentiment: {sentiment if sentiment == 'na' else f'{float(sentiment):,.0f} messages/s'}")
    pairs = {
        "messages": len(messages),
        "terms": len(terms),
        "detect_per_s": round(full_rate),
        "bare_ac_per_s": round(bare_rate),
        "ratio": f"{full_rate / bare_rate:.3f}",
        "sentiment_per_s": sentiment,
    }
    print(" ".join(f"{key}={value}" for key, value in pairs.items()))


def _sentiment_rate(texts: list[str], chunk: int = 1000) -> str:
    """Messages/s of H4's model (``na`` when it is not installed or not trained)."""
    try:
        module = importlib.import_module("audit.nlp.sentiment")
        model = module.load_model(None)
    except ImportError:
        return "na"
    except Exception as exc:
        if type(exc).__name__ == "ModelMissingError":
            return "na"
        raise
    sample = texts[:20_000]
    model.predict(sample[:100])
    began = time.process_time()
    for offset in range(0, len(sample), chunk):
        model.predict(sample[offset : offset + chunk])
    return f"{len(sample) / (time.process_time() - began):.0f}"


if __name__ == "__main__":
    main()
