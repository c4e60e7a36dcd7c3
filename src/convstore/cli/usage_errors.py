"""Usage errors in one line, as every other convstore error: exit status 2.

click (inside Typer) reports a bad command line with the usage line, a hint and an
``Error:`` line, which Typer draws in a box, in pydantic's words when a value does not
convert ("Input should be a valid integer, unable to parse string as an integer").
convstore says what is wrong in its own words, and where to look, as kubectl does:

    convstore: invalid value 'x' for --limit: not an integer
    See 'convstore list --help' for usage.
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import IO, Any

from typer import _click
from typer._click.exceptions import BadParameter, MissingParameter, NoSuchOption, UsageError
from typer.core import TyperArgument

from convstore.cli.help_format import argument_name

# pydantic's error types for a number out of an option's range (min=, max=).
_BOUNDS = {
    "greater_than_equal": ("min", "at least"),
    "greater_than": ("min", "more than"),
    "less_than_equal": ("max", "at most"),
    "less_than": ("max", "less than"),
}
_NOT_A = {
    "int_parsing": "not an integer",
    "int_from_float": "not an integer",
    "float_parsing": "not a number",
}


class UsageLine(UsageError):
    """A usage error, shown as one line and a pointer to the command's --help."""

    def __init__(self, message: str, ctx: _click.Context | None) -> None:
        super().__init__(" ".join(message.split()), ctx)

    def show(self, file: IO[Any] | None = None) -> None:
        lines = [f"convstore: {self.message}"]
        if self.ctx is not None:
            lines.append(f"See '{self.ctx.command_path} --help' for usage.")
        _click.echo("\n".join(lines), file=file, err=file is None)


class NotAChoice(BadParameter):
    """A value that is none of its parameter's choices, found without pydantic."""

    def __init__(self, value: str, *, ctx: _click.Context, param: Any) -> None:
        super().__init__(f"{value!r} is not one of its choices", ctx, param)
        self.value = value


def one_line(error: UsageError) -> UsageLine:
    if isinstance(error, UsageLine):
        return error
    return UsageLine(describe(error), error.ctx)


def unknown_command(name: str, ctx: _click.Context, known: list[str]) -> UsageLine:
    message = f"unknown command {name!r} for {ctx.command_path!r}"
    guesses = get_close_matches(name, known)
    if guesses:
        message += f" (did you mean {_either(guesses)}?)"
    return UsageLine(message, ctx)


def describe(error: UsageError) -> str:
    """What is wrong, as a phrase that follows ``convstore: ``."""
    if isinstance(error, MissingParameter) and error.param is not None:
        return f"missing {_named(error.param)}"
    if isinstance(error, BadParameter) and error.param is not None:
        return _invalid(error)
    if isinstance(error, NoSuchOption):
        message = f"unknown option {error.option_name}"
        # click offers every name a little alike (--usr: --sort, --status, --user);
        # only the close ones are worth a guess, the closest first.
        guesses = get_close_matches(error.option_name, error.possibilities or [], cutoff=0.8)
        if guesses:
            message += f" (did you mean {_either(guesses)}?)"
        return message
    return _phrase(error.format_message())


def _invalid(error: BadParameter) -> str:
    param: Any = error.param
    value, reason = _value_and_reason(error, param)
    shown = f" {value!r}" if isinstance(value, str) else ""
    return f"invalid value{shown} for {_named(param, kind=False)}: {reason}"


def _value_and_reason(error: BadParameter, param: Any) -> tuple[Any, str]:
    choices = param.type_descriptor.choices
    if isinstance(error, NotAChoice):
        return error.value, _one_of(choices)
    details = _first_validation_error(error)
    if details is None:
        return None, _phrase(error.message)
    value, kind = details.get("input"), str(details.get("type"))
    if choices is not None:
        return value, _one_of(choices)
    if kind in _NOT_A:
        return value, _NOT_A[kind]
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        return value, f"it must be {words} {getattr(param, bound)}"  # as the option says
    return value, _phrase(str(details.get("msg", error.message)))


def _one_of(choices: Any) -> str:
    return f"use one of {', '.join(str(choice) for choice in choices)}"


def _first_validation_error(error: BadParameter) -> dict[str, Any] | None:
    """pydantic's account of a value Typer could not convert (what it raised from)."""
    errors = getattr(error.__cause__, "errors", None)
    if not callable(errors):
        return None
    found = errors()
    return dict(found[0]) if found else None


def _named(param: Any, *, kind: bool = True) -> str:
    if isinstance(param, TyperArgument):
        name = argument_name(param)
        return f"argument {name}" if kind else name
    name = max(param.opts, key=len)
    return f"option {name}" if kind else name


def _either(names: list[str]) -> str:
    quoted = [name if name.startswith("-") else repr(name) for name in names]
    return " or ".join(quoted)


def _phrase(message: str) -> str:
    """click's sentence as a phrase after ``convstore: ``: lower case, no full stop."""
    text = "; ".join(line.strip() for line in message.strip().splitlines() if line.strip())
    text = text.rstrip(".")
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    return text
