"""What the shell completes beyond what a type says: known triggers, and live values.

A completion request is Typer's protocol (``_CONVSTORE_COMPLETE=complete_bash`` and its
zsh and fish forms, which the scripts in completions/ send), answered by ``respond``
with Typer's shell classes, less their Rich rendering of each description (which cost
more than the rest of a Tab, and broke a long one over two lines). Subcommands, option
names and ``Literal`` choices (--format, --sort, --version, --fail-on) complete on their
own; the callbacks here add what a type cannot say: the triggers OpenHands knows, and
the conversation and user ids that are in the configured stores right now.

Every Tab starts a new process and the shell waits for it, so live values are read by a
child process (``convstore.cli.live_values``) that is killed when the Tab's time is up
(by default a second after the shell started this process): the answer is whatever
arrived by then, usually everything, at worst nothing, and never an error on the
terminal. The child also keeps SQLAlchemy and the pydantic models out of this process.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

import typer
from typer import _click
from typer._click.shell_completion import CompletionItem, ShellComplete
from typer._completion_classes import (
    BashComplete,
    FishComplete,
    PowerShellComplete,
    ZshComplete,
)

from convstore.fields import STATS_GROUPINGS, STATS_SORTS

# The same names as convstore.model.KNOWN_TRIGGERS (a test keeps them equal); importing
# the model here would import pydantic on every Tab.
KNOWN_TRIGGERS = (
    "automation",
    "bitbucket",
    "gui",
    "jira",
    "jira_dc",
    "linear",
    "microagent_management",
    "openhands_api",
    "resolver",
    "slack",
    "suggested_task",
)

# How long a Tab may take, counted from the start of this process (Python, Typer and the
# parse of the command line take 0.1-0.3 s of it). A site whose database is far away
# may prefer to wait longer for complete answers.
COMPLETION_BUDGET = 1.0
BUDGET_VARIABLE = "CONVSTORE_COMPLETION_TIMEOUT"
# Kept for after the child: formatting the answer, exiting, the shell reading it.
ANSWER_TIME = 0.1
# Where the age of the process cannot be read (no /proc): a typical start.
STARTUP_ESTIMATE = 0.3
# More than a screenful is noise: the most recently updated come first, and typing a
# few characters of an id narrows the rest.
MAX_CANDIDATES = 200

Candidate = tuple[str, str]


def respond(
    command: _click.Command,
    ctx_args: MutableMapping[str, Any],
    prog_name: str,
    complete_var: str,
    instruction: str,
) -> int:
    """Answer ``instruction`` (``complete_<shell>``) for ``command``; the exit status."""
    action, _, shell = instruction.partition("_")
    answerer = SHELLS.get(shell)
    if action != "complete" or answerer is None:
        print(f"convstore: cannot answer the completion request {instruction!r}", file=sys.stderr)
        return 1
    typer.echo(answerer(command, ctx_args, prog_name, complete_var).complete())
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


class PlainZshComplete(ZshComplete):
    def format_completion(self, item: CompletionItem) -> str:
        # As Typer's, with the description as it is: one line, no Rich markup.
        def escape(text: str) -> str:
            return (
                text.replace('"', '""')
                .replace("'", "''")
                .replace("$", "\\$")
                .replace("`", "\\`")
                .replace(":", r"\\:")
            )

        if item.help:
            return f'"{escape(item.value)}":"{escape(_one_line(item.help))}"'
        return f'"{escape(item.value)}"'


class PlainFishComplete(FishComplete):
    def format_completion(self, item: CompletionItem) -> str:
        if item.help:
            return f"{item.value}\t{_one_line(item.help)}"
        return f"{item.value}"


SHELLS: dict[str, type[ShellComplete]] = {
    "bash": BashComplete,
    "zsh": PlainZshComplete,
    "fish": PlainFishComplete,
    "powershell": PowerShellComplete,
    "pwsh": PowerShellComplete,
}


def complete_trigger(incomplete: str) -> list[str]:
    return [name for name in KNOWN_TRIGGERS if name.startswith(incomplete)]


def complete_stats_by(ctx: typer.Context, incomplete: str) -> list[str]:
    """`stats --by`: the groupings not given yet; after a comma, the list so far plus one."""
    given = [name for value in ctx.params.get("by") or () for name in str(value).split(",")]
    done, _, last = incomplete.rpartition(",")
    chosen = {*given, *done.split(",")}
    prefix = f"{done}," if done else ""
    return [
        prefix + name for name in STATS_GROUPINGS if name.startswith(last) and name not in chosen
    ]


def complete_stats_sort(incomplete: str) -> list[str]:
    """`stats --sort`: the group or a figure, ascending or (a leading -) descending."""
    names = [*STATS_SORTS, *(f"-{name}" for name in STATS_SORTS)]
    return [name for name in names if name.startswith(incomplete)]


def complete_conversation_id(ctx: typer.Context, incomplete: str) -> list[Candidate]:
    """Conversation ids with their titles, most recently updated first.

    Honours --user and the store options given before the id; ids already on the
    command line (``delete A B``) are not offered again.
    """
    given = ctx.params.get("conversation_ids") or ()
    return live_values("ids", incomplete, _stores(ctx), user=ctx.params.get("user"), exclude=given)


def complete_user(ctx: typer.Context, incomplete: str) -> list[Candidate]:
    """User ids that own conversations, most recently active first."""
    return live_values("users", incomplete, _stores(ctx))


def _stores(ctx: typer.Context) -> dict[str, str | None]:
    """The store options given so far; the child resolves the rest as every command does."""
    return {
        name: None if ctx.params.get(name) is None else str(ctx.params[name])
        for name in ("file_store", "db", "config")
    }


def live_values(
    kind: str,
    prefix: str,
    stores: dict[str, str | None],
    *,
    user: str | None = None,
    exclude: Iterable[str] = (),
) -> list[Candidate]:
    """Ask the child for ``kind`` values starting with ``prefix``; [] when it cannot say in time."""
    remaining = configured_budget() - process_age() - ANSWER_TIME
    if remaining <= 0:
        return []
    request = {
        **stores,
        "kind": kind,
        "prefix": prefix,
        "user": user,
        "exclude": list(exclude),
        "limit": MAX_CANDIDATES,
    }
    lines = _ask_child(json.dumps(request).encode(), remaining)
    return [_candidate(line) for line in lines]


def configured_budget() -> float:
    """Seconds a Tab may take: ``CONVSTORE_COMPLETION_TIMEOUT``, or the default."""
    try:
        seconds = float(os.environ.get(BUDGET_VARIABLE, ""))
    except ValueError:
        return COMPLETION_BUDGET  # a completion has no way to report a bad setting
    return seconds if seconds > 0 else COMPLETION_BUDGET


def process_age() -> float:
    """Seconds since this process started: how long the shell has waited already."""
    try:
        # Field 22 of /proc/self/stat, in clock ticks since boot; the command name in
        # parentheses before it may itself contain spaces and parentheses.
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):
        return STARTUP_ESTIMATE
    return age if age >= 0 else STARTUP_ESTIMATE


def _ask_child(request: bytes, timeout: float) -> list[str]:
    """The complete lines the child printed before it ended or the deadline passed."""
    # -P: a directory named convstore in the shell's working directory must not shadow
    # the installed package. The request goes through stdin, not argv, because a --db
    # URL may carry a password that `ps` would show to every user.
    command = [sys.executable, "-P", "-m", "convstore.cli.live_values"]
    try:
        child = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return []
    try:
        output, _ = child.communicate(request, timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        output, _ = child.communicate()  # what it printed before the deadline
    # The last piece has no newline when the child was killed mid-line: drop it.
    return output.decode("utf-8", "replace").split("\n")[:-1]


def _candidate(line: str) -> Candidate:
    value, _, description = line.partition("\t")
    return value, description
