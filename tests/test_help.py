"""--help: plain text in one layout everywhere (as gh and kubectl write theirs), examples
everywhere, one order of option groups, and placeholders for values, none for flags."""

import re

import pytest
from typer.core import TyperGroup, TyperOption
from typer.main import get_command
from typer.testing import CliRunner

from convstore.cli import app as application
from convstore.cli import man_sections
from convstore.cli.app import app
from convstore.cli.options import PANELS

runner = CliRunner()
# Rich draws a command's help one column in from each edge of an 80-column terminal.
WIDTH = 80


def commands(group, path=()):
    for name, command in group.commands.items():
        yield " ".join((*path, name)), command
        if isinstance(command, TyperGroup):
            yield from commands(command, (*path, name))


COMMANDS = dict(commands(get_command(app)))


def words(text):
    return " ".join(text.split())


def help_text(*arguments):
    result = runner.invoke(app, [*arguments, "--help"], prog_name="convstore")
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_top_level_lists_each_command_by_its_own_first_paragraph():
    top = get_command(app)
    assert list(top.commands) == list(application.COMMANDS)
    for name, entry in application.COMMANDS.items():
        first_paragraph = (top.commands[name].help or "").split("\n\n")[0]
        assert entry.summary == words(first_paragraph), f"{name}: update COMMANDS in cli/app.py"


def test_the_top_level_help_is_plain_text_with_everything_an_operator_needs():
    page = help_text()
    assert page.startswith("Usage: convstore [OPTIONS] COMMAND [ARGS]...\n")
    assert "╭" not in page and "\x1b" not in page
    flat = words(page)
    for name, entry in application.COMMANDS.items():
        assert f"{name} {entry.summary}" in flat
    for option in ("--debug", "--version", "-h, --help"):
        assert re.search(rf"^  {re.escape(option)}  ", page, re.MULTILINE), option
    assert "--install-completion" not in page  # completions/ has the scripts
    for command, comment in application.EXAMPLES:
        assert f"{command}  " in page and comment in page
    for status, meaning in application.EXIT_STATUSES:
        assert re.search(rf"^  {status} +{re.escape(meaning)}$", page, re.MULTILINE), status
    assert max(len(line) for line in page.splitlines()) <= WIDTH
    assert "\n\n\n" not in page


def test_convstore_alone_prints_the_help_with_the_usage_status():
    result = runner.invoke(app, [], prog_name="convstore")
    assert result.exit_code == 2
    assert result.stdout == help_text()


def test_the_top_level_exit_statuses_are_those_the_man_page_explains():
    documented = [
        term
        for block in man_sections.EXIT_STATUS
        if isinstance(block, man_sections.Definitions)
        for term, _ in block.items
    ]
    assert [status for status, _ in application.EXIT_STATUSES] == documented


def test_an_unknown_command_is_a_usage_error_with_a_suggestion():
    result = runner.invoke(app, ["lst"], prog_name="convstore")
    assert result.exit_code == 2
    assert "(did you mean 'list'?)" in result.stderr


def headings(page):
    return re.findall(r"^(\S[^:\n]*):$", page, re.MULTILINE)


@pytest.mark.parametrize("path", COMMANDS)
def test_every_command_help_is_plain_text_in_the_top_level_s_layout(path):
    page = help_text(*path.split())
    assert page.startswith(f"Usage: convstore {path} [OPTIONS]")
    assert not re.search("[\x1b╭╰│─]", page), "no colour, no boxes"
    assert max(len(line) for line in page.splitlines()) <= WIDTH
    assert "\n\n\n" not in page and "\n  -h, --help" in page
    found = headings(page)
    arguments = [p for p in COMMANDS[path].params if not isinstance(p, TyperOption)]
    first = ["Arguments", "Options"] if arguments else ["Options"]
    assert found[: len(first)] == first, "arguments, then the options of no group"
    assert found[-1].startswith("Example")
    if isinstance(COMMANDS[path], TyperGroup):
        assert page.split("\n", 1)[0].endswith(" COMMAND [ARGS]...") and "Commands" in found


@pytest.mark.parametrize("path", COMMANDS)
def test_a_flag_shows_no_placeholder_and_a_value_a_type_or_its_choices(path):
    page = help_text(*path.split())
    assert "<bool>" not in page and "<str>" not in page
    for param in COMMANDS[path].params:
        if not isinstance(param, TyperOption):
            continue
        names = ", ".join(sorted(param.opts, key=lambda name: (name.startswith("--"), name)))
        term = re.search(rf"^  {re.escape(names)}(?: (\S+))?(?:  |\n)", page, re.MULTILINE)
        assert term, f"{path}: {names} is not in --help"
        if param.is_flag:
            assert term.group(1) is None, f"{path}: the flag {names} shows {term.group(1)}"
        else:
            assert re.fullmatch(r"[A-Z_]+|\{[^{}]+\}", term.group(1) or ""), term.group(0)


def test_choices_and_types_are_named_as_man_pages_name_them():
    page = help_text("list")
    for term in (
        "--format {table|json|jsonl|csv}",
        "--version {V0|V1}",
        "--limit INTEGER",
        "--file-store LOCATION",
        "--connect-timeout FLOAT",
        "--user TEXT",
    ):
        assert re.search(rf"^  {re.escape(term)}( |$)", page, re.MULTILINE), term
    assert re.search(r"^  --all  +Stream", page, re.MULTILINE)
    assert re.search(r"^  CONVERSATION_ID  +Conversation id", help_text("show"), re.MULTILINE)


@pytest.mark.parametrize("path", COMMANDS)
def test_option_groups_come_in_one_order_on_every_command(path):
    """Options without a group first (Typer's), then Store location, Filters, Output, then
    the command's own groups, whatever order the command declares them in."""
    options = [p for p in COMMANDS[path].params if isinstance(p, TyperOption)]
    shown = list(dict.fromkeys(p.rich_help_panel for p in options if p.rich_help_panel))
    shared = [panel for panel in shown if panel in PANELS]
    assert shared == [panel for panel in PANELS if panel in shared]
    assert shown[: len(shared)] == shared, f"{path}: its own groups come after {PANELS}"
    page = help_text(*path.split())
    assert [heading for heading in headings(page) if heading in PANELS] == shared


@pytest.mark.parametrize("path", COMMANDS)
def test_examples_fit_an_80_column_terminal(path):
    epilog = COMMANDS[path].epilog or ""
    assert "convstore" in epilog
    for line in epilog.splitlines():
        assert len(line) <= WIDTH - 2, f"{path}: {line!r} wraps in --help"
    page = help_text(*path.split())
    assert "Example" in page
    for line in epilog.strip("\n").splitlines():
        assert line.rstrip() in page, f"{path}: --help does not show {line!r} as written"
