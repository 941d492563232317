"""Sentiment (positive / negative / neutral) and complaint / threat intent of chat messages.

One spaCy pipeline — blank ``zh`` with the jieba segmenter, and two text classifiers
(``sentiment``: three exclusive classes, ``intent``: complaint / threat / none) — trained offline
by `wecom-audit nlp train` into a versioned directory (see ``audit.nlp.training`` and ADR 0011).
Inference goes through ``nlp.pipe`` in batches; never one call per message.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from audit.nlp import features as _features  # noqa: F401 - registers the model architecture for spacy.load
from audit.nlp.errors import ModelMissingError
from audit.nlp.rules import rule_intent

if TYPE_CHECKING:
    from spacy.language import Language

    from audit.nlp.training import TrainReport

__all__ = [
    "ModelMissingError",
    "SentimentModel",
    "SentimentResult",
    "default_model_dir",
    "ensure_model",
    "load_model",
    "measure_throughput",
    "model_versions",
    "train_model",
]

META_FILE = "meta.json"
SENTIMENT_LABELS = {"positive": "POSITIVE", "negative": "NEGATIVE", "neutral": "NEUTRAL"}
INTENT_LABELS = {"complaint": "COMPLAINT", "threat": "THREAT", None: "NO_INTENT"}
# Fewer letters/digits than this and there is nothing to classify ("好", "👍", "？？").
MIN_TEXT_CHARS = 2
DEFAULT_BATCH_SIZE = 256
DEFAULT_NEGATIVE_THRESHOLD = 0.5

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class SentimentResult:
    label: str  # "positive" | "negative" | "neutral"
    score: float  # probability of negative
    intent: str | None  # "complaint" | "threat" | None
    model_version: str


class SentimentModel:
    """A loaded, versioned pipeline. ``predict`` is safe to call from one thread at a time."""

    def __init__(
        self,
        nlp: Language,
        version: str,
        *,
        negative_threshold: float = DEFAULT_NEGATIVE_THRESHOLD,
        path: Path | None = None,
    ) -> None:
        self.nlp = nlp
        self.version = version
        self.negative_threshold = negative_threshold
        self.path = path  # the version directory it was loaded from

    def predict(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> list[SentimentResult]:
        """One result per text, in order. Texts too short to carry sentiment are neutral unscored."""
        results: list[SentimentResult | None] = [None] * len(texts)
        to_score: list[int] = []
        for index, text in enumerate(texts):
            if _has_content(text):
                to_score.append(index)
            else:
                results[index] = SentimentResult("neutral", 0.0, None, self.version)
        docs = self.nlp.pipe((texts[index] for index in to_score), batch_size=batch_size)
        for index, doc in zip(to_score, docs, strict=True):
            results[index] = self._result(texts[index], doc.cats)
        return [result for result in results if result is not None]

    def _result(self, text: str, cats: dict[str, float]) -> SentimentResult:
        negative = cats["NEGATIVE"]
        if negative >= self.negative_threshold:
            label = "negative"
        else:
            label = "positive" if cats["POSITIVE"] >= cats["NEUTRAL"] else "neutral"
        return SentimentResult(label, round(float(negative), 4), combine_intent(text, label, cats), self.version)


def model_intent(cats: dict[str, float]) -> str | None:
    """The intent the classifier rates highest (None when that is "no intent")."""
    return max(INTENT_LABELS.items(), key=lambda item: cats[item[1]])[0]


def combine_intent(text: str, label: str, cats: dict[str, float]) -> str | None:
    """The classifier's intent, widened by the rules: any threat rule flags a threat (missing one
    costs more than a false alarm); a complaint rule counts only for a negative message, so
    "退款已经到账了，谢谢" stays clear."""
    learned = model_intent(cats)
    ruled = rule_intent(text)
    if learned == "threat" or ruled == "threat":
        return "threat"
    if learned == "complaint" or (ruled == "complaint" and label == "negative"):
        return "complaint"
    return None


def _has_content(text: object) -> bool:
    if not isinstance(text, str):
        return False
    meaningful = 0
    for char in text:
        if unicodedata.category(char)[0] in "LN":
            meaningful += 1
            if meaningful >= MIN_TEXT_CHARS:
                return True
    return False


# --- versions on disk -------------------------------------------------------------------------


def default_model_dir() -> Path:
    """``nlp.model_dir`` from the settings, by default ``<data_dir>/models/sentiment``."""
    from config.settings import load_settings

    return load_settings().sentiment_model_dir


def model_versions(model_dir: Path) -> list[Path]:
    """The complete model versions under ``model_dir``, oldest first (by training time, then name)."""
    if not model_dir.is_dir():
        return []
    versions = []
    for candidate in model_dir.iterdir():
        meta = candidate / META_FILE
        if candidate.is_dir() and not candidate.name.startswith(".") and meta.is_file():  # "." = staging
            data = json.loads(meta.read_text(encoding="utf-8"))
            if "model_version" in data:  # a spaCy pipeline written by our training, complete
                versions.append((data.get("created_at", ""), candidate.name, candidate))
    return [path for _, _, path in sorted(versions)]


def resolve_model_path(path: Path | None) -> Path:
    """A version directory: ``path`` itself if it is one, else the newest version inside it."""
    base = path if path is not None else default_model_dir()
    if (base / META_FILE).is_file() and base in model_versions(base.parent):
        return base
    versions = model_versions(base)
    if not versions:
        raise ModelMissingError(str(base))
    return versions[-1]


def load_model(path: Path | None = None, *, negative_threshold: float | None = None) -> SentimentModel:
    """Load a model version (``path`` = a version directory or a model directory holding versions;
    None = the configured model directory). Raises ``ModelMissingError`` with the fix."""
    import spacy

    _quiet_jieba()
    version_dir = resolve_model_path(path)
    if negative_threshold is None:
        negative_threshold = DEFAULT_NEGATIVE_THRESHOLD if path is not None else _configured_threshold()
    nlp = spacy.load(version_dir)
    return SentimentModel(nlp, version_dir.name, negative_threshold=negative_threshold, path=version_dir)


def _configured_threshold() -> float:
    from config.settings import load_settings

    return load_settings().nlp.negative_threshold


def _quiet_jieba() -> None:
    # jieba prints its dictionary loading to stderr at INFO; keep CLI output clean.
    import jieba  # type: ignore[import-untyped]

    jieba.setLogLevel(logging.WARNING)


def train_model(output_dir: Path, *, seed: int = 0, progress: Progress | None = None) -> TrainReport:
    """Train a new version under ``output_dir`` (see ``audit.nlp.training.train``)."""
    from audit.nlp.training import train

    return train(output_dir, seed=seed, progress=progress)


def ensure_model(model_dir: Path, *, progress: Progress | None = None) -> Path:
    """The newest version under ``model_dir``, training one first if there is none (idempotent)."""
    versions = model_versions(model_dir)
    if versions:
        return versions[-1]
    return train_model(model_dir, progress=progress).model_path


def measure_throughput(model: SentimentModel, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> float:
    """Messages per CPU-second of this process for ``model.predict(texts)`` (≈ per core: the
    pipeline runs on one thread), so the figure does not depend on what else the machine runs."""
    import time

    model.predict(texts[:batch_size], batch_size)  # jieba's dictionary and first-call costs
    started = time.process_time()
    model.predict(texts, batch_size)
    return len(texts) / max(time.process_time() - started, 1e-9)
