"""Errors of the integrity chain. Domain errors: they know nothing about HTTP or the CLI."""

from __future__ import annotations

from archive.errors import ArchiveError


class ChainError(ArchiveError):
    """Base of the integrity chain's errors."""

    code = "chain"


class ChainConflictError(ChainError):
    """Another transaction advanced the corp's chain head first. The caller's transaction
    rolls back whole (messages included), so the batch is simply stored again later."""

    code = "chain_conflict"
    retryable = True


class UnlinkedMessageError(ChainError):
    """A message asked to be disposed of has no chain link: deleting it would erase the
    evidence of tampering, so the disposal is refused."""

    code = "chain_unlinked"


class CheckpointFileError(ChainError):
    """The append-only checkpoint file could not be read or written."""

    code = "checkpoint_file"


class ExportError(ChainError):
    """An export could not be written (target not empty, chain broken, disk)."""

    code = "export"
