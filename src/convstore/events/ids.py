"""Deterministic ids of the V1 events convstore writes for V0 events.

A V1 event id is ``uuid5(NAMESPACE, f"{conversation}:{n}")`` for V0 event ``n``, and
``f"{conversation}:{n}:obs"`` for the event convstore adds after it (the observation a
V0 ``finish`` never had). The conversation is written dashed, as ``str(UUID)``. The
namespace is fixed forever: a re-run, or another tool following EVENTS.md, names the
same event with the same id, so re-running rewrites files instead of adding new ones.
"""

from __future__ import annotations

import uuid

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/OpenHands/OpenHands#v0-event")


def event_uuid(conversation: uuid.UUID, v0_id: int, *, added: bool = False) -> uuid.UUID:
    """The V1 id of V0 event ``v0_id``, or of the event added after it when ``added``."""
    name = f"{conversation}:{v0_id}:obs" if added else f"{conversation}:{v0_id}"
    return uuid.uuid5(NAMESPACE, name)
