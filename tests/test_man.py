"""The man pages and --help: up to date with the app, clean under groff, complete.

groff comes from Debian's groff-base, which scripts/check installs; without it the
rendering test fails with a message saying so, as the PostgreSQL tests do.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.core import TyperGroup
from typer.main import get_command

from convstore import config
from convstore.cli import man_sections, manpages
from convstore.cli.app import app
from convstore.cli.generated_files import stale
from convstore.cli.options import FILTER_PANEL, OUTPUT_PANEL, STORE_PANEL
from convstore.errors import ConvstoreError
from convstore.objects import addresses

MAN = Path(__file__).resolve().parent.parent / "man"


def commands(group, path=()):
    """Every visible command and group below ``group``, by its path ("list", "db info")."""
    for name, command in group.commands.items():
        if not command.hidden:
            yield " ".join((*path, name)), command
            if isinstance(command, TyperGroup):
                yield from commands(command, (*path, name))


COMMANDS = dict(commands(get_command(app)))
# Options declared once in cli/options.py, and the group --help shows each of them in.
RECURRING = {
    "--file-store": STORE_PANEL,
    "--db": STORE_PANEL,
    "--config": STORE_PANEL,
    "--user": FILTER_PANEL,
    "--version": FILTER_PANEL,
    "--format": OUTPUT_PANEL,
    "--sort": OUTPUT_PANEL,
    "--fail-on": OUTPUT_PANEL,
}


@pytest.fixture(scope="module")
def pages():
    return manpages.app_pages()


def test_checked_in_pages_match_a_fresh_generation(pages):
    outdated = stale(MAN, pages)
    assert not outdated, f"man/{outdated[0]} is out of date: run scripts/generate"
    names = {"convstore.1", *(f"convstore-{path.replace(' ', '-')}.1" for path in COMMANDS)}
    assert set(pages) == names


def test_groff_renders_every_page_without_a_warning(pages):
    if shutil.which("groff") is None:
        pytest.fail("groff is missing: install groff-base (scripts/check does)", pytrace=False)
    for name, page in pages.items():
        result = subprocess.run(
            ["groff", "-man", "-Tutf8", "-ww", "-z"],
            input=page,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0 and result.stderr == "", f"{name}: {result.stderr}"


def test_the_program_page_has_the_written_sections(pages):
    page = pages["convstore.1"]
    for section in ("DESCRIPTION", "COMMANDS", "OPTIONS", "EXIT STATUS", "ENVIRONMENT", "FILES"):
        assert f"\n.SH {section}\n" in page
    for variable in (
        "CONVSTORE_FILE_STORE",
        "CONVSTORE_DB",
        "FILE_STORE_PATH",
        "OH_PERSISTENCE_DIR",
        "DB_HOST",
        "DB_PORT",
        "DB_NAME",
        "DB_USER",
        "DB_PASS",
        "PGPASSWORD",
        "NO_COLOR",
    ):
        assert f"\\fB{variable}\\fR" in page, variable
    assert "convstore verify \\-\\-fail\\-on" in page
    assert "convstore delete \\-\\-older\\-than" in page
    for path in COMMANDS:
        assert f".BR {manpages.escape('convstore-' + path.replace(' ', '-'))} (1)" in page


def test_every_setting_convstore_reads_is_documented(pages):
    page = pages["convstore.1"]
    sources = (config.__file__, addresses.__file__)  # addresses: OpenHands' bucket variables
    variables = {
        name
        for source in sources
        for name in re.findall(r'"([A-Z][A-Z0-9]*_[A-Z0-9_]+)"', Path(source).read_text())
    }
    assert {"CONVSTORE_DB", "DB_HOST", "FILE_STORE", "AWS_S3_ENDPOINT"} <= variables
    for variable in variables:
        assert manpages.bold(variable) in page, f"ENVIRONMENT does not document {variable}"
    for key in config.CONFIG_KEYS:
        assert manpages.bold(key) in page, f"FILES does not document the config key {key}"


def test_every_exit_status_an_error_carries_is_documented():
    documented = {
        int(term)
        for block in man_sections.EXIT_STATUS
        if isinstance(block, man_sections.Definitions)
        for term, _ in block.items
    }
    statuses = {ConvstoreError.exit_status}
    pending = ConvstoreError.__subclasses__()
    while pending:
        error = pending.pop()
        statuses.add(error.exit_status)
        pending += error.__subclasses__()
    assert statuses <= documented


@pytest.mark.parametrize("path", COMMANDS)
def test_every_command_page_shows_its_options_and_examples(path, pages):
    page = pages[f"convstore-{path.replace(' ', '-')}.1"]
    for param in COMMANDS[path].params:
        for option in getattr(param, "opts", ()):
            if option.startswith("-"):
                assert manpages.bold(option) in page, option
    assert "\n.SH EXAMPLES\n" in page and "\n.EX\n" in page


@pytest.mark.parametrize("path", COMMANDS)
def test_every_command_help_has_examples_and_recurring_options_in_their_groups(path):
    command = COMMANDS[path]
    assert f"convstore {path}" in (command.epilog or ""), f"{path}: no example in --help"
    for param in command.params:
        for option in getattr(param, "opts", ()):
            if option in RECURRING:
                assert param.rich_help_panel == RECURRING[option], f"{path} {option}"
