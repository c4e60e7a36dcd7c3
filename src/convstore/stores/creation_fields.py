"""The fields of a V0 conversation that OpenHands sets when it creates it and never changes.

One rule, used wherever a listing may trust what it read of a conversation earlier
(``v0_checked``: a bucket's first page chosen from the V0 index cache):

- ``conversation_id``: the prefix's name, the conversation's address;
- ``created_at``: written once, when the conversation starts (a file without it is
  hidden by OpenHands, which never adds one);
- the owner (``owners.owner_of``: ``user_id``, else the early ``github_user_id``):
  ``user_id`` is the creating user's; a rewrite by OpenHands since 2025-05 drops
  ``github_user_id``, which can only take a conversation *out* of a ``--user`` match;
- ``selected_repository`` and ``trigger``: what the conversation was started on and by.

Everything else moves while a conversation is used: ``title`` (generated after the first
message, renamed by users), ``last_updated_at``, cost and tokens, status. A listing
sorted or filtered by one of those must look at every conversation again.

What the rule lets a listing do, and why it never shows a stale or deleted conversation:
a cached entry whose creation fields are as OpenHands wrote them still sorts and
filters as it did; the records a page shows are read again anyway, and one that has
changed where the rule says it cannot (a hand edit), or that leaves a match the only
way it can, is placed again from what was read (``v0_checked``). Only a change that
puts a conversation *into* a match or earlier in the order, without OpenHands, could
go unseen until it is shown: convstore's own rewrites drop the conversation's cache
entry (``FileStore.rewrite``), so only a hand edit of these fields can.
"""

from __future__ import annotations

from convstore.stores.base import Query

# The fields, by the name a listing reads them by (``base.Listable``).
SET_AT_CREATION = frozenset(
    {"conversation_id", "created_at", "owner", "selected_repository", "trigger"}
)
# What each filter of a ``Query`` reads (the filters a V0 file can match:
# ``v0_order.can_match``), and what each sort orders by.
_FILTERS = {
    "user": "owner",
    "repo": "selected_repository",
    "trigger": "trigger",
    "title": "title",
    "created_since": "created_at",
    "created_until": "created_at",
    "updated_since": "last_updated_at",
    "updated_until": "last_updated_at",
}
_SORTS = {"created": "created_at", "updated": "last_updated_at", "title": "title"}


def only_creation_fields(query: Query) -> bool:
    """True when the query's sort and every filter it sets read only ``SET_AT_CREATION``."""
    if _SORTS[query.sort.field] not in SET_AT_CREATION:
        return False
    return all(
        field in SET_AT_CREATION
        for name, field in _FILTERS.items()
        if getattr(query, name) is not None
    )
