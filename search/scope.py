"""The caller's search scope, built per request from the access gate's scope.

Contract: search never shows a message whose conversation the gate
(``audit.security.scope.visible_clause``) denies, and it follows the directory as it is
*now*: a member who moves takes their conversations to the new department's reviewers at
once, with no reindex (ADR 0021). The index is asked about people and conversations only:

* a message is visible when one of its staff (its sender or recipients: facts of the
  message that never change) is a current member of the caller's departments; such a
  member took part in the conversation, so the gate allows it;
* or its conversation is granted to the caller;
* and no protected person the caller is not named for took part in the message nor in its
  conversation (``excluded_conversation_ids``: the gate hides the whole conversation).

The gate may show more than search finds, never less strict: a group message sent while
none of the caller's members was in the room (they joined later, or had left) belongs to a
conversation the gate shows but lists none of them. Finding those would cost a read of
every group message of the members per search (ADR 0021 measured it); they stay readable
in the conversation view.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from audit.security.scope import DataScope
from search import repository
from search.backend import SearchScope


def search_scope_of(session: Session, scope: DataScope, corp_ids: Iterable[str]) -> SearchScope:
    """The ``SearchScope`` of a gate scope, over the conversations of ``corp_ids`` (the
    archived corps: a conversation of another corp is not in the index). Reads the
    database only when the scope excludes protected people."""
    excluded = repository.conversations_touched(session, sorted(set(corp_ids)), scope.excluded_people)
    return SearchScope(
        member_ids=None if scope.everything else scope.member_ids,
        conversation_ids=frozenset() if scope.everything else scope.conversation_ids - excluded,
        excluded_people=scope.excluded_people,
        excluded_conversation_ids=excluded,
    )
