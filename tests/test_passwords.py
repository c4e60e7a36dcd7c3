"""A database password never reaches stdout or stderr, on any path of any command.

A password is planted in each place a database URL comes from (``--db``,
``CONVSTORE_DB``, OpenHands' ``DB_PASS``, config.toml), and every command is run into
each way a database fails: a server that is not there, a database without the table
(a real PostgreSQL database, the test server's, which trusts local users and ignores
the password), a URL SQLAlchemy cannot use, and ``--create-table --dry-run``. The
commands run in process and as real processes (where ``--debug`` prints tracebacks).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from convstore.config import masked, scrubbed
from tests.faults import CLI, cli

PASSWORD = "Pl4nted-s3cret pw@!"  # a space and an @: it must be percent-encoded in a URL
ENCODED = quote(PASSWORD, safe="")
ID = "0f83cf79-9c8c-5a12-9939-996ab6ae6908"
OPENHANDS_VARIABLES = ("FILE_STORE_PATH", "OH_PERSISTENCE_DIR", "DB_HOST", "DB_PORT")


@dataclass(frozen=True)
class Failure:
    """A database URL that fails one way; OpenHands' DB_* variables for the same, if any."""

    name: str
    url: str
    openhands: dict[str, str] | None = None


def _commands(tmp_path: Path) -> list[list[str]]:
    return [
        ["list"],
        ["list", "--org", "acme"],
        ["show", ID],
        ["rename", ID, "new"],
        ["delete", ID, "--yes"],
        ["delete", "--older-than", "1d", "--yes"],
        ["export", ID],
        ["export", "--all", "-o", str(tmp_path / "exported")],
        ["verify"],
        ["migrate-v0-to-v1", "--dry-run"],
        ["migrate-v0-to-v1", "--dry-run", "--create-table"],
        ["db", "info"],
        ["db", "add-indexes", "--dry-run"],
        ["config"],
        ["config", "--format", "json"],
    ]


@pytest.fixture
def failures(postgres_database_url: str, tmp_path: Path) -> list[Failure]:
    server = make_url(postgres_database_url)
    without_table = server.set(password=PASSWORD, drivername="postgresql")
    gone = tmp_path / "no-server"

    def openhands(host: str, port: str, name: str) -> dict[str, str]:
        return {
            "DB_HOST": host,
            "DB_PORT": port,
            "DB_NAME": name,
            "DB_USER": "postgres",
            "DB_PASS": PASSWORD,
        }

    return [
        Failure(
            "no table",
            without_table.render_as_string(hide_password=False),
            openhands(str(server.query["host"]), str(server.query["port"]), str(server.database)),
        ),
        Failure(
            "no server",
            f"postgresql://admin:{ENCODED}@/openhands?host={gone}",
            openhands(str(gone), "5432", "openhands"),
        ),
        Failure("bad port", f"postgresql://admin:{ENCODED}@localhost:notaport/openhands"),
        Failure("unknown driver", f"mysql://admin:{ENCODED}@localhost/openhands"),
        Failure("unencoded", f"postgresql://admin:{PASSWORD}@/openhands?host={gone}"),
    ]


def _ways(failure: Failure, tmp_path: Path) -> Iterator[tuple[str, list[str], dict[str, str]]]:
    """The places a URL comes from: flags, and the environment a command sees."""
    yield "--db", ["--db", failure.url], {}
    yield "CONVSTORE_DB", [], {"CONVSTORE_DB": failure.url}
    config = tmp_path / "config.toml"
    config.write_text(f"db = {failure.url!r}\n")
    yield "config.toml", ["--config", str(config)], {}
    if failure.openhands is not None:
        yield "DB_PASS", [], failure.openhands


def _clean_environment(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in [*os.environ]:
        if name.startswith(("CONVSTORE_", "DB_")) or name in OPENHANDS_VARIABLES:
            monkeypatch.delenv(name)


def _leaks(text: str) -> list[str]:
    """Every form of the password found in ``text``."""
    return [form for form in (PASSWORD, ENCODED, "Pl4nted") if form in text]


def test_no_command_prints_the_password_on_any_error_path(
    failures: list[Failure], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _clean_environment(monkeypatch, home)
    ran = 0
    for failure in failures:
        for way, flags, environment in _ways(failure, tmp_path):
            with monkeypatch.context() as scoped:
                for name, value in environment.items():
                    scoped.setenv(name, value)
                for command in _commands(tmp_path):
                    result = cli(*command, *flags)
                    where = (failure.name, way, command)
                    crash = result.exception
                    assert crash is None or isinstance(crash, SystemExit), (where, crash)
                    assert not _leaks(result.stdout + result.stderr), (where, result.output)
                    ran += 1
    assert ran == (3 * len(failures) + 2) * len(_commands(tmp_path))


@pytest.mark.slow  # thirty real processes
@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_a_real_process_never_prints_the_password_even_with_debug(
    failures: list[Failure], tmp_path: Path, debug: list[str]
) -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CONVSTORE_", "DB_")) and key not in OPENHANDS_VARIABLES
    }
    environment |= {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    for failure in failures:
        for command in (
            ["list"],
            ["migrate-v0-to-v1", "--dry-run", "--create-table"],
            ["db", "info"],
        ):
            process = subprocess.run(
                [*CLI, *debug, *command, "--db", failure.url],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                env=environment,
                timeout=120,
            )
            # Only the dry run that plans against an empty stand-in table succeeds.
            succeeds = failure.name == "no table" and "--create-table" in command
            assert (process.returncode == 0) == succeeds, (failure.name, command, process.stderr)
            assert "internal error" not in process.stderr
            assert not _leaks(process.stdout + process.stderr), (
                failure.name,
                command,
                process.stderr,
            )


def test_the_dry_run_create_table_message_names_the_database_masked(
    failures: list[Failure], tmp_path: Path
) -> None:
    """The message of issue 13's report: "postgresql://admin:pgpw@... has no table"."""
    [no_table] = [failure for failure in failures if failure.name == "no table"]
    result = cli("migrate-v0-to-v1", "--dry-run", "--create-table", "--db", no_table.url)
    assert result.exit_code == 0, result.output
    assert f"{masked(no_table.url)} has no conversation_metadata table yet" in result.stderr
    assert ":***@" in result.stderr and not _leaks(result.output)


def test_masking_covers_every_form_of_a_password_in_a_url() -> None:
    cases = {
        "postgresql://admin:pgpw@db:5432/oh": "postgresql://admin:***@db:5432/oh",
        # Not percent-encoded: a location is masked up to its last @.
        "postgresql://a:p@ss w@db/oh": "postgresql://a:***@db/oh",
        "cannot use postgresql://a:pgpw@db/oh: refused": "cannot use postgresql://a:***@db/oh: "
        "refused",
        "postgresql://a@db/oh?sslmode=require&password=pgpw": "postgresql://a@db/oh?"
        "sslmode=require&password=***",
        "host=db password='pg pw' user=a": "host=db password=*** user=a",
        "/var/lib/openhands/openhands.db": "/var/lib/openhands/openhands.db",
        "postgresql://db:5432/oh": "postgresql://db:5432/oh",
        "alice@example.com: not found": "alice@example.com: not found",
    }
    for text, expected in cases.items():
        assert masked(text) == expected


def test_scrubbing_removes_a_remembered_password_outside_a_url() -> None:
    from convstore.config import Settings

    Settings.resolve(db=f"postgresql://admin:{ENCODED}@db/oh", environ={})
    assert scrubbed(f"the driver said: {PASSWORD}") == "the driver said: ***"
    assert scrubbed(f"encoded {ENCODED}.") == "encoded ***."
    # A longer word that merely contains a remembered password is left alone.
    Settings.resolve(db="postgresql://admin:postgres@db/oh", environ={})
    assert scrubbed("postgresql is up") == "postgresql is up"
