"""`matinale init` refuses the `change-me` secrets of .env.example, naming them, never showing them."""

from __future__ import annotations

from pathlib import Path

import pytest

from matinale.airflow.deploy import DeployError


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
