"""man/convstore.1 and one page per command (convstore-list.1, ...), generated from the app.

    python -m convstore.cli.manpages [--check] [DIRECTORY]

Synopsis, arguments, options (in the groups --help shows), defaults and examples come
from the Typer app, so a page cannot drift from its command; what --help cannot hold
(exit statuses, environment, files, cron lines) is written in ``man_sections``. The
pages use only man(7) macros that groff and mandoc render alike, and carry no date,
so one app always gives the same bytes.

click-man is not used: it drives the ``click`` package, and Typer (0.29 and later)
builds its commands on a vendored copy of Click whose objects are not ``click``'s.
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import typer
from typer.core import TyperGroup
from typer.main import get_command

from convstore import __version__
from convstore.cli import man_sections
from convstore.cli.generated_files import command_line
from convstore.cli.help_format import value_name
from convstore.cli.man_sections import Block, Definitions, Paragraph

GENERATED_BY = "python -m convstore.cli.manpages"
DEFAULT_PANEL = "Options"
EXAMPLE_HEADING = re.compile(r"^Examples?:$")
# ```literal``` and *placeholder* in written prose (see man_sections).
INLINE_MARK = re.compile(r"`([^`]+)`|\*([^*\s][^*]*)\*")


# Roff


def escape(text: str) -> str:
    """Text as roff prints it: a backslash is a backslash, a hyphen a hyphen-minus.

    Every ``-`` becomes ``\\-`` so that options, ids and commands copied from the page
    still work in a shell (a bare ``-`` may be typeset as a Unicode hyphen).
    """
    return text.replace("\\", "\\e").replace("-", "\\-")


def bold(text: str) -> str:
    return f"\\fB{escape(text)}\\fR"


def italic(text: str) -> str:
    return f"\\fI{escape(text)}\\fR"


def inline(text: str, *, plain: Callable[[str], str] = escape) -> str:
    """Written prose with its two marks: ```literal``` bold, ``*placeholder*`` italic.

    ``plain`` renders the unmarked text: escaped as it is, or bold for a term.
    """
    pieces: list[str] = []
    position = 0
    for match in INLINE_MARK.finditer(text):
        pieces.append(plain(text[position : match.start()]) if match.start() > position else "")
        literal, placeholder = match.groups()
        pieces.append(bold(literal) if literal is not None else italic(placeholder))
        position = match.end()
    if position < len(text):
        pieces.append(plain(text[position:]))
    return "".join(pieces)


def term(text: str) -> str:
    """A defined term is bold, but for its placeholders."""
    return inline(text, plain=bold)


class Page:
    """The lines of one man page; text lines are guarded against reading as requests."""

    def __init__(self, title: str, name: str, summary: str) -> None:
        self.lines = [
            f'.TH {escape(title.upper())} 1 "" "convstore {__version__}" "User Commands"',
            # Ids, paths, URLs and variable names must not break at a hyphenation point,
            # and ragged lines read better than stretched ones around them.
            ".nh",
            ".ad l",
        ]
        self.section("NAME")
        self.text(f"{escape(name)} \\- {escape(summary)}")

    def section(self, title: str) -> None:
        self.lines.append(f".SH {title}")

    def subsection(self, title: str) -> None:
        self.lines.append(f'.SS "{title}"')

    def text(self, roff: str) -> None:
        for line in roff.split("\n"):
            # A text line that starts with . or ' would be read as a request.
            self.lines.append("\\&" + line if line.startswith((".", "'")) else line)

    def paragraph(self, roff: str) -> None:
        self.lines.append(".PP")
        self.text(roff)

    def tagged(self, label: str, roff: str) -> None:
        self.lines.append(".TP")
        self.text(label)
        self.text(roff)

    def example(self, lines: Iterable[str], caption: str = "") -> None:
        if caption:
            self.paragraph(inline(caption))
        else:
            self.lines.append(".PP")
        self.lines += [".RS 4", ".EX"]
        self.text("\n".join(escape(line) for line in lines))
        self.lines += [".EE", ".RE"]

    def blocks(self, blocks: Iterable[Block]) -> None:
        for block in blocks:
            if isinstance(block, Paragraph):
                self.paragraph(inline(block.text))
            elif isinstance(block, Definitions):
                for name, explanation in block.items:
                    self.tagged(term(name), inline(explanation))
            else:
                self.example(block.lines, block.caption)

    def see_also(self, references: list[str]) -> None:
        self.section("SEE ALSO")
        for index, reference in enumerate(references):
            name, section = reference.rstrip(")").split("(")
            comma = "," if index < len(references) - 1 else ""
            self.lines.append(f".BR {escape(name)} ({section}){comma}")

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


# From the app to pages


def pages(app: typer.Typer) -> dict[str, str]:
    """File name -> page: the program's, then one for each visible command and group."""
    group = get_command(app)
    root = typer.Context(group, info_name=app.info.name or "convstore", **group.context_settings)
    below = list(_descendants(root))
    result = {f"{_page_name(root)}.1": program_page(root, [_reference(c) for c in below])}
    for context in below:
        result[f"{_page_name(context)}.1"] = command_page(context)
    return result


def _children(context: typer.Context) -> list[typer.Context]:
    command = context.command
    if not isinstance(command, TyperGroup):
        return []
    return [
        typer.Context(child, info_name=name, parent=context)
        for name, child in command.commands.items()
        if not child.hidden
    ]


def _descendants(context: typer.Context) -> Iterator[typer.Context]:
    for child in _children(context):
        yield child
        yield from _descendants(child)


def _page_name(context: typer.Context) -> str:
    return _stem(context.command_path)


def _stem(command_path: str) -> str:
    """convstore, convstore-list, convstore-db-info: the command path, as git names pages."""
    return command_path.replace(" ", "-")


def _reference(context: typer.Context) -> str:
    return f"{_page_name(context)}(1)"


def program_page(context: typer.Context, references: list[str]) -> str:
    program = _page_name(context)
    page = Page(program, program, man_sections.NAME)
    page.section("SYNOPSIS")
    page.text(_synopsis(context))
    page.section("DESCRIPTION")
    _help_paragraphs(page, context.command.help)
    page.blocks(man_sections.DESCRIPTION)
    _commands(page, context)
    page.section("OPTIONS")
    _options(page, context, grouped=False)
    _written(page, "EXIT STATUS", man_sections.EXIT_STATUS)
    _written(page, "ENVIRONMENT", man_sections.ENVIRONMENT)
    _written(page, "FILES", man_sections.FILES)
    _written(page, "EXAMPLES", man_sections.EXAMPLES)
    page.see_also([*sorted(references), *man_sections.SEE_ALSO_EXTRA])
    return page.render()


def command_page(context: typer.Context) -> str:
    """The page of a command, or of a group of commands (``convstore db``)."""
    command = context.command
    name = _page_name(context)
    page = Page(name, name, _summary(command))
    page.section("SYNOPSIS")
    page.text(_synopsis(context))
    page.section("DESCRIPTION")
    _help_paragraphs(page, command.help)
    path = context.command_path.split(" ", 1)[1]
    page.blocks(man_sections.COMMAND_NOTES.get(path, ()))
    _commands(page, context)
    arguments = [p for p in command.get_params(context) if p.param_type_name == "argument"]
    if arguments:
        page.section("ARGUMENTS")
        for argument in arguments:
            dots = "..." if argument.nargs == -1 else ""
            page.tagged(italic(argument.name or "") + dots, escape(_help(argument, context)))
    page.section("OPTIONS")
    _options(page, context, grouped=True)
    if command.epilog:
        page.section("EXAMPLES")
        _epilog(page, command.epilog)
    _written(page, "EXIT STATUS", man_sections.EXIT_STATUS)
    parent = context.parent
    above = [] if parent is None else [f"{_stem(parent.command_path)}(1)"]
    page.see_also([*above, *(_reference(child) for child in _children(context))])
    return page.render()


def _commands(page: Page, context: typer.Context) -> None:
    children = _children(context)
    if children:
        page.section("COMMANDS")
        for child in children:
            summary = _first_paragraph(child.command)
            page.tagged(f"{bold(_page_name(child))}(1)", escape(summary))


def _written(page: Page, title: str, blocks: tuple[Block, ...]) -> None:
    page.section(title)
    page.blocks(blocks)


def _synopsis(context: typer.Context) -> str:
    words = [bold(context.command_path), f"[{italic('OPTIONS')}]"]
    if isinstance(context.command, TyperGroup):
        return " ".join([*words, italic("COMMAND"), f"[{italic('ARGS')}]..."])
    for param in context.command.get_params(context):
        if param.param_type_name != "argument":
            continue
        word = italic(param.name or "")
        word = word if param.required else f"[{word}]"
        words.append(word + ("..." if param.nargs == -1 else ""))
    return " ".join(words)


def _options(page: Page, context: typer.Context, *, grouped: bool) -> None:
    """Options in --help's groups: the unnamed group first, then each panel as it appears."""
    panels: dict[str, list[Any]] = {DEFAULT_PANEL: []}
    for param in context.command.get_params(context):
        if param.param_type_name == "option" and not getattr(param, "hidden", False):
            panel = getattr(param, "rich_help_panel", None) or DEFAULT_PANEL
            panels.setdefault(panel, []).append(param)
    for panel, options in panels.items():
        if not options:
            continue
        if grouped:
            page.subsection(panel)
        for option in options:
            page.tagged(_option_term(option, context), escape(_help(option, context)))


def _option_term(option: Any, context: typer.Context) -> str:
    names = sorted([*option.opts, *option.secondary_opts], key=lambda n: (n.startswith("--"), n))
    flags = ", ".join(bold(name) for name in names)
    value = value_name(option)  # as --help shows it
    return f"{flags} {italic(value)}" if value else flags


def _help(param: Any, context: typer.Context) -> str:
    """The help text --help shows, as plain text, with its [default: ...] and [required]."""
    param.help = _plain(param.help or "")  # a fresh command per generation: no one else sees it
    record = param.get_help_record(context)
    return " ".join(record[1].split()) if record else ""


def _plain(text: str) -> str:
    # The help as --help shows it: plain text (the app has no Rich markup mode).
    return inspect.cleandoc(text)


def _help_paragraphs(page: Page, help_text: str | None) -> None:
    for paragraph in _plain(help_text or "").split("\n\n"):
        if paragraph.strip():
            page.paragraph(escape(paragraph.replace("\b\n", "").strip()))


def _first_paragraph(command: Any) -> str:
    return " ".join(_plain(command.help or "").split("\n\n")[0].split())


def _summary(command: Any) -> str:
    """The first sentence of the help, in the lower case a NAME line takes."""
    sentence = _first_paragraph(command).split(". ")[0].rstrip(".")
    first_word = sentence.split(" ", 1)[0]
    if first_word[1:].islower():  # "List" becomes "list"; "V0" and "SQL" stay
        sentence = sentence[0].lower() + sentence[1:]
    return sentence


def _epilog(page: Page, epilog: str) -> None:
    """A Typer epilog: indented paragraphs are example commands, the rest prose.

    An "Examples:" heading, alone or over its example lines, is left to the section's.
    """
    # Not cleandoc: it would strip the indentation that marks the example lines.
    for paragraph in epilog.strip("\n").split("\n\n"):
        lines = paragraph.split("\n")
        if EXAMPLE_HEADING.match(lines[0].strip()):
            lines = lines[1:]
        if not lines:
            continue
        if all(line.startswith((" ", "\t")) for line in lines):
            page.example(textwrap.dedent("\n".join(lines)).split("\n"))
        else:
            page.paragraph(escape(_plain("\n".join(lines))))


def app_pages() -> dict[str, str]:
    from convstore.cli.app import app

    return pages(app)


def main() -> int:
    return command_line(
        app_pages,
        command=GENERATED_BY,
        description="Write the man pages: convstore.1 and one per command.",
        default_directory="man",
    )


if __name__ == "__main__":
    sys.exit(main())
