"""A bad command line is one line on stderr in convstore's words, a pointer to the
command's --help, exit status 2, and nothing on stdout: no usage block, no box, no
pydantic sentence."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convstore.cli.app import app

runner = CliRunner()
CONVSTORE = Path(sys.executable).with_name("convstore")


@pytest.mark.parametrize(
    ("arguments", "line", "see"),
    [
        (
            ["list", "--limit", "x"],
            "invalid value 'x' for --limit: not an integer",
            "convstore list",
        ),
        (
            ["list", "--limit", "0"],
            "invalid value '0' for --limit: it must be at least 1",
            "convstore list",
        ),
        (
            ["list", "--connect-timeout", "soon"],
            "invalid value 'soon' for --connect-timeout: not a number",
            "convstore list",
        ),
        (
            ["list", "--format", "bogus"],
            "invalid value 'bogus' for --format: use one of table, json, jsonl, csv",
            "convstore list",
        ),
        (
            ["verify", "--fail-on", "fatal"],
            "invalid value 'fatal' for --fail-on: use one of error, warning, info",
            "convstore verify",
        ),
        (["show"], "missing argument CONVERSATION_ID", "convstore show"),
        (["rename", "abc"], "missing argument TITLE", "convstore rename"),
        (
            ["list", "--usr", "alice"],
            "unknown option --usr (did you mean --user?)",
            "convstore list",
        ),
        (["list", "--frobnicate"], "unknown option --frobnicate", "convstore list"),
        (["db", "info", "--db"], "option '--db' requires an argument", "convstore db info"),
        (["list", "extra"], "got unexpected extra argument(s) (extra)", "convstore list"),
        (
            ["lst"],
            "unknown command 'lst' for 'convstore' (did you mean 'list'?)",
            "convstore",
        ),
        (["db", "drop"], "unknown command 'drop' for 'convstore db'", "convstore db"),
        (["--frobnicate"], "unknown option --frobnicate", "convstore"),
        (
            ["completion", "tcsh"],
            "invalid value 'tcsh' for SHELL: use one of bash, zsh, fish",
            "convstore completion",
        ),
    ],
)
def test_a_usage_error_is_one_line_and_a_pointer_to_help(arguments, line, see):
    result = runner.invoke(app, arguments, prog_name="convstore")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"convstore: {line}\nSee '{see} --help' for usage.\n"


def test_a_value_with_a_newline_stays_on_one_line():
    result = runner.invoke(app, ["list", "--limit", "1\n2"], prog_name="convstore")
    assert result.exit_code == 2
    assert (
        result.stderr.splitlines()[0]
        == r"convstore: invalid value '1\n2' for --limit: not an integer"
    )
    assert len(result.stderr.splitlines()) == 2


def test_the_installed_command_prints_the_same_line(tmp_path):
    """The console script (convstore.cli.__main__), not only the app under CliRunner."""
    result = subprocess.run(
        [str(CONVSTORE), "list", "--format", "yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "convstore: invalid value 'yaml' for --format: use one of table, json, jsonl, csv\n"
        "See 'convstore list --help' for usage.\n"
    )


def test_a_group_without_a_command_prints_its_help_with_the_usage_status():
    result = runner.invoke(app, ["db"], prog_name="convstore")
    assert result.exit_code == 2
    assert result.stdout.startswith("Usage: convstore db [OPTIONS] COMMAND [ARGS]...\n")
    assert result.stdout == runner.invoke(app, ["db", "--help"], prog_name="convstore").stdout
