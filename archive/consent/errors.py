"""Errors of the consent ledger."""

from __future__ import annotations

from archive.errors import ArchiveError


class ConsentError(ArchiveError):
    code = "consent_error"


class InvalidConsentObservation(ConsentError):
    """An observation the ledger cannot store: an empty id, an unknown scope or source."""

    code = "consent_invalid_observation"

    def __init__(self, reason: str) -> None:
        super().__init__(f"consent observation refused: {reason}")
        self.reason = reason
