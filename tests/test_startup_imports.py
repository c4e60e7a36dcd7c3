"""What `--help` and a Tab import: facts about a fresh process, not timings.

benchmarks/startup.py has the timings. The facts: `convstore --help` (and `convstore`,
`convstore --version`) import nothing Typer itself does not, but convstore's top level;
no Rich (Typer's help renderer), no pydantic (Typer's value coercion), no command
module. A command's --help imports its own module, and neither Rich nor pydantic: all
help is plain text. A usage error imports no Rich either, and `convstore completion`
(run by shells' startup files) nothing heavy. A Tab imports neither Rich nor
pydantic, and reads live values in a child process, so nothing of SQLAlchemy, the
model or the stores is imported.
"""

import json
import subprocess
import sys

import pytest
from typer.core import TyperGroup
from typer.main import get_command

from convstore.cli.app import COMMANDS, app

# Each request as the console script runs it; several in one process, so what the union
# imports, each of them imports. With no requests: the floor, `import typer`.
DRIVER = """
import json, os, sys
requests, report = json.loads(sys.argv[1]), sys.argv[2]
if not requests:
    import typer
else:
    from convstore.cli.__main__ import main
for arguments, environment in requests:
    os.environ.update(environment)
    sys.argv = ["convstore", *arguments]
    try:
        main()
    except SystemExit:
        pass
    for name in environment:
        del os.environ[name]
with open(report, "w") as modules:
    json.dump(sorted(sys.modules), modules)
"""
TOP_LEVEL = {
    "convstore",
    "convstore.cli",
    "convstore.cli.__main__",
    "convstore.cli.app",
    "convstore.cli.command_classes",
    "convstore.cli.help_format",
    "convstore.errors",
}
RICH = ("rich", "typer.rich_utils")
PYDANTIC = ("pydantic", "typer._adapters")
HEAVY = (
    "sqlalchemy",
    "psycopg",
    "obstore",
    "convstore.model",
    "convstore.stores",
    "convstore.jobs",
    "convstore.objects",
)
COMMAND_MODULES = tuple(f"convstore.cli.{entry.module}" for entry in COMMANDS.values())


def imports(tmp_path, *requests):
    report = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(requests), str(report)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return set(json.loads(report.read_text()))


@pytest.fixture(scope="module")
def floor(tmp_path_factory):
    return imports(tmp_path_factory.mktemp("floor"))


def among(modules, prefixes):
    return sorted(m for m in modules if m.startswith(prefixes))


def tab(line, shell="bash"):
    if shell == "bash":
        words = line.split(" ")
        environment = {"COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    else:
        environment = {"_TYPER_COMPLETE_ARGS": line}
        if shell == "fish":
            environment["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    return [[], {"_CONVSTORE_COMPLETE": f"complete_{shell}", **environment}]


def command_paths(group, path=()):
    for name, command in group.commands.items():
        yield [*path, name]
        if isinstance(command, TyperGroup):
            yield from command_paths(command, (*path, name))


def test_the_top_level_help_imports_nothing_typer_does_not_but_convstore_s_top(tmp_path, floor):
    modules = imports(tmp_path, [["--help"], {}], [[], {}], [["--version"], {}], [["-h"], {}])
    added = modules - floor
    # Typer imports a module or two of its own on the way (its click's help formatter).
    assert {m for m in added if not m.startswith("typer.")} <= {*TOP_LEVEL, "__future__"}
    assert among(modules, RICH) == []
    assert among(modules, PYDANTIC) == []
    assert among(modules, HEAVY) == []
    assert among(modules, COMMAND_MODULES) == []


@pytest.mark.parametrize("path", [*command_paths(get_command(app))], ids=" ".join)
def test_a_command_help_imports_its_module_and_neither_rich_nor_pydantic(tmp_path, path):
    modules = imports(tmp_path, [[*path, "--help"], {}])
    assert among(modules, RICH) == []
    assert among(modules, PYDANTIC) == []
    assert among(modules, HEAVY) == []
    assert among(modules, COMMAND_MODULES) == [f"convstore.cli.{COMMANDS[path[0]].module}"]


def test_a_usage_error_imports_no_rich(tmp_path):
    modules = imports(
        tmp_path,
        [["lst"], {}],
        [["list", "--frobnicate"], {}],
        [["show"], {}],
        [["list", "--limit", "x"], {}],  # a value Typer's coercion (pydantic) refuses
        [["completion", "tcsh"], {}],
    )
    assert among(modules, RICH) == []
    assert among(modules, HEAVY) == []


def test_printing_a_completion_script_imports_nothing_heavy(tmp_path):
    modules = imports(tmp_path, [["completion", "bash"], {}], [["completion", "zsh"], {}])
    assert among(modules, RICH + PYDANTIC + HEAVY) == []
    assert among(modules, COMMAND_MODULES) == ["convstore.cli.completion_cmd"]


def test_completion_imports_neither_rich_nor_pydantic(tmp_path):
    modules = imports(
        tmp_path,
        tab("convstore "),
        tab("convstore ", shell="zsh"),
        tab("convstore ", shell="fish"),
        tab("convstore list --"),
        tab("convstore list --us", shell="zsh"),
        tab("convstore list --st", shell="fish"),
        tab("convstore list --format "),
        tab("convstore list --trigger "),
        tab("convstore delete --version "),
        tab("convstore db info --format ", shell="zsh"),
        tab("convstore verify --fail-on "),
    )
    assert among(modules, RICH) == []
    assert among(modules, PYDANTIC) == []
    assert among(modules, HEAVY) == []


def test_completing_a_command_name_imports_no_command_module(tmp_path):
    modules = imports(tmp_path, tab("convstore "), tab("convstore ", shell="zsh"))
    assert among(modules, COMMAND_MODULES) == []


def test_live_completion_leaves_the_store_query_to_a_child(tmp_path):
    modules = imports(tmp_path, tab(f"convstore show --db {tmp_path / 'missing.db'} "))
    assert "convstore.cli.completion" in modules
    assert among(modules, RICH + PYDANTIC + HEAVY) == []


def test_a_database_listing_imports_nothing_of_files_events_or_deletion(tmp_path):
    """A page of `list --db` needs the SQL store and the model: not the file store (its
    cache, its workers), the events package, nor what deleting takes."""
    from convstore.sample import write_sample

    database = write_sample(tmp_path / "sample", files=2, rows=3).database
    modules = imports(tmp_path, [["list", "--db", str(database), "--format", "jsonl"], {}])
    assert "convstore.stores.sql" in modules  # it did list the database
    unneeded = ("convstore.stores.files", "convstore.stores.v0_cache", "convstore.events")
    assert not {m for m in modules if m.startswith((*unneeded, "convstore.stores.deletion"))}
