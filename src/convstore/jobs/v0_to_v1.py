"""One V0 conversation's metadata as the V1 row OpenHands 1.x loads: a pure function.

Every rule of FORMATS.md "What OpenHands needs of a V1 row" holds for every row this
returns, whatever the source held; what had to be invented or dropped on the way is
said in a warning. Nothing here reads the clock, so converting the same source twice
gives the same row: that is what makes a migration idempotent and resumable.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from convstore.ids import parse_uuid
from convstore.model import (
    KNOWN_GIT_PROVIDERS,
    KNOWN_TRIGGERS,
    TOKEN_FIELDS,
    ConversationMetadata,
)
from convstore.timestamps import format_timestamp

if TYPE_CHECKING:
    from convstore.events.report import ConversionReport

# A remapped id for a V0 conversation whose id is not a UUID (``--non-uuid remap``):
# uuid5 of the old id in this namespace, fixed forever so reruns agree.
REMAP_NAMESPACE = uuid.uuid5(
    uuid.NAMESPACE_URL, "https://github.com/OpenHands/OpenHands#v0-conversation"
)
# A migrated row's sandbox_id: never a value a sandbox service hands out (Docker's are
# ``oh-agent-server-...``), so OpenHands opens the conversation archived, read-only.
SANDBOX_PREFIX = "v0-migrated-"
# V1-only counters that the late-2025 server reads as ints: written as 0, never null.
V1_COUNTERS = (
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "context_window",
    "per_turn_token",
)
# The keys of every row ``convert`` returns, in order: a bulk insert names them once.
ROW_FIELDS = (
    "conversation_id",
    "github_user_id",
    "user_id",
    "selected_repository",
    "selected_branch",
    "git_provider",
    "title",
    "last_updated_at",
    "created_at",
    "trigger",
    "pr_number",
    "accumulated_cost",
    "llm_model",
    "conversation_version",
    "sandbox_id",
    "public",
    *TOKEN_FIELDS,
    *V1_COUNTERS,
)
NonUuidPolicy = Literal["skip", "remap"]
Outcome = Literal["migrate", "already migrated", "conflict", "non-UUID", "unreadable", "failed"]


@dataclass(frozen=True, slots=True)
class SourceFate:
    """What ``migrate-v0-to-v1 --after`` did to a migrated conversation's V0 source."""

    # "in use": OpenHands seemed to be using it (``activity``), so it stayed.
    action: Literal["archived", "removed", "kept", "in use"]
    path: str | None  # where the source is now (its metadata.json); None once removed


@dataclass
class Conversion:
    """What became of one V0 conversation: its V1 row, or why there is none."""

    source: ConversationMetadata
    outcome: Outcome
    new_id: str | None = None
    row: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    # What became of its V0 events (migrate fills it in; None: not converted).
    events: ConversionReport | None = None
    # What became of its V0 source (migrate fills it in; None: left where it was).
    source_fate: SourceFate | None = None


def sandbox_id_for(conversation_id: uuid.UUID) -> str:
    """The sandbox_id of a migrated row: ``v0-migrated-`` and the conversation's 32 hex digits."""
    return SANDBOX_PREFIX + conversation_id.hex


def remapped_id(old_id: str) -> uuid.UUID:
    return uuid.uuid5(REMAP_NAMESPACE, old_id)


def convert(
    source: ConversationMetadata,
    *,
    default_user: str = "",
    non_uuid: NonUuidPolicy = "skip",
    created_fallback: datetime | None = None,
) -> Conversion:
    """The V1 row for ``source``. A missing created_at becomes ``created_fallback`` (the
    file's modification time) or last_updated_at, whichever is earlier."""
    if _unreadable(source):
        return Conversion(source, "unreadable", warnings=list(source.problems))
    identifier = parse_uuid(source.conversation_id)
    warnings: list[str] = []
    if identifier is None:
        if non_uuid == "skip":
            return Conversion(
                source,
                "non-UUID",
                warnings=[
                    f"{source.conversation_id!r} is not a UUID; skipped (--non-uuid remap "
                    "gives it a new id)"
                ],
            )
        identifier = remapped_id(source.conversation_id)
        warnings.append(f"{source.conversation_id!r} is not a UUID; migrated as {identifier}")
    warnings += [f"in the source: {problem}" for problem in source.problems if _dropped(problem)]

    created = source.created_at
    if created is None:
        updated_at = source.last_updated_at
        if updated_at is not None and (created_fallback is None or updated_at < created_fallback):
            # A conversation is not created after its last update (a copied file's mtime).
            created = updated_at
            warnings.append("created_at was missing; used last_updated_at")
        elif created_fallback is not None:
            created = created_fallback
            warnings.append(
                f"created_at was missing; used the file's modification time "
                f"{format_timestamp(created)}"
            )
        else:
            return Conversion(
                source, "failed", warnings=[*warnings, "created_at is missing and no fallback"]
            )
    updated = source.last_updated_at or created
    new_id = str(identifier)
    row: dict[str, Any] = {
        "conversation_id": new_id,
        "github_user_id": source.github_user_id,
        "user_id": source.user_id if source.user_id is not None else default_user,
        "selected_repository": source.selected_repository,
        "selected_branch": source.selected_branch,
        "git_provider": _known(source.git_provider, KNOWN_GIT_PROVIDERS, "git_provider", warnings),
        "title": source.title,
        "last_updated_at": updated,
        "created_at": created,
        "trigger": _known(source.trigger, KNOWN_TRIGGERS, "trigger", warnings),
        "pr_number": list(source.pr_number),
        "accumulated_cost": float(
            _not_negative("accumulated_cost", source.accumulated_cost, warnings)
        ),
        "llm_model": source.llm_model,
        "conversation_version": "V1",
        "sandbox_id": sandbox_id_for(identifier),
        "public": bool(source.is_public),
    }
    for name in TOKEN_FIELDS:
        row[name] = int(_not_negative(name, getattr(source, name), warnings))
    row.update(dict.fromkeys(V1_COUNTERS, 0))
    return Conversion(source, "migrate", new_id, row, warnings)


def _unreadable(source: ConversationMetadata) -> bool:
    # A record built by ConversationMetadata.unreadable has no fields the source
    # could vouch for; migrating it would invent a conversation.
    # (Problems first: reading a private attribute goes through pydantic's __getattr__.)
    return bool(source.problems) and not source.source_fields


def _dropped(problem: str) -> bool:
    """Problems whose value the row cannot carry as it was (others get their own warning)."""
    return " is invalid (" in problem or "inside the file is" in problem


def _known(value: str | None, known: frozenset[str], name: str, warnings: list[str]) -> str | None:
    if value is None or value in known:
        return value
    warnings.append(f"{name} {value!r} is not a value OpenHands knows; written as null")
    return None


def _not_negative(name: str, value: float, warnings: list[str]) -> float:
    if value >= 0:
        return value
    warnings.append(f"{name} was negative ({value}); written as 0")
    return 0
