"""Classification metrics, computed here so the printed figures have one definition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class LabelScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Metrics:
    """Accuracy, macro F1 and per-label scores of one classifier on one held-out set."""

    examples: int
    accuracy: float
    macro_f1: float
    labels: dict[str, LabelScores]

    def f1(self, label: str) -> float:
        return self.labels[label].f1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Metrics:
        labels = {name: LabelScores(**scores) for name, scores in data["labels"].items()}
        return cls(data["examples"], data["accuracy"], data["macro_f1"], labels)


def score(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> Metrics:
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted labels differ in length")
    per_label = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = LabelScores(round(precision, 4), round(recall, 4), round(f1, 4), tp + fn)
    accuracy = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p) / len(gold) if gold else 0.0
    macro = sum(s.f1 for s in per_label.values()) / len(per_label) if per_label else 0.0
    return Metrics(len(gold), round(accuracy, 4), round(macro, 4), per_label)
