"""Where a command writes (export -o, migrate --report, sample DIR): a path of the wrong
kind is a usage error (exit 2), one that cannot be written is exit 3; either way one
line naming the path, before any work, and nothing left behind. (Permission denied is in
tests/test_permissions.py, which runs the CLI as another user.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convstore.sample import write_sample
from tests.faults import cli, one_line_error

USAGE, UNAVAILABLE = 2, 3


@pytest.fixture
def sample(tmp_path: Path) -> tuple[list[str], str]:
    summary = write_sample(tmp_path / "demo", files=12, rows=6)
    stores = ["--file-store", str(summary.file_store), "--db", summary.database]
    listed = json.loads(cli("list", *stores, "--format", "json", "--limit", "1").stdout)
    return stores, listed[0]["conversation_id"]


def _refused(result_stderr: str, status: int, exit_code: int, *expected: str) -> None:
    assert exit_code == status
    line = one_line_error(result_stderr)
    for part in expected:
        assert part in line, line


def test_export_to_an_existing_directory_is_a_usage_error(
    sample: tuple[list[str], str], tmp_path: Path
) -> None:
    stores, conversation_id = sample
    target = tmp_path / "out"
    target.mkdir()
    result = cli("export", *stores, conversation_id, "-o", target)
    _refused(result.stderr, USAGE, result.exit_code, f"{target} is a directory")
    assert list(target.iterdir()) == []


def test_export_under_a_missing_directory_cannot_be_written(
    sample: tuple[list[str], str], tmp_path: Path
) -> None:
    stores, conversation_id = sample
    target = tmp_path / "missing" / "out.md"
    result = cli("export", *stores, conversation_id, "-o", target)
    _refused(
        result.stderr,
        UNAVAILABLE,
        result.exit_code,
        f"cannot write {target}",
        f"{target.parent} does not exist",
    )
    assert not target.parent.exists()


def test_export_all_to_an_existing_file_is_a_usage_error(
    sample: tuple[list[str], str], tmp_path: Path
) -> None:
    stores, _ = sample
    target = tmp_path / "out.md"
    target.write_text("mine\n")
    result = cli("export", *stores, "--all", "-o", target)
    _refused(result.stderr, USAGE, result.exit_code, f"{target} is a file")
    assert target.read_text() == "mine\n"


def test_export_all_under_a_file_cannot_be_written(
    sample: tuple[list[str], str], tmp_path: Path
) -> None:
    stores, _ = sample
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli("export", *stores, "--all", "-o", blocker / "out")
    _refused(result.stderr, UNAVAILABLE, result.exit_code, f"cannot write {blocker / 'out'}")


def test_export_all_creates_a_missing_directory(
    sample: tuple[list[str], str], tmp_path: Path
) -> None:
    stores, _ = sample
    target = tmp_path / "new" / "history"
    result = cli("export", *stores, "--all", "-o", target, "--version", "V0")
    assert result.exit_code == 0, result.output
    assert sorted(path.suffix for path in target.iterdir()) and all(
        path.name.endswith("-V0.md") for path in target.iterdir()
    )


@pytest.mark.parametrize("kind", ["file", "not-empty"])
def test_sample_into_a_file_or_a_full_directory_is_a_usage_error(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "target"
    if kind == "file":
        target.write_text("mine\n")
    else:
        target.mkdir()
        (target / "mine").write_text("")
    result = cli("sample", target)
    expected = f"{target} is a file" if kind == "file" else f"{target} is not empty"
    _refused(result.stderr, USAGE, result.exit_code, expected)


def test_sample_under_a_file_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli("sample", blocker / "demo")
    _refused(result.stderr, UNAVAILABLE, result.exit_code, "cannot write", str(blocker))


def test_a_migration_report_to_a_directory_or_under_a_missing_one_is_refused_first(
    sample: tuple[list[str], str], tmp_path: Path
) -> None:
    stores, _ = sample

    def v1_rows() -> int:
        listed = cli("list", *stores, "--all", "--format", "json", "--version", "V1")
        return len(json.loads(listed.stdout))

    before = v1_rows()
    result = cli("migrate-v0-to-v1", *stores, "--report", tmp_path)
    _refused(result.stderr, USAGE, result.exit_code, f"{tmp_path} is a directory")
    missing = tmp_path / "missing" / "report.json"
    result = cli("migrate-v0-to-v1", *stores, "--report", missing)
    _refused(result.stderr, UNAVAILABLE, result.exit_code, f"cannot write {missing}")
    assert v1_rows() == before  # refused before anything was migrated
