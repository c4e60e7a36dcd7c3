"""convstore's help: plain text, one layout for the program, a group and a command.

gh and kubectl write their help as plain text; so does convstore, from Typer's
parameters, without Rich (which takes longer to import than Typer itself):

    Usage: convstore list [OPTIONS]

      List conversations of every store, newest first.

    Options:            the options of no group (--help, a command's own)
    Store location:     then each group of options (options.PANELS first)
    Filters:
    Output:
    Commands:           a group's commands
    Examples:           the epilog, as written

An option's value is shown by a placeholder that names its type (TEXT, INTEGER,
PATH) or lists its choices ({table|json}); a flag has none. The man pages use the
same placeholders (``value_name``).
"""

from __future__ import annotations

from typing import Any, get_args

from typer import _click
from typer.core import TyperArgument

UNGROUPED = "Options"
TERM_COLUMN = 30  # the widest term that has its help beside it (click's default)
_TYPE_NAMES = {int: "INTEGER", float: "FLOAT"}


def value_name(param: Any) -> str | None:
    """What stands for an option's value; None for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    if param.metavar is not None:
        return str(param.metavar)
    descriptor = param.type_descriptor
    if descriptor.choices is not None:
        return "{" + "|".join(str(choice) for choice in descriptor.choices) + "}"
    if descriptor.is_path:
        return "PATH"
    annotation = descriptor.annotation
    if descriptor.is_list:
        (annotation,) = get_args(annotation)
    return _TYPE_NAMES.get(annotation, "TEXT")


def argument_name(param: Any) -> str:
    """An argument as the usage line and the errors name it: CONVERSATION_ID, IDS..."""
    name = str(param.metavar or param.name or "").upper()
    return name + "..." if param.nargs == -1 else name


def option_names(param: Any) -> str:
    """-h, --help: the short names first; a flag's negation after a slash."""
    names = ", ".join(sorted(param.opts, key=lambda name: (name.startswith("--"), name)))
    negations = getattr(param, "secondary_opts", None)
    return f"{names} / {', '.join(negations)}" if negations else names


def usage_pieces(command: _click.Command, ctx: _click.Context) -> list[str]:
    """[OPTIONS] and the arguments, as click writes them: optional ones in brackets."""
    pieces = ["[OPTIONS]"]
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            name = argument_name(param)
            pieces.append(name if param.required else f"[{name}]")
    return pieces


def sections(command: _click.Command, ctx: _click.Context) -> list[tuple[str, list[Any]]]:
    """(heading, rows) of the arguments and of each group of options, in help order:
    arguments, the options of no group, then each group as its first option comes
    (``command_classes.arrange`` has put them in ``options.PANELS``' order)."""
    arguments: list[tuple[str, str]] = []
    groups: dict[str, list[tuple[str, str]]] = {UNGROUPED: []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        text = record[1]
        if isinstance(param, TyperArgument):
            arguments.append((argument_name(param), text))
            continue
        value = value_name(param)
        term = option_names(param) + (f" {value}" if value else "")
        panel = getattr(param, "rich_help_panel", None) or UNGROUPED
        groups.setdefault(panel, []).append((term, text))
    found = [("Arguments", arguments)] if arguments else []
    return found + [(heading, rows) for heading, rows in groups.items() if rows]


def write_options(command: _click.Command, ctx: _click.Context, formatter: Any) -> None:
    """Every section, its help text in one column: a term wider than click's column
    (30) goes on a line of its own, as click does."""
    found = sections(command, ctx)
    fitting = [len(term) for _, rows in found for term, _ in rows if len(term) <= TERM_COLUMN]
    width = max(fitting, default=0)
    for heading, rows in found:
        with formatter.section(heading):
            aligned = [(term.ljust(width) if text else term, text) for term, text in rows]
            formatter.write_dl(aligned, TERM_COLUMN)


def write_epilog(epilog: str | None, formatter: Any) -> None:
    """The examples, laid out already (aligned, 80 columns at most): written as they are."""
    if epilog and epilog.strip():
        formatter.write_paragraph()
        formatter.write(epilog.strip("\n") + "\n")
