"""Every command on every shape of OpenHands' schema: late-2025 (001), 1.x single machine
(005, 009, 013 and on), 1.x enterprise (ownership table, cost events), late-2025 SaaS."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from convstore.cli.app import app

runner = CliRunner()


@dataclass(frozen=True)
class Shape:
    name: str
    schema: dict
    has_status: bool = False
    enterprise: bool = False


SHAPES = [
    Shape("001", {"revision": "001"}),
    Shape("005", {"revision": "005"}),
    Shape("009", {"revision": "009"}),
    Shape("014", {"revision": "014"}, has_status=True),
    Shape(
        "014-enterprise", {"revision": "014", "enterprise": True}, has_status=True, enterprise=True
    ),
    Shape("saas-2025", {"saas_2025": True}),
]


def cli(*args):
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture(params=SHAPES, ids=lambda shape: shape.name)
def shaped(request, make_database, files):
    shape = request.param
    database = make_database(**shape.schema)
    org, alice = uuid.uuid4(), uuid.uuid4()
    user = str(alice) if shape.enterprise else "alice"
    rows = [
        database.insert(
            title="first",
            user_id=user,
            **({"execution_status": "idle"} if shape.has_status else {}),
        ),
        database.insert(
            title="second",
            user_id=user,
            **({"execution_status": "error"} if shape.has_status else {}),
        ),
    ]
    if shape.enterprise:
        org = database.add_org()
        database.add_user(org, alice)
        for row in rows:
            database.own(row["conversation_id"], alice, org)
    v0_id, _ = files.generation("2025-12", user_id=user)
    store = ["--db", database.url, "--file-store", files.root]
    return shape, database, rows, store, user, str(org), v0_id


def test_list_show_rename_delete_on_every_shape(shaped):
    shape, _database, rows, store, user, org, _ = shaped
    listed = json.loads(
        cli("list", *store, "--format", "json", "--version", "V1", "--user", user).stdout
    )
    assert {item["conversation_id"] for item in listed} == {row["conversation_id"] for row in rows}
    assert all(item["problems"] == [] for item in listed), listed
    # Every key always (null where the table lacks the column), whatever the revision.
    assert all("execution_status" in item and "org_id" in item for item in listed)
    assert (listed[0]["execution_status"] is not None) == shape.has_status
    if shape.has_status:
        only_idle = json.loads(cli("list", *store, "--format", "json", "--status", "idle").stdout)
        assert [item["title"] for item in only_idle] == ["first"]
        table = cli("list", *store, "--version", "V1").stdout
        assert "status" in table.splitlines()[0]
    if shape.enterprise:
        in_org = json.loads(
            cli("list", *store, "--format", "json", "--version", "V1", "--org", org).stdout
        )
        assert len(in_org) == 2 and all(item["org_id"] == org for item in in_org)
        assert (
            json.loads(cli("list", *store, "--format", "json", "--org", str(uuid.uuid4())).stdout)
            == []
        )
    first = rows[0]["conversation_id"]
    shown = json.loads(cli("show", *store, first, "--format", "json").stdout)
    assert shown["title"] == "first" and shown["user_id"] == user
    renamed = cli("rename", *store, "--user", user, first, "renamed")
    assert renamed.exit_code == 0, renamed.output
    assert cli("rename", *store, "--user", "mallory", first, "stolen").exit_code == 4
    deleted = cli("delete", *store, "--user", user, rows[1]["conversation_id"], "--yes")
    assert deleted.exit_code == 0, deleted.output
    remaining = json.loads(cli("list", *store, "--format", "json", "--version", "V1").stdout)
    assert [item["title"] for item in remaining] == ["renamed"]


def test_migrate_and_verify_on_every_shape(shaped):
    shape, _database, _rows, store, user, org, v0_id = shaped
    result = cli("migrate-v0-to-v1", *store)
    assert result.exit_code == 0, result.output
    migrated = json.loads(cli("show", *store, str(uuid.UUID(v0_id)), "--format", "json").stdout)
    assert migrated["version"] == "V1" and migrated["problems"] == []
    if shape.enterprise:
        assert migrated["user_id"] == user and migrated["org_id"] == org
    verified = cli("verify", *store, "--format", "jsonl")
    assert verified.exit_code == 0, verified.output  # no finding at error level
    findings = [json.loads(line) for line in verified.stdout.splitlines() if line.strip()]
    assert all(finding["severity"] != "error" for finding in findings), findings
