"""Opening the configured search backend."""

from __future__ import annotations

from pathlib import Path

from config.settings import SearchSettings
from search.backend import SearchBackend
from search.embedded import EmbeddedBackend


def open_backend(settings: SearchSettings, index_dir: Path) -> SearchBackend:
    """A new backend for ``settings`` (close it when done: an async client belongs to the
    event loop it was first used in)."""
    if settings.backend == "elasticsearch":
        # Imported only when configured: the client library is not needed otherwise.
        from search.elasticsearch.backend import ElasticsearchBackend

        return ElasticsearchBackend(settings)
    return EmbeddedBackend(index_dir)
