"""Deployment init steps that need no server: the SimpleAuthManager login file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from matinale.airflow.deploy import DeployError, parse_users, write_passwords


def test_parse_users_reads_airflow_format() -> None:
    assert parse_users("admin:admin, lecteur:viewer,") == [
        ("admin", "admin"),
        ("lecteur", "viewer"),
    ]


@pytest.mark.parametrize("spec", ["", "admin", "admin:", ":viewer", " , "])
def test_parse_users_names_the_bad_entry(spec: str) -> None:
    with pytest.raises(DeployError, match="name:role|no user"):
        parse_users(spec)


def test_write_passwords_uses_the_admin_secret_and_keeps_others(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "passwords.json"
    assert write_passwords(path, "admin:admin,lecteur:viewer", admin_password="from-env") == [
        "admin",
        "lecteur",
    ]
    first = json.loads(path.read_text())
    assert first["admin"] == "from-env"
    assert len(first["lecteur"]) >= 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # Init runs again (a restart): the generated password stays, the admin one follows .env.
    write_passwords(path, "admin:admin,lecteur:viewer", admin_password="rotated")
    second = json.loads(path.read_text())
    assert second == {"admin": "rotated", "lecteur": first["lecteur"]}
    assert not list(path.parent.glob("*.partial"))


def test_write_passwords_refuses_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "passwords.json"
    path.write_text("{not json")
    with pytest.raises(DeployError, match="delete it"):
        write_passwords(path, "admin:admin")
