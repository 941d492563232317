"""Names in the console: ``archive.directory.names`` (the one resolver) over every corp, and
the texts of the ``who`` macro (``templates/_names.html``) that shows a name with its id one
hover away, or an id the directory has not synced yet marked as such."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy.orm import Session

from archive.directory.names import Names, display_names

MESSAGES = {
    "names.unsynced": ("未同步", "not synced"),
    "names.unsynced_hint": (
        "通讯录尚未同步此 ID，显示的是企业微信原始 ID；同步完成后将显示名称。",
        "The directory has not synced this id yet: the raw WeCom id is shown until it has.",
    ),
}
# Registered like a page (``pages.PAGE_MODULES``) for its texts; it serves no route.
HANDLERS: list[Any] = []


def people_of(session: Session, ids: Iterable[str], *, followers: Collection[str] = ()) -> Names:
    """The names of ``ids``; ``followers`` are the members of the conversation at hand
    (their remarks name its customers)."""
    return display_names(session, None, ids, followers=followers)
