"""Errors of the sentiment/intent package; each says what to do next."""

from __future__ import annotations


class NlpError(Exception):
    """Base error of ``audit.nlp``; ``hint`` tells the user what to do next."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(f"{message} — {hint}" if hint else message)
        self.hint = hint


class CorpusError(NlpError):
    """Training data is missing or malformed."""


class ModelMissingError(NlpError, RuntimeError):
    """No trained sentiment model where one was expected."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"No sentiment model in {path}",
            hint="run `wecom-audit nlp train` (offline, about a minute) to train one",
        )
        self.path = path
