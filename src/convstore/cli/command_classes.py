"""The Typer classes every convstore command is built with, and the order of its options.

Typer (0.29 and later) coerces a parameter's value through a pydantic TypeAdapter that
it builds the first time the parameter is processed, even when the value is ``None``.
Two requests process parameters they have no use for, and would import pydantic
(about as long again as Typer itself) for nothing:

- ``convstore db info --help`` processes ``--help`` of ``convstore`` and of
  ``convstore db`` on the way. Typer declares that flag without a default, so its value
  there is ``None``, which is coerced; these classes give it ``False``, which is not.
- A Tab parses the whole command line (click's resilient parsing) to find what is being
  completed. These classes leave each value as typed there: the completion callbacks
  read the raw strings (store locations, ``--user``, the ids already given), and a
  command's run never sees those values. An ``AsTypedCommand`` takes them so when it
  runs, too, checking only that a choice is one.

Both rely on Typer internals (``_TyperParameter._runtime_param``, ``typer._coercion``);
tests/test_startup_imports.py fails if a Typer release changes them.

Help is plain text in one layout for every command and group (``help_format``), as
the top level's has always been, instead of Typer's Rich panels: as gh and kubectl
write theirs, and without importing Rich. A group's unknown command is a usage error
in convstore's words (``usage_errors``), with the commands it may have meant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click
from typer._click.exceptions import UsageError
from typer._coercion import RuntimeParam
from typer.core import TyperCommand, TyperGroup, TyperOption, _TyperParameter
from typer.main import Typer
from typer.models import DefaultPlaceholder


@dataclass(frozen=True)
class _AsTyped(RuntimeParam):
    """A value left as the command line gave it; ``checked``: a choice must be one."""

    checked: bool = False

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: _click.Context) -> Any:
        choices = param.type_descriptor.choices
        if self.checked and choices is not None and value not in choices:
            from convstore.cli.usage_errors import NotAChoice

            raise NotAChoice(value, ctx=ctx, param=param)
        return value


def _flag_off_by_default(option: TyperOption | None) -> TyperOption | None:
    if option is not None and option.default is None:
        option.default = False
    return option


@contextmanager
def _values_as_typed(command: _click.Command, ctx: _click.Context) -> Iterator[None]:
    """While completing, process ``command``'s parameters without coercing their values;
    an ``AsTypedCommand``'s always, its choices checked.

    Also give a usage error the context it arose in, which click's parser leaves out
    ("option '--db' requires an argument"): its message points at that --help.
    """
    swapped: list[_TyperParameter] = []
    if ctx.resilient_parsing or isinstance(command, AsTypedCommand):
        # Should a Typer release store the coercion elsewhere, values are coerced as
        # before: slower (the import tests say so), never wrong.
        swapped = [
            param
            for param in command.get_params(ctx)
            if isinstance(param, _TyperParameter) and getattr(param, "_runtime_param", 0) is None
        ]
    for param in swapped:
        descriptor = param.type_descriptor
        param._runtime_param = _AsTyped(
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            checked=not ctx.resilient_parsing,
        )
    try:
        yield
    except UsageError as error:
        if error.ctx is None:
            error.ctx, error.cmd = ctx, command
        raise
    finally:
        for param in swapped:
            param._runtime_param = None


class _PlainHelp(_click.Command):
    """Help in ``help_format``'s layout, for a command and a group alike."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: _click.Context | None = None,
        **extra: Any,
    ) -> _click.Context:
        # --help and --version write while the arguments are parsed, before a command
        # runs (and Typer would end a closed stdout with status 1 there): a reader that
        # went away (| head) ends them as it ends a command's own output.
        try:
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError:
            from convstore.cli.common import stdout_closed

            raise typer.Exit(stdout_closed()) from None

    def collect_usage_pieces(self, ctx: _click.Context) -> list[str]:
        from convstore.cli import help_format

        return help_format.usage_pieces(self, ctx)

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        # click's order: usage, help text, options (and commands), epilog.
        _click.Command.format_help(self, ctx, formatter)

    def format_options(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        from convstore.cli import help_format

        help_format.write_options(self, ctx, formatter)

    def format_epilog(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        from convstore.cli import help_format

        help_format.write_epilog(self.epilog, formatter)


class Command(_PlainHelp, TyperCommand):
    def get_help_option(self, ctx: _click.Context) -> TyperOption | None:
        return _flag_off_by_default(super().get_help_option(ctx))

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        with _values_as_typed(self, ctx):
            return super().parse_args(ctx, args)


class AsTypedCommand(Command):
    """A command whose values are text or a choice, taken as typed: running it spares
    the import of pydantic (Typer's coercion), as a Tab does. ``convstore completion``
    is one, run by a shell's startup file."""


class Group(_PlainHelp, TyperGroup):
    def get_help_option(self, ctx: _click.Context) -> TyperOption | None:
        return _flag_off_by_default(super().get_help_option(ctx))

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            # The help on stdout, and the usage status: nothing was asked of the group.
            _click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(2)
        with _values_as_typed(self, ctx):
            return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: _click.Context) -> list[str]:
        return [*super().collect_usage_pieces(ctx), self.subcommand_metavar]

    def format_options(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        super().format_options(ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(self.summaries())

    def summaries(self) -> list[tuple[str, str]]:
        """Each visible command and the first sentence of its help, whole."""
        return [
            (name, command.get_short_help_str(limit=200))
            for name, command in self.commands.items()
            if not command.hidden
        ]

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        name = args[0]
        if name in self.commands or name.startswith("-") or ctx.resilient_parsing:
            return super().resolve_command(ctx, args)
        from convstore.cli.usage_errors import unknown_command

        raise unknown_command(name, ctx, list(self.commands))


def adopt(app: Typer) -> None:
    """Build the commands and groups registered on ``app`` with these classes.

    A command or group that names a class of its own keeps it.
    """
    for command in app.registered_commands:
        if command.cls in (None, TyperCommand):  # Typer records its default as the class
            command.cls = Command
    for group in app.registered_groups:
        instance = group.typer_instance
        assert instance is not None
        if _unset(group.cls) and _unset(instance.info.cls):
            group.cls = Group
        adopt(instance)


def _unset(cls: object) -> bool:
    return cls is None or cls is TyperGroup or isinstance(cls, DefaultPlaceholder)


def arrange(command: _click.Command) -> None:
    """Put ``command``'s options in the order of their groups, and its subcommands' too.

    Typer's help shows the options without a group first (the command's own, and
    --help), then each group in the order its first option comes: sorting the options
    makes that Store location, Filters, Output, then the command's own groups, on every
    command, whatever order its function declares them in. Arguments keep theirs.
    """
    from convstore.cli.options import PANELS

    def rank(param: _click.Parameter) -> int:
        if not isinstance(param, TyperOption) or param.rich_help_panel is None:
            return 0
        if param.rich_help_panel in PANELS:
            return 1 + PANELS.index(param.rich_help_panel)
        return 1 + len(PANELS)

    command.params.sort(key=rank)  # stable: arguments, and options within a group, keep order
    if isinstance(command, TyperGroup):
        for subcommand in command.commands.values():
            arrange(subcommand)
