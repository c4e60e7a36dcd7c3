"""Shell completion: the checked-in scripts, Typer's protocol, and live values from stores.

Enumerations are asked in-process (CliRunner sets the protocol's environment); live
values are asked of the real console script in a fresh process, as a shell asks, against
a real sample store and against stores that cannot be reached.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from convstore.cli import completion_scripts
from convstore.cli.app import app
from convstore.cli.completion import KNOWN_TRIGGERS
from convstore.cli.generated_files import stale
from convstore.cli.options import FailOnOption
from convstore.config import Settings
from convstore.model import KNOWN_TRIGGERS as MODEL_TRIGGERS
from convstore.sample import GENERATIONS, write_sample
from convstore.stores.base import Query
from convstore.stores.catalog import open_catalog

REPOSITORY = Path(__file__).resolve().parent.parent
CONVSTORE = Path(sys.executable).with_name("convstore")
# Where convstore would otherwise look for stores: a test sees only the stores it names.
STORE_VARIABLES = (
    "CONVSTORE_FILE_STORE",
    "CONVSTORE_DB",
    "CONVSTORE_COMPLETION_TIMEOUT",
    "FILE_STORE_PATH",
    "OH_PERSISTENCE_DIR",
    "DB_HOST",
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    summary = write_sample(tmp_path_factory.mktemp("completion") / "demo", files=30, rows=16)
    return summary.file_store, summary.database


@pytest.fixture(scope="module")
def records(sample):
    file_store, database = sample
    catalog = open_catalog(Settings.resolve(file_store=file_store, db=str(database)))
    try:
        return list(catalog.search(Query(sub_conversations=True)))
    finally:
        catalog.close()


def protocol_environment(shell, line):
    """What completions/<shell script> sets when the cursor is at the end of ``line``."""
    if shell == "bash":
        words = line.split(" ")
        return {"COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    environment = {"_TYPER_COMPLETE_ARGS": line}
    if shell == "fish":
        environment["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    return environment


def complete_in_process(line, shell="bash", application=app):
    environment = {"_CONVSTORE_COMPLETE": f"complete_{shell}", **protocol_environment(shell, line)}
    result = CliRunner().invoke(application, [], env=environment, prog_name="convstore")
    assert result.exit_code == 0, result.output
    return result.stdout.split("\n")[:-1] if result.stdout.strip() else []


def complete(line, shell="bash", home=None, **variables):
    """A real completion request: a fresh convstore process, as the shell starts it."""
    environment = {key: value for key, value in os.environ.items() if key not in STORE_VARIABLES}
    environment |= {
        "_CONVSTORE_COMPLETE": f"complete_{shell}",
        **protocol_environment(shell, line),
        **variables,
    }
    if home is not None:
        environment["HOME"] = str(home)
    return subprocess.run(
        [str(CONVSTORE)], env=environment, capture_output=True, text=True, timeout=60
    )


def store_flags(sample):
    file_store, database = sample
    return f"--file-store {file_store} --db {database}"


# The scripts


def test_checked_in_scripts_match_a_fresh_generation():
    outdated = stale(REPOSITORY / "completions", completion_scripts.app_scripts())
    assert not outdated, f"completions/{outdated[0]} is out of date: run scripts/generate"


def test_bash_script_completes_an_id_through_the_real_command(sample, records):
    prefix = records[0].conversation_id[:3]
    words = ["convstore", "show", *store_flags(sample).split(), prefix]
    script = (
        f"source {REPOSITORY / 'completions' / 'convstore.bash'}\n"
        f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}\n"
        "_convstore_completion convstore\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    environment = {**os.environ, "PATH": f"{CONVSTORE.parent}{os.pathsep}{os.environ['PATH']}"}
    environment["CONVSTORE_COMPLETION_TIMEOUT"] = "30"  # values, not speed, are tested here
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    expected = {r.conversation_id for r in records if r.conversation_id.startswith(prefix)}
    assert set(result.stdout.split()) == expected
    assert result.stderr == ""


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_completion_command_prints_the_checked_in_script(shell):
    names = {"bash": "convstore.bash", "zsh": "_convstore", "fish": "convstore.fish"}
    result = CliRunner().invoke(app, ["completion", shell], prog_name="convstore")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout == (REPOSITORY / "completions" / names[shell]).read_text()


def test_a_bash_that_sources_the_completion_command_completes_through_it():
    """`source <(convstore completion bash)`, as README says, then a Tab."""
    script = (
        "source <(convstore completion bash)\n"
        "complete -p convstore\n"
        "COMP_WORDS=(convstore completion ''); COMP_CWORD=2\n"
        "_convstore_completion convstore\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    environment = {**os.environ, "PATH": f"{CONVSTORE.parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stderr == ""
    registration, *candidates = result.stdout.splitlines()
    assert registration == "complete -o default -F _convstore_completion convstore"
    assert candidates == ["bash", "zsh", "fish"]


# Commands, options, enumerations


def test_subcommands_complete():
    visible = {name for name, command in get_command(app).commands.items() if not command.hidden}
    assert set(complete_in_process("convstore ")) == visible
    assert complete_in_process("convstore sh") == ["show"]


def test_option_names_complete_with_their_help_for_zsh():
    names = complete_in_process("convstore list --")
    assert {"--user", "--trigger", "--sort", "--format", "--file-store", "--db"} <= set(names)
    zsh = "\n".join(complete_in_process("convstore list --us", shell="zsh"))
    assert '"--user":"Only this user\'\'s conversations\\\\: exactly this user id' in zsh


@pytest.mark.parametrize(
    ("line", "values"),
    [
        (
            "convstore list --sort ",
            ["created", "-created", "updated", "-updated", "title", "-title"],
        ),
        ("convstore list --format ", ["table", "json", "jsonl", "csv"]),
        ("convstore show --format ", ["table", "json"]),
        ("convstore list --version ", ["V0", "V1"]),
        ("convstore delete --version V", ["V0", "V1"]),
        ("convstore list --trigger ", list(KNOWN_TRIGGERS)),
        ("convstore list --trigger s", ["slack", "suggested_task"]),
    ],
)
def test_enumerated_values_complete(line, values):
    assert complete_in_process(line) == values


def test_fail_on_completes_severities_wherever_it_is_declared():
    probe = typer.Typer()

    @probe.command()
    def verify(fail_on: FailOnOption = "error") -> None:
        """A command that declares --fail-on as convstore verify does."""

    assert complete_in_process("convstore --fail-on ", application=probe) == [
        "error",
        "warning",
        "info",
    ]
    # Every command of the app that has --fail-on (verify, once it is registered).
    for name, command in get_command(app).commands.items():
        if any("--fail-on" in param.opts for param in command.params):
            severities = complete_in_process(f"convstore {name} --fail-on ")
            assert severities == ["error", "warning", "info"]


def test_known_triggers_are_the_model_s():
    assert set(KNOWN_TRIGGERS) == MODEL_TRIGGERS
    assert list(KNOWN_TRIGGERS) == sorted(KNOWN_TRIGGERS)


# Live values from the stores


def test_conversation_ids_complete_with_their_titles(sample, records):
    record = next(r for r in records if r.title)
    prefix = record.conversation_id[:2]
    expected = {r.conversation_id for r in records if r.conversation_id.startswith(prefix)}
    flags = store_flags(sample)
    timeout = {"CONVSTORE_COMPLETION_TIMEOUT": "30"}

    bash = complete(f"convstore show {flags} {prefix}", **timeout)
    assert set(bash.stdout.split()) == expected and bash.stderr == ""

    zsh = complete(f"convstore rename {flags} {prefix}", shell="zsh", **timeout).stdout
    assert f'"{record.conversation_id}":"{record.title.replace(":", chr(92) * 2 + ":")}"' in zsh

    fish = complete(f"convstore delete {flags} {prefix}", shell="fish", **timeout).stdout
    assert f"{record.conversation_id}\t{record.title}" in fish.splitlines()


def test_id_completion_honours_user_and_skips_ids_already_given(sample, records):
    alice = [r.conversation_id for r in records if r.user_id == "alice"]
    line = f"convstore delete {store_flags(sample)} --user alice {alice[0]} "
    offered = complete(line, CONVSTORE_COMPLETION_TIMEOUT="30").stdout.split()
    assert set(offered) == set(alice[1:])


def test_user_ids_complete(sample, records):
    line = f"convstore list {store_flags(sample)} --user "
    offered = complete(line, CONVSTORE_COMPLETION_TIMEOUT="30").stdout.split()
    # Owners as --user matches them: user_id, or github_user_id in the early files.
    assert sorted(offered) == sorted({r.owner for r in records if r.owner})
    assert {r.github_user_id for r in records if r.user_id is None} & set(offered)


def test_stores_come_from_the_environment_as_for_every_command(sample, records, tmp_path):
    file_store, _ = sample
    offered = complete(
        "convstore show ",
        home=tmp_path,
        CONVSTORE_FILE_STORE=str(file_store),
        CONVSTORE_COMPLETION_TIMEOUT="30",
    ).stdout.split()
    assert set(offered) == {r.conversation_id for r in records if r.store == "files"}


def test_a_title_is_shown_as_text_not_read_as_markup(files):
    files.generation(GENERATIONS[-1].name, conversation_id="ab" * 16, title="[wip] fix [/] parse")
    line = f"convstore show --file-store {files.root} ab"
    answer = complete(line, shell="fish", CONVSTORE_COMPLETION_TIMEOUT="30")
    assert answer.stdout.splitlines() == ["ab" * 16 + "\t[wip] fix [/] parse"]


@pytest.fixture
def black_hole():
    """A TCP port that accepts connections and never answers, like a firewalled database."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.fixture
def refusing_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed when the fixture returns: connections refused


@pytest.mark.parametrize(
    ("store", "shells"),
    [
        ("black hole", ("bash", "zsh", "fish")),
        ("refused", ("bash",)),
        ("missing SQLite file", ("bash",)),
    ],
)
def test_an_unreachable_store_offers_nothing_in_time_and_says_nothing(
    store, shells, black_hole, refusing_port, tmp_path
):
    database = {
        "black hole": f"postgresql://convstore@127.0.0.1:{black_hole}/openhands",
        "refused": f"postgresql://convstore@127.0.0.1:{refusing_port}/openhands",
        "missing SQLite file": str(tmp_path / "missing.db"),
    }[store]
    # The child asking the store would wait a minute for the black hole (its connect
    # timeout); the Tab's budget is two seconds. A Tab that ends well inside the minute
    # was cut off by the budget, however loaded the machine is: no race against the
    # budget itself, whose margin a busy machine could eat.
    patience = {"CONVSTORE_CONNECT_TIMEOUT": "60", "CONVSTORE_COMPLETION_TIMEOUT": "2"}
    for shell in shells:
        started = time.monotonic()
        answer = complete(
            f"convstore show --db {database} ", shell=shell, home=tmp_path, **patience
        )
        elapsed = time.monotonic() - started
        assert answer.returncode == 0
        assert answer.stderr == ""
        assert answer.stdout.strip() in ("", "_files")  # zsh's "nothing": complete file names
        assert elapsed < 30, f"{shell}: {elapsed:.2f} s: the budget did not cut the child off"


def test_the_budget_counts_from_the_start_of_the_process():
    waited = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(0.5)\n"
            "from convstore.cli.completion import process_age; print(process_age())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert 0.5 <= float(waited.stdout) < 10
