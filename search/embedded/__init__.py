"""The embedded search backend: a SQLite file beside the archive, exact for Chinese of any length."""

from search.embedded.backend import EmbeddedBackend

__all__ = ["EmbeddedBackend"]
