"""The Typer application: global options, the top-level help, and one module per command.

``convstore --help`` and a Tab are answered without importing the command modules:
the top level knows each command's module and one-line summary (``COMMANDS``), and
imports a module and builds its command the first time that command is looked up.
Help (``help_format``) and usage errors (``usage_errors``) are plain text, so Rich,
Typer's renderer of both, is never imported for them.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

import typer
from typer import _click
from typer._click.exceptions import UsageError
from typer._click.shell_completion import CompletionItem
from typer.main import get_group

from convstore import __version__
from convstore.cli.command_classes import Group, adopt, arrange


@dataclass(frozen=True)
class Entry:
    module: str  # of convstore.cli; its register(app) adds the command to app
    summary: str  # the first paragraph of the command's help (a test keeps them equal)


# In the order `convstore --help` lists them.
COMMANDS = {
    "list": Entry("list_cmd", "List conversations of every store, newest first."),
    "show": Entry(
        "show_cmd",
        "Show every field of one conversation, where it lives, and what is wrong with it.",
    ),
    "rename": Entry(
        "rename_cmd", "Give a conversation a new title and set last_updated_at to now."
    ),
    "delete": Entry(
        "delete_cmd",
        "Delete conversations: every form of each (V1 row, V0 directory, V0 row).",
    ),
    "export": Entry(
        "export_cmd",
        "Write a conversation's metadata and transcript (V0 or V1 events), Markdown or JSON.",
    ),
    "stats": Entry(
        "stats_cmd", "Count conversations, cost and tokens by user, model, repository or time."
    ),
    "migrate-v0-to-v1": Entry(
        "migrate_cmd",
        "Migrate V0 conversations (files and SaaS rows) to V1 rows, in resumable batches.",
    ),
    "verify": Entry(
        "verify_cmd",
        "Check every store for what OpenHands cannot read or show, and say how to fix it.",
    ),
    "config": Entry("config_cmd", "Show where convstore looks for each store, and why."),
    "completion": Entry(
        "completion_cmd", "Print the shell completion script for bash, zsh or fish."
    ),
    "db": Entry("db_cmd", "The conversation database: its OpenHands revision, tables and indexes."),
    "sample": Entry(
        "sample_cmd",
        "Write V0 files of every generation (a few broken) and an OpenHands-shaped SQLite "
        "database.",
    ),
}

EXAMPLES = (
    ("convstore sample /tmp/demo", "a store to try every command on"),
    ("convstore config", "where each store is, and why"),
    ("convstore list --since 7d --user alice", "one user's last week"),
    ("convstore verify --fail-on warning", "exit status 1 on any warning"),
    ("convstore stats --by user --by month", "spend per user and month"),
    ("convstore migrate-v0-to-v1 --dry-run", "what migrating would change"),
    ("convstore delete --older-than 180d --dry-run", "what retention would delete"),
)
# The statuses man_sections.EXIT_STATUS explains (a test keeps them the same).
EXIT_STATUSES = (
    ("0", "success"),
    ("1", "a job found problems, or some items failed"),
    ("2", "usage: a bad option, an invalid id, --yes needed"),
    ("3", "a store cannot be read, or an output written"),
    ("4", "not found"),
    ("5", "conflict: changed since read, or a lock is held"),
    ("130", "interrupted"),
    ("141", "stdout closed early (a reader such as head stopped)"),
)


def _table(heading: str, rows: tuple[tuple[str, str], ...]) -> str:
    width = max(len(term) for term, _ in rows)
    return "\n".join([f"{heading}:", *(f"  {term:{width}}  {text}" for term, text in rows)])


EPILOG = "\n\n".join(
    [
        _table("Examples", EXAMPLES),
        _table("Exit status", EXIT_STATUSES),
        "See `convstore COMMAND --help` for a command's options and examples, and\n"
        "`man convstore` for the environment, the files and cron lines.",
    ]
)


@dataclass
class State:
    debug: bool = False


state = State()


class Commands(MutableMapping[str, _click.Command]):
    """The top level's commands, each imported and built the first time it is looked up."""

    def __init__(self, lazy: Mapping[str, Entry], built: Mapping[str, _click.Command]) -> None:
        self._lazy = dict(lazy)
        self._built = dict(built)
        self._names = list(dict.fromkeys([*lazy, *built]))

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self._built:
            self._built[name] = _build(name, self._lazy[name])
        return self._built[name]

    def __setitem__(self, name: str, command: _click.Command) -> None:
        self._built[name] = command
        if name not in self._names:
            self._names.append(name)

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._lazy.pop(name, None)
        self._built.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def summaries(self) -> list[tuple[str, str]]:
        """Each visible command with its one line, importing no command module."""
        rows = []
        for name in self._names:
            entry = self._lazy.get(name)
            if entry is not None:
                rows.append((name, entry.summary))
            elif not self._built[name].hidden:
                rows.append((name, self._built[name].get_short_help_str(limit=200)))
        return rows


@cache
def _registered(module: str) -> typer.Typer:
    """A Typer holding the command(s) that ``module`` registers, with convstore's classes."""
    commands = typer.Typer()
    importlib.import_module(f"convstore.cli.{module}").register(commands)
    adopt(commands)
    return commands


def _build(name: str, entry: Entry) -> _click.Command:
    # A fresh command each time, as Typer builds one for each call of the app.
    command = get_group(_registered(entry.module)).commands[name]
    arrange(command)
    return command


class Program(Group):
    """The top level: commands built when first looked up, usage errors in one line."""

    commands: Commands

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = Commands(COMMANDS, self.commands)

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(self.commands)

    def summaries(self) -> list[tuple[str, str]]:
        return self.commands.summaries()

    # Every usage error of the command line, the top level's and each command's, is
    # raised in one of these two; Typer shows it with its show() (no Rich: the app's
    # rich_markup_mode is None).

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: _click.Context | None = None,
        **extra: Any,
    ) -> _click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as error:
            raise _one_line(error) from error

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            raise _one_line(error) from error

    def shell_complete(self, ctx: _click.Context, incomplete: str) -> list[CompletionItem]:
        commands = [
            CompletionItem(name, help=summary)
            for name, summary in self.commands.summaries()
            if name.startswith(incomplete)
        ]
        # Then the options, as click completes them.
        return [*commands, *_click.Command.shell_complete(self, ctx, incomplete)]

    def _main_shell_completion(
        self,
        ctx_args: MutableMapping[str, Any],
        prog_name: str,
        complete_var: str | None = None,
    ) -> None:
        variable = complete_var or f"_{prog_name}_COMPLETE".replace("-", "_").upper()
        instruction = os.environ.get(variable)
        if instruction:
            from convstore.cli.completion import respond

            sys.exit(respond(self, ctx_args, prog_name, variable, instruction))


app = typer.Typer(
    name="convstore",
    cls=Program,
    help="Administer the conversation metadata of OpenHands deployments: V0 metadata.json "
    "files and the conversation_metadata table (SQLite or PostgreSQL).",
    epilog=EPILOG,
    no_args_is_help=True,
    # completions/ holds better scripts than Typer's --install-completion would write,
    # and they are installed with the package.
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _one_line(error: UsageError) -> UsageError:
    from convstore.cli.usage_errors import one_line

    return one_line(error)


def _version(ctx: typer.Context, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        typer.echo(f"convstore {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback when a command fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    state.debug = debug
