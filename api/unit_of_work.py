"""The one place in ``api/`` where database transactions begin and end (ADR 0022).

- **A request** gets its session from the ``db`` dependency: one session per request,
  committed after the handler returned and its response was rendered, rolled back if
  anything raised. Handlers that use it are plain ``def`` with ``sync_to_thread=True``
  (the one threading convention): they parse, call a use case, convert. The commit,
  rollback and close run in a worker thread too, so the event loop never waits on the
  database.
- **A command, a job or the authentication guard** has no request to hang a session on
  and uses :func:`transaction` (one unit of work, the same commit/rollback rule).
- A use case that must commit something even when it then refuses (a denied read is
  logged, a failed login counts) or that spans an awaited call (search) takes the session
  factory (``context.session_factory``) and opens its own transactions below ``api/``.

``tests/test_architecture.py`` checks that no other module in ``api/`` opens a session
or runs a query.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager

from anyio import CancelScope, to_thread
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.orm import Session

from api.context import AppContext
from config.database import session_scope

# How a handler asks for them: ``db: Db`` (the request's session), ``context: Context``.
Db = NamedDependency[Session]
Context = NamedDependency[AppContext]


async def _request_session(state: State) -> AsyncGenerator[Session, None]:
    context: AppContext = state["context"]
    session = context.session_factory()
    try:
        yield session
        await to_thread.run_sync(session.commit)
    except BaseException:
        # Shielded: a request cancelled by a client that went away must still roll back
        # and give its connection back (an await in a cancelled scope would not run).
        with CancelScope(shield=True):
            await to_thread.run_sync(session.rollback)
        raise
    finally:
        with CancelScope(shield=True):
            await to_thread.run_sync(session.close)


def dependencies() -> dict[str, Provide]:
    """The app-wide dependencies: ``db`` (the request's session) and ``context``."""
    return {
        "db": Provide(_request_session),
        "context": Provide(_context, sync_to_thread=False),
    }


def _context(state: State) -> AppContext:
    context: AppContext = state["context"]
    return context


@contextmanager
def transaction(context: AppContext) -> Iterator[Session]:
    """One unit of work outside a request (commands, jobs, authentication)."""
    with session_scope(context.session_factory) as session:
        yield session
