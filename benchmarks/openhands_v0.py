"""OpenHands' V0 conversation listing, reproduced to be measured beside convstore's.

What OpenHands' ``FileConversationStore.search`` does for every page it serves, step
by step as its code does it (OpenHands 0.x, ``openhands/storage``): ``LocalFileStore``
lists ``sessions/`` (``os.listdir``, then ``os.path.isdir`` of each entry); each
conversation's ``get_metadata`` reads its metadata.json in the default thread pool
(``call_sync_from_async``: ``loop.run_in_executor``), in text mode, parses it with
``json.loads``, treats a file without ``created_at`` as not found, drops
``github_user_id`` and validates the rest with a pydantic ``TypeAdapter`` of its
``ConversationMetadata`` dataclass; a file that fails is skipped. Then every
conversation is sorted on ``created_at.isoformat()``, newest first, and the page is a
slice at an offset.

The dataclass is the field list of FORMATS.md (the current generation); the enums carry
its values. Nothing of convstore is used here.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import TypeAdapter


class ProviderType(enum.Enum):
    GITHUB = "github"
    GITLAB = "gitlab"
    BITBUCKET = "bitbucket"
    ENTERPRISE_SSO = "enterprise_sso"


class ConversationTrigger(enum.Enum):
    RESOLVER = "resolver"
    GUI = "gui"
    SUGGESTED_TASK = "suggested_task"
    OPENHANDS_API = "openhands_api"
    SLACK = "slack"
    MICROAGENT_MANAGEMENT = "microagent_management"
    JIRA = "jira"
    JIRA_DC = "jira_dc"
    LINEAR = "linear"
    BITBUCKET = "bitbucket"


@dataclass
class ConversationMetadata:
    conversation_id: str
    selected_repository: str | None
    user_id: str | None = None
    selected_branch: str | None = None
    git_provider: ProviderType | None = None
    title: str | None = None
    last_updated_at: datetime | None = None
    trigger: ConversationTrigger | None = None
    pr_number: list[int] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    llm_model: str | None = None
    accumulated_cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    sandbox_id: str | None = None
    conversation_version: str | None = None
    is_public: bool = False
    public_share_token: str | None = None
    shared_at: datetime | None = None


_ADAPTER = TypeAdapter(ConversationMetadata)


class _LocalFileStore:
    def __init__(self, root: str) -> None:
        self.root = root

    def _full_path(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def read(self, path: str) -> str:
        with open(self._full_path(path)) as stream:
            return stream.read()

    def list(self, path: str) -> list[str]:
        files = [os.path.join(path, name) for name in os.listdir(self._full_path(path))]
        return [f + "/" if os.path.isdir(self._full_path(f)) else f for f in files]


async def _get_metadata(store: _LocalFileStore, conversation_id: str) -> ConversationMetadata:
    path = f"sessions/{conversation_id}/metadata.json"
    loop = asyncio.get_running_loop()
    text = await loop.run_in_executor(None, lambda: store.read(path))
    data = json.loads(text)
    if "created_at" not in data:
        raise FileNotFoundError(path)
    data.pop("github_user_id", None)
    return _ADAPTER.validate_python(data)


def _sort_key(conversation: ConversationMetadata) -> str:
    return conversation.created_at.isoformat() if conversation.created_at else ""


async def _search(root: str, offset: int, limit: int) -> list[ConversationMetadata]:
    store = _LocalFileStore(root)
    ids = [
        os.path.basename(path.rstrip("/"))
        for path in store.list("sessions")
        if not os.path.basename(path.rstrip("/")).startswith(".")
    ]
    conversations = []
    for conversation_id in ids:
        try:
            conversations.append(await _get_metadata(store, conversation_id))
        except Exception:  # OpenHands logs a warning and skips the file
            continue
    conversations.sort(key=_sort_key, reverse=True)
    return conversations[offset : offset + limit]


def search(root: str, offset: int = 0, limit: int = 20) -> list[ConversationMetadata]:
    """One page of OpenHands' V0 listing of the file store at ``root``."""
    return asyncio.run(_search(root, offset, limit))
