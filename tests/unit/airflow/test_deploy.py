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


def test_init_refuses_placeholder_secrets_before_doing_anything(tmp_path: Path) -> None:
    from matinale.airflow.deploy import run_init

    env_example = Path(__file__).resolve().parents[3] / ".env.example"
    placeholders = {
        name: value
        for name, _, value in (line.partition("=") for line in env_example.read_text().splitlines())
        if "change-me" in value
    }
    assert {"POSTGRES_PASSWORD", "S3_SECRET_KEY", "AIRFLOW_ADMIN_PASSWORD"} <= set(placeholders)
    passwords = tmp_path / "passwords.json"
    for name, value in placeholders.items():
        with pytest.raises(DeployError, match=f"placeholder secrets.*{name}") as caught:
            run_init(
                passwords,
                users="admin:admin",
                admin_password=None,
                conn_json=None,
                environ={name: value, "HOME": "change-me-not-ours"},
            )
        assert value not in str(caught.value), "the message must not show the value"
    conn = '{"conn_type": "aws", "login": "k", "password": "change-me-secret-key"}'
    with pytest.raises(DeployError, match="MATINALE_AWS_CONN_JSON"):
        run_init(passwords, users="admin:admin", admin_password="fine", conn_json=conn, environ={})
    with pytest.raises(DeployError, match="AIRFLOW_ADMIN_PASSWORD"):
        run_init(
            passwords,
            users="admin:admin",
            admin_password="change-me-admin",
            conn_json=None,
            environ={},
        )
    assert not passwords.exists(), "nothing is written while a placeholder is set"


def test_placeholders_of_other_programs_are_not_ours() -> None:
    from matinale.airflow.deploy import refuse_placeholders

    refuse_placeholders({"HOME": "/change-me", "EDITOR": "change-me", "S3_SECRET_KEY": "s3cr3t"})
