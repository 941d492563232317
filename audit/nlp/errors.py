"""Errors of the sentiment/intent package; each says what to do next."""

from __future__ import annotations

from audit.errors import AuditError


class NlpError(AuditError):
    """Base error of ``audit.nlp``; ``hint`` tells the user what to do next (and is part of
    the message, which the CLI prints as it is)."""

    code = "nlp"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(f"{message} — {hint}" if hint else message, hint=hint)


class CorpusError(NlpError):
    """Training data is missing or malformed."""

    code = "corpus"


class ModelMissingError(NlpError, RuntimeError):
    """No trained sentiment model where one was expected."""

    code = "model_missing"

    def __init__(self, path: str) -> None:
        super().__init__(
            f"No sentiment model in {path}",
            hint="run `wecom-audit nlp train` (offline, about a minute) to train one",
        )
        self.path = path
