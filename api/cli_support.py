"""Moved to ``api.cli.support``; kept for ``api.cli_monitor``, ``api.cli_handover``,
``api.cli_directory`` and ``api.cli_consent`` until they move into ``api/cli/`` (then delete
this file). The names resolve lazily: ``api.cli`` imports those four modules, which import
this one, so importing ``api.cli`` from here at load time would be a cycle again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.cli.support import fail, open_context, transaction

__all__ = ["fail", "open_context", "transaction"]


def __getattr__(name: str) -> Any:
    from api.cli import support

    return getattr(support, name)
