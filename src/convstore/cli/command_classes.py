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
  command's run never sees those values.

Both rely on Typer internals (``_TyperParameter._runtime_param``, ``typer._coercion``);
tests/test_startup_imports.py fails if a Typer release changes them.

An epilog (the examples) is kept as written: Typer's Rich help dedents it by the margin
of its lines after the first (``inspect.cleandoc``), which would pull the example
commands under "Examples:" flush left whenever no other line starts in column 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from typer import _click
from typer._coercion import RuntimeParam
from typer.core import TyperCommand, TyperGroup, TyperOption, _TyperParameter
from typer.main import Typer
from typer.models import DefaultPlaceholder


@dataclass(frozen=True)
class _AsTyped(RuntimeParam):
    """A value left as the command line gave it."""

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: _click.Context) -> Any:
        return value


def _flag_off_by_default(option: TyperOption | None) -> TyperOption | None:
    if option is not None and option.default is None:
        option.default = False
    return option


@contextmanager
def _values_as_typed(command: _click.Command, ctx: _click.Context) -> Iterator[None]:
    """While completing, process ``command``'s parameters without coercing their values."""
    if not ctx.resilient_parsing:
        yield
        return
    # Should a Typer release store the coercion elsewhere, values are coerced as before:
    # slower (the import tests say so), never wrong.
    swapped = [
        param
        for param in command.get_params(ctx)
        if isinstance(param, _TyperParameter) and getattr(param, "_runtime_param", 0) is None
    ]
    for param in swapped:
        descriptor = param.type_descriptor
        param._runtime_param = _AsTyped(
            parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
        )
    try:
        yield
    finally:
        for param in swapped:
            param._runtime_param = None


def _as_written(epilog: str | None) -> str | None:
    # An empty first line makes the margin cleandoc takes off that of "Examples:": none.
    return None if epilog is None else "\n" + epilog.lstrip("\n")


class Command(TyperCommand):
    def __init__(self, name: str | None, *, epilog: str | None = None, **attrs: Any) -> None:
        super().__init__(name, epilog=_as_written(epilog), **attrs)

    def get_help_option(self, ctx: _click.Context) -> TyperOption | None:
        return _flag_off_by_default(super().get_help_option(ctx))

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        with _values_as_typed(self, ctx):
            return super().parse_args(ctx, args)


class Group(TyperGroup):
    def __init__(self, *, epilog: str | None = None, **attrs: Any) -> None:
        super().__init__(epilog=_as_written(epilog), **attrs)

    def get_help_option(self, ctx: _click.Context) -> TyperOption | None:
        return _flag_off_by_default(super().get_help_option(ctx))

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        with _values_as_typed(self, ctx):
            return super().parse_args(ctx, args)


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
