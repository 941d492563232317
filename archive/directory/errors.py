"""The directory package's errors."""

from __future__ import annotations

from archive.errors import ArchiveError


class DirectoryError(ArchiveError):
    code = "directory"


class DirectorySyncBusy(DirectoryError):
    """Another process is syncing this corp's directory (it holds the corp's sync lease)."""

    code = "directory_sync_busy"
    retryable = True


class DirectoryConfigError(DirectoryError):
    """A secret the directory sync needs is not configured."""

    code = "directory_config"
