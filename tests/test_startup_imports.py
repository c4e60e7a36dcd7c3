"""What `--help` and a Tab import: facts about a fresh process, not timings.

benchmarks/startup.py has the timings. Typer 0.29 coerces every parameter value through
a pydantic TypeAdapter, so any request that parses a command's options (its --help, a
Tab after its name) imports pydantic through Typer; convstore's own share is asserted
here: no SQLAlchemy, no driver, no model or store module until a command runs.
"""

import json
import subprocess
import sys

from typer.core import TyperGroup
from typer.main import get_command

from convstore.cli.app import app

# Several requests in one process: what the union imports, each of them imports.
DRIVER = """
import json, os, sys
sys.argv[0] = "convstore"
from convstore.cli.app import app
for arguments, environment in json.loads(sys.argv[1]):
    os.environ.update(environment)
    try:
        app(arguments, prog_name="convstore")
    except SystemExit:
        pass
    for name in environment:
        del os.environ[name]
with open(sys.argv[2], "w") as report:
    json.dump(sorted(sys.modules), report)
"""
HEAVY = ("sqlalchemy", "psycopg", "convstore.model", "convstore.stores", "convstore.jobs")


def imports(tmp_path, *requests):
    report = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(requests), str(report)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return set(json.loads(report.read_text()))


def heavy(modules):
    return sorted(m for m in modules if m.startswith(HEAVY))


def completion(line):
    words = line.split(" ")
    return [[], {"_CONVSTORE_COMPLETE": "complete_bash", "COMP_WORDS": line,
                 "COMP_CWORD": str(len(words) - 1)}]  # fmt: skip


def command_paths(group, path=()):
    for name, command in group.commands.items():
        yield [*path, name]
        if isinstance(command, TyperGroup):
            yield from command_paths(command, (*path, name))


def test_help_imports_neither_sqlalchemy_nor_pydantic(tmp_path):
    modules = imports(tmp_path, [["--help"], {}])
    assert "sqlalchemy" not in modules
    assert "pydantic" not in modules
    assert heavy(modules) == []


def test_command_help_and_completion_import_nothing_heavy(tmp_path):
    helps = [[[*path, "--help"], {}] for path in command_paths(get_command(app))]
    tabs = [
        completion("convstore "),
        completion("convstore list --"),
        completion("convstore list --format "),
        completion("convstore list --trigger "),
        completion("convstore delete --version "),
    ]
    assert heavy(imports(tmp_path, *helps, *tabs)) == []


def test_live_completion_leaves_the_store_query_to_a_child(tmp_path):
    modules = imports(tmp_path, completion(f"convstore show --db {tmp_path / 'missing.db'} "))
    assert "convstore.cli.completion" in modules
    assert heavy(modules) == []
