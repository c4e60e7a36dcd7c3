"""Errors a person can act on, each carrying the exit status the command line uses.

Library code raises these; only ``convstore.cli`` turns them into one line on stderr
and an exit status, so a second front end can handle them its own way.
"""

from __future__ import annotations


class ConvstoreError(Exception):
    """Base of every error convstore reports; exit status 1 unless a subclass says otherwise."""

    exit_status = 1


class UsageError(ConvstoreError):
    """The request itself is wrong: a bad option, an invalid id, a missing ``--yes``."""

    exit_status = 2


class StoreUnavailable(ConvstoreError):
    """A store cannot be reached or read: missing table, database down, permission denied."""

    exit_status = 3


class CannotWrite(StoreUnavailable):
    """An output (an export, a report, a sample store) cannot be written: exit 3, as a
    store that cannot be written is."""


class NotFound(ConvstoreError):
    """No conversation with that id (visible to the given user)."""

    exit_status = 4


class Conflict(ConvstoreError):
    """The record changed since it was read, or another job holds the lock."""

    exit_status = 5
