"""The scheduler's thin wrapper around the indexer (one run per tick, in its own event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from search.backend import SearchBackend
from search.indexer import IndexReport, index_pending


def index_tick(
    session_factory: sessionmaker[Session],
    open_backend: Callable[[], SearchBackend],
    *,
    batch: int,
    budget_s: float,
) -> IndexReport:
    async def run() -> IndexReport:
        backend = open_backend()
        try:
            return await index_pending(session_factory, backend, batch=batch, budget_s=budget_s)
        finally:
            await backend.close()

    return asyncio.run(run())
