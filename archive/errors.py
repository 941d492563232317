"""The archive package's errors. Domain errors know nothing about HTTP or the CLI."""

from __future__ import annotations


class ArchiveError(Exception):
    """Base of every archive error. ``hint`` tells the operator what to do next."""

    retryable: bool = False
    code: str = "archive_error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} — {self.hint}" if self.hint else message


class PrivateKeyError(ArchiveError):
    """A private key could not be read, is not RSA, or does not fit its version."""

    code = "key_error"


class LeaseLostError(ArchiveError):
    """Another process took over this corp's puller lease: stop writing at once."""

    code = "lease_lost"


class StorageError(ArchiveError):
    """The database refused a batch (disk full, connection lost …). The batch was rolled
    back whole and its cursor not advanced: the next run stores it."""

    code = "storage"
    retryable = True
