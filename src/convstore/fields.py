"""The names of a conversation's fields, by where they come from, and the keys of every
machine output. Plain names, no pydantic: `convstore list --help` lists them.
"""

from __future__ import annotations

# The fields of metadata.json, in the order OpenHands writes them.
METADATA_JSON_FIELDS: tuple[str, ...] = (
    "conversation_id",
    "selected_repository",
    "user_id",
    "selected_branch",
    "git_provider",
    "title",
    "last_updated_at",
    "trigger",
    "pr_number",
    "created_at",
    "llm_model",
    "accumulated_cost",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "sandbox_id",
    "conversation_version",
    "is_public",
    "public_share_token",
    "shared_at",
)
# Columns of conversation_metadata that metadata.json never had (V1 rows, 1.x revisions),
# and the owner's org from the 1.x enterprise ownership table.
SQL_ONLY_FIELDS: tuple[str, ...] = (
    "max_budget_per_task",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "context_window",
    "per_turn_token",
    "parent_conversation_id",
    "public",
    "tags",
    "agent_kind",
    "execution_status",
    "org_id",
)
# Fields of early metadata.json files (and of the SQL table's first revision) that
# OpenHands has since dropped.
LEGACY_FIELDS: tuple[str, ...] = ("github_user_id",)
# The keys of every machine output (list --format json, jsonl and csv; show and export
# --format json): always all of them, in this order (README, "Output formats").
OUTPUT_FIELDS: tuple[str, ...] = (
    *METADATA_JSON_FIELDS,
    *LEGACY_FIELDS,
    *SQL_ONLY_FIELDS,
    "store",
    "version",
    "location",
    "problems",
)

# `convstore stats`: what it groups by, and the figures of each group, in output order
# (convstore.jobs.stats; here, so that --help and a Tab can list them without pydantic).
STATS_TIME_GROUPINGS: tuple[str, ...] = ("day", "week", "month", "year")
STATS_GROUPINGS: tuple[str, ...] = (
    "user",
    "org",
    "model",
    "repo",
    "provider",
    "trigger",
    "version",
    "status",
    *STATS_TIME_GROUPINGS,
)
# What a conversation is, as opposed to when it was created: the groupings but time.
STATS_FACETS: tuple[str, ...] = tuple(
    name for name in STATS_GROUPINGS if name not in STATS_TIME_GROUPINGS
)
STATS_TOKEN_FIGURES: tuple[str, ...] = (
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
STATS_FIGURES: tuple[str, ...] = (
    "conversations",
    "cost",
    "mean_cost",
    *STATS_TOKEN_FIGURES,
    "prs",
    "first",
    "last",
)
# What `stats --sort` takes (a leading - for descending): the group's key, or a figure.
STATS_SORTS: tuple[str, ...] = ("group", *STATS_FIGURES)
