"""Settings resolve flags > CONVSTORE_* > config.toml > OpenHands' env > ~/.openhands."""

from pathlib import Path

import pytest

from convstore.config import Settings, database_url, masked
from convstore.errors import StoreUnavailable, UsageError
from convstore.stores.catalog import open_catalog


def resolve(tmp_path, environ=None, **flags):
    return Settings.resolve(config=flags.pop("config", None), environ=environ or {}, **flags)


def test_flags_win_and_scope_the_run(tmp_path):
    settings = Settings.resolve(db="/x.db", environ={"CONVSTORE_FILE_STORE": "/files"})
    assert settings.db.value == "/x.db" and settings.db.source == "flag"
    assert settings.file_store is None


def test_environment_then_config_then_openhands_then_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    config = tmp_path / "config.toml"
    config.write_text('file_store = "/from-config"\ndb = "/from-config.db"\n')
    env = {"CONVSTORE_DB": "/from-env.db", "FILE_STORE_PATH": "/oh-files"}
    settings = Settings.resolve(config=config, environ=env)
    assert (settings.db.value, settings.db.source) == ("/from-env.db", "env CONVSTORE_DB")
    assert (settings.file_store.value, settings.file_store.source) == (
        "/from-config",
        f"config {config}",
    )
    settings = Settings.resolve(
        environ={"FILE_STORE_PATH": "/oh-files", "DB_HOST": "db", "DB_PASS": "pw"}
    )
    assert settings.file_store.source == "env FILE_STORE_PATH"
    assert settings.db.value == "postgresql://postgres:pw@db:5432/openhands"
    settings = Settings.resolve(environ={"OH_PERSISTENCE_DIR": "/persist"})
    assert settings.db.value == "/persist/openhands.db"
    settings = Settings.resolve(environ={})
    assert (
        settings.file_store.value == str(tmp_path / ".openhands")
        and not settings.file_store.explicit
    )


def test_connect_timeout_flag_then_environment_then_config_then_ten_seconds(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("connect_timeout = 30\n")
    env = {"CONVSTORE_CONNECT_TIMEOUT": "20"}
    assert Settings.resolve(environ=env, config=config, connect_timeout=5).connect_seconds == 5
    from_env = Settings.resolve(environ=env, config=config).connect_timeout
    assert (from_env.value, from_env.source) == ("20", "env CONVSTORE_CONNECT_TIMEOUT")
    assert Settings.resolve(environ={}, config=config).connect_seconds == 30
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    default = Settings.resolve(environ={}, config=empty).connect_timeout
    assert (default.value, default.source) == ("10", "default")


@pytest.mark.parametrize("value", ["0", "0.5", "-3", "nan", "soon", ""])
def test_connect_timeout_below_one_second_or_not_a_number_is_a_usage_error(tmp_path, value):
    config = tmp_path / "config.toml"
    config.write_text(f"connect_timeout = {value!r}\n")
    with pytest.raises(UsageError, match=f"connect timeout {value!r} \\(config "):
        Settings.resolve(environ={}, config=config)


def test_bad_config_file_is_a_usage_error(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("colour = 1\n")
    with pytest.raises(UsageError, match="unknown key 'colour'"):
        Settings.resolve(config=config, environ={})
    with pytest.raises(UsageError, match="does not exist"):
        Settings.resolve(config=tmp_path / "absent.toml", environ={})


def test_database_urls():
    assert database_url("postgresql://u@h:1/d") == "postgresql+psycopg://u@h:1/d"
    assert (
        database_url("/data/openhands.db") == "sqlite:///file:/data/openhands.db?mode=rw&uri=true"
    )
    assert database_url("sqlite:////data/x.db") == "sqlite:///file:/data/x.db?mode=rw&uri=true"
    assert masked("postgresql://admin:secret@h/d") == "postgresql://admin:***@h/d"
    assert masked("/plain/path") == "/plain/path"


def test_default_locations_that_do_not_exist_are_left_out(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(StoreUnavailable, match="no store found"):
        open_catalog(Settings.resolve(environ={}))
    (tmp_path / ".openhands" / "sessions").mkdir(parents=True)
    catalog = open_catalog(Settings.resolve(environ={}))
    assert catalog.files is not None and catalog.sql is None


def test_explicit_missing_sqlite_file_is_never_created(tmp_path):
    target = tmp_path / "typo.db"
    with pytest.raises(StoreUnavailable, match="does not exist"):
        open_catalog(Settings.resolve(db=str(target), environ={}))
    assert not target.exists()
    assert not Path(tmp_path / "file:").exists()
