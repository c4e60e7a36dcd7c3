"""Whose a conversation is: the one rule every ``--user`` matches by.

``--user`` is an exact match of the owner, never a substring: a substring would widen
``delete --user al`` to alice's conversations. The owner is ``user_id``; files of the
earliest generations (January 2025), and SaaS rows of that time, carry only
``github_user_id``, and are found by that id. The model, the V0 listing summary (and so
the V0 index cache), verify's scope and the SQL filters (``SqlStore.owner_expression``,
the same rule in SQL) all take the owner from here.

It imports nothing, so the processes that scan V0 files use it too.
"""

from __future__ import annotations


def owner_of(user_id: object, github_user_id: object) -> str | None:
    """The owner, from the two fields as a store holds them: a number is read as its
    digits and any other value as absent, as the model reads them."""
    owner = _text(user_id)
    return owner if owner is not None else _text(github_user_id)


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
