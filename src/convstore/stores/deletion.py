"""Deleting conversations: every form of each, children before their parents, never one
OpenHands is using; what cannot go now is named, and the rest is deleted.

A conversation has up to three forms (FORMATS.md "Conversation ids"): its V1 row and,
when it was migrated and its source kept, its V0 directory and V0 row (SaaS). Deleting
only the V1 row would hand the conversation back to the V0 form: `show` would find it,
and the next migration would make it a V1 row again. So a deletion removes every form,
or none: a form that cannot be removed blocks the whole conversation. The V0 forms go
first and the V1 row last, so a deletion cut short (a crash, a change meanwhile) leaves
at most the V1 row: a migrated conversation, which no later migration touches.

A conversation cannot be deleted now when
- it is blocked, and a person must act: a form cannot be removed (a link out of the file
  store, a table referencing the row), or a sub-conversation would remain (one outside
  the selection, or one that is itself blocked);
- it is in use: OpenHands seems to be working on it (``activity``), or on a
  sub-conversation it waits for, or it changed while being deleted. A later run takes it.
Neither stops the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from convstore.errors import Conflict
from convstore.ids import conversation_key
from convstore.model import ConversationMetadata, Version
from convstore.stores.activity import Guard
from convstore.stores.base import Query, Removal

if TYPE_CHECKING:
    from convstore.stores.catalog import Catalog


@dataclass
class Deletion:
    """Deleting one conversation: each of its forms, and why it cannot be deleted now."""

    record: ConversationMetadata  # the form OpenHands opens: the V1 row, if there is one
    forms: list[Removal]  # in the order of removal: the V0 forms, then the V1 row
    blockers: list[str] = field(default_factory=list)  # a person must act first
    in_use: list[str] = field(default_factory=list)  # refused for now; --force deletes it
    children: list[str] = field(default_factory=list)  # keys of its sub-conversations planned

    @property
    def key(self) -> str:
        return conversation_key(self.record.conversation_id)

    @property
    def blocked(self) -> bool:
        return bool(self.blockers) or any(form.blockers for form in self.forms)

    @property
    def ready(self) -> bool:
        return not self.blocked and not self.in_use

    @property
    def bytes_on_disk(self) -> int:
        return sum(form.bytes_on_disk for form in self.forms)


@dataclass
class Plan:
    """What a delete would do: the conversations, children before their parents."""

    deletions: list[Deletion]
    # Retention: conversations that matched by one form while another form (a V1 twin
    # updated since, or a form of the other version) is outside the selection.
    left_alone: int = 0

    @property
    def ready(self) -> list[Deletion]:
        return [deletion for deletion in self.deletions if deletion.ready]

    @property
    def blocked(self) -> list[Deletion]:
        return [deletion for deletion in self.deletions if deletion.blocked]

    @property
    def in_use(self) -> list[Deletion]:
        return [d for d in self.deletions if d.in_use and not d.blocked]


@dataclass
class Outcome:
    """What a delete did: each conversation planned is in exactly one of these."""

    deleted: list[Deletion] = field(default_factory=list)
    blocked: list[Deletion] = field(default_factory=list)
    in_use: list[Deletion] = field(default_factory=list)


def exit_status(blocked: bool, in_use: bool) -> int:
    """How a delete ends (README "Exit statuses"): 1 when a conversation is blocked,
    since a person must act, whatever else happened; else 5 when one is in use, since a
    later run takes it by itself; else 0. The conversations that could go are deleted
    either way."""
    if blocked:
        return 1
    return 5 if in_use else 0


def plan_conversations(
    catalog: Catalog,
    records: Iterable[ConversationMetadata],
    *,
    user: str | None,
    with_sub: bool,
    guard: Guard,
) -> Plan:
    """The deletion of each conversation a record of ``records`` is a form of."""
    deletions: dict[str, Deletion] = {}
    children: dict[str, list[ConversationMetadata]] = {}

    def add(record: ConversationMetadata) -> None:
        key = conversation_key(record.conversation_id)
        if key in deletions:
            return
        deletion = _deletion(catalog, catalog.forms(record, user), guard)
        deletions[key] = deletion
        children[key] = catalog.children(deletion.record, user)
        if with_sub:
            for child in children[key]:
                add(child)

    for record in records:
        add(record)
    ordered = _children_first(deletions, children)
    for deletion in ordered:
        _judge_by_children(deletion, children[deletion.key], deletions)
    return Plan(ordered)


def plan_retention(
    catalog: Catalog,
    cutoff: datetime,
    *,
    user: str | None,
    version: Version | None,
    with_sub: bool,
    guard: Guard,
) -> Plan:
    """Every conversation last updated before ``cutoff``: all of its forms are (a form
    without a time does not count), and it is of ``version`` as OpenHands opens it."""
    query = Query(user=user, version=version, updated_until=cutoff, sub_conversations=True)
    chosen: list[ConversationMetadata] = []
    seen: set[str] = set()
    left_alone = 0
    for record in catalog.search(query):
        key = conversation_key(record.conversation_id)
        if key in seen:
            continue
        seen.add(key)
        forms = catalog.forms(record, user)
        newest = max(form.last_updated_at for form in forms if form.last_updated_at is not None)
        opened = _opened(forms)
        if newest >= cutoff or (version is not None and opened.version != version):
            left_alone += 1
            continue
        chosen.append(opened)
    plan = plan_conversations(catalog, chosen, user=user, with_sub=with_sub, guard=guard)
    plan.left_alone = left_alone
    return plan


def carry_out(catalog: Catalog, plan: Plan, guard: Guard, outcome: Outcome) -> None:
    """Delete what ``plan`` allows, children first, recording each conversation in
    ``outcome`` as it goes (so a caller still knows what was done if an error ends it).

    What looks in use is looked at again just before each deletion, and each form is
    removed only if it is still as read; a conversation that changed meanwhile is
    counted in use, and its parent with it.
    """
    kept: dict[str, Deletion] = {}
    for deletion in plan.deletions:
        waiting = [kept[key] for key in deletion.children if key in kept]
        if deletion.ready and waiting:
            child = waiting[0].record.conversation_id
            deletion.in_use.append(f"its sub-conversation {child} was not deleted")
        if deletion.ready and not guard.force:
            deletion.in_use += _signs(catalog, [form.record for form in deletion.forms], guard)
        if deletion.ready:
            _remove_forms(catalog, deletion)
        if deletion.blocked:
            outcome.blocked.append(deletion)
        elif deletion.in_use:
            outcome.in_use.append(deletion)
        else:
            outcome.deleted.append(deletion)
            continue
        kept[deletion.key] = deletion


def _remove_forms(catalog: Catalog, deletion: Deletion) -> None:
    done: list[str] = []
    for form in deletion.forms:
        try:
            catalog.remove(form)
        except Conflict as error:
            already = f" (already deleted: its {', '.join(done)})" if done else ""
            deletion.in_use.append(f"{error}{already}")
            return
        done.append(describe_form(form.record))


def describe_form(record: ConversationMetadata) -> str:
    """A form as a person calls it: "V1 row", "V0 directory", "V0 row"."""
    return f"{record.version} {'directory' if record.store == 'files' else 'row'}"


def _deletion(catalog: Catalog, forms: list[ConversationMetadata], guard: Guard) -> Deletion:
    ordered = sorted(forms, key=lambda form: form.version == "V1")  # stable: V0 forms first
    deletion = Deletion(_opened(forms), [catalog.plan_removal(form) for form in ordered])
    if not guard.force:
        deletion.in_use = _signs(catalog, forms, guard)
    return deletion


def _opened(forms: list[ConversationMetadata]) -> ConversationMetadata:
    """The form OpenHands opens: the V1 row if there is one, else the first V0 form."""
    return next((form for form in forms if form.version == "V1"), forms[0])


def _signs(catalog: Catalog, forms: list[ConversationMetadata], guard: Guard) -> list[str]:
    return [sign for form in forms for sign in catalog.signs_of_use(form, guard)]


def _children_first(
    deletions: dict[str, Deletion], children: dict[str, list[ConversationMetadata]]
) -> list[Deletion]:
    """The deletions in the order they can run: each conversation after its planned
    sub-conversations (which are noted in ``Deletion.children``)."""
    ordered: list[Deletion] = []
    visited: set[str] = set()

    def visit(key: str) -> None:
        visited.add(key)
        deletion = deletions[key]
        for child in children[key]:
            child_key = conversation_key(child.conversation_id)
            if child_key in deletions:
                deletion.children.append(child_key)
                if child_key not in visited:  # a cycle of parents is verify's to report
                    visit(child_key)
        ordered.append(deletion)

    for key in deletions:
        if key not in visited:
            visit(key)
    return ordered


def _judge_by_children(
    deletion: Deletion, children: list[ConversationMetadata], planned: dict[str, Deletion]
) -> None:
    """A parent goes only if every sub-conversation goes: one outside the plan or blocked
    blocks it; one in use makes it wait. (Its children are judged already.)"""
    keys = [conversation_key(child.conversation_id) for child in children]
    outside = [
        child.conversation_id
        for child, key in zip(children, keys, strict=True)
        if key not in planned
    ]
    inside = [planned[key] for key in keys if key in planned]
    blocked = [child for child in inside if child.blocked]
    waiting = [child for child in inside if child.in_use and not child.blocked]
    if outside:
        listed = ", ".join(outside[:3]) + (", ..." if len(outside) > 3 else "")
        deletion.blockers.append(
            f"{len(outside)} of its sub-conversations would remain ({listed}); "
            "--with-sub-conversations deletes them with it"
        )
    if blocked:
        deletion.blockers.append(
            f"its sub-conversation {blocked[0].record.conversation_id} is blocked (see above)"
        )
    if waiting and not deletion.blocked:
        deletion.in_use.append(
            f"its sub-conversation {waiting[0].record.conversation_id} is in use (see above)"
        )
