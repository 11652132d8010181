"""Production refuses development defaults and names the missing setting; keys load safely."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import pytest

from govsms.app import create_app
from govsms.keys.ring import load_key_ring, write_key_file
from govsms.errors import ConfigurationError
from govsms.settings import Settings


def test_production_without_secret_names_what_is_missing(tmp_path: Path) -> None:
    settings = Settings(env="production", data_dir=tmp_path, database_url="sqlite:///x.db")
    with pytest.raises(ConfigurationError) as refused:
        create_app(settings)
    assert "GOVSMS_SECRET_KEY" in refused.value.message and "GOVSMS_MASTER_KEYS" in refused.value.message


def test_production_refuses_a_short_secret(tmp_path: Path) -> None:
    key = "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    signing = base64.b64encode(secrets.token_bytes(32)).decode()
    settings = Settings(
        env="production", data_dir=tmp_path, master_keys=key, secret_key="short", audit_signing_key=signing, database_url="sqlite:///x.db"
    )
    with pytest.raises(ConfigurationError, match="GOVSMS_SECRET_KEY must be set"):
        settings.check_production()
    Settings(
        env="production", data_dir=tmp_path, master_keys=key, secret_key=secrets.token_urlsafe(40),
        audit_signing_key=signing, database_url="sqlite:///x.db",
    ).check_production()
    with pytest.raises(ConfigurationError, match="GOVSMS_AUDIT_SIGNING_KEY"):
        Settings(
            env="production", data_dir=tmp_path, master_keys=key, secret_key=secrets.token_urlsafe(40), database_url="sqlite:///x.db"
        ).check_production()


def test_key_file_is_private_and_loaded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert write_key_file(settings.key_file)
    assert not write_key_file(settings.key_file)  # never overwritten
    assert settings.key_file.stat().st_mode & 0o777 == 0o600
    ring = load_key_ring(settings)
    assert len(ring.active_key) == 32 and len(ring.secret_key) >= 32
    os.chmod(settings.key_file, 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        load_key_ring(settings)


def test_missing_keys_say_how_to_create_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="govsms init"):
        load_key_ring(Settings(data_dir=tmp_path))


def test_bad_master_keys_are_explained(tmp_path: Path) -> None:
    signing = base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(ConfigurationError, match="32 bytes"):
        load_key_ring(
            Settings(data_dir=tmp_path, master_keys="k1:" + base64.b64encode(b"short").decode(), secret_key="x" * 40, audit_signing_key=signing)
        )
    with pytest.raises(ConfigurationError, match="id:base64key"):
        load_key_ring(Settings(data_dir=tmp_path, master_keys="nocolon", secret_key="x" * 40, audit_signing_key=signing))
