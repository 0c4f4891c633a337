"""What a deployment's one-shot init does after ``airflow db migrate``: ``matinale init``.

Logins (SimpleAuthManager's passwords file), the ``aws_default`` connection in the metadata
DB, and the two buckets. ``docker-compose.yml``'s ``airflow-init`` service and the native
stack test (``make stack-test``) both run ``matinale init``, so the test proves the very steps
production runs, in one process. Every step is idempotent: init may run at each ``up``.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matinale.errors import MatinaleError
from matinale.settings import Settings, cached_settings

__all__ = [
    "DeployError",
    "ensure_buckets",
    "parse_users",
    "refuse_placeholders",
    "run_init",
    "save_connection",
    "write_passwords",
]


class DeployError(MatinaleError, RuntimeError):
    """The deployment's configuration cannot be applied; the message says what to set."""


#: What ``.env.example`` puts in every secret; a deployment must replace each one.
PLACEHOLDER = "change-me"
# The variables a deployment's secrets reach Airflow and init through (compose's
# x-airflow-common and airflow-init); others (the host's own) are not looked at.
_DEPLOYMENT_PREFIXES = ("AIRFLOW", "MATINALE_", "S3_", "AWS_", "POSTGRES", "REDIS")


def refuse_placeholders(environ: Mapping[str, str]) -> None:
    """Refuse to go on while a secret still holds ``.env.example``'s ``change-me`` value.

    Only the variable names are reported, never their values.
    """
    found = sorted(
        name
        for name, value in environ.items()
        if name.upper().startswith(_DEPLOYMENT_PREFIXES) and PLACEHOLDER in value.lower()
    )
    if found:
        raise DeployError(
            f"placeholder secrets from .env.example are still set ({', '.join(found)}): replace "
            f"every {PLACEHOLDER}-* value in .env with a generated one, e.g. python3 -c "
            "'import secrets; print(secrets.token_urlsafe(32))' (the Fernet key: python3 -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'), "
            "then start again"
        )


def parse_users(spec: str) -> list[tuple[str, str]]:
    """``"admin:admin,lecteur:viewer"`` (Airflow's SimpleAuthManager format) as pairs."""
    users = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, sep, role = item.partition(":")
        if not sep or not name or not role:
            raise DeployError(
                f"user entry {item!r} must be name:role, e.g. admin:admin,lecteur:viewer "
                "(AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS)"
            )
        users.append((name, role))
    if not users:
        raise DeployError(
            "no user given: set AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS, e.g. admin:admin"
        )
    return users


def write_passwords(path: Path, users_spec: str, *, admin_password: str | None = None) -> list[str]:
    """Write SimpleAuthManager's passwords file; return the user names it holds.

    ``admin`` gets ``admin_password`` (from the deployment's secrets) when given; a password
    already in the file is kept; any other user gets a generated one. Nothing is printed:
    operators read the file inside the deployment's volume.
    """
    names = [name for name, _ in parse_users(users_spec)]
    existing: dict[str, str] = {}
    if path.is_file():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DeployError(f"{path}: not valid JSON; delete it and run init again") from exc
    passwords = {}
    for name in names:
        if name == "admin" and admin_password:
            passwords[name] = admin_password
        else:
            passwords[name] = existing.get(name) or secrets.token_urlsafe(16)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    # Created 0600 before anything is written: a password never sits in a world-readable file.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(passwords, handle)
    partial.replace(path)
    return names


def _bucket_exists(client: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=name)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchBucket", "NotFound"}:
            return False
        raise DeployError(
            f"S3 bucket {name!r} cannot be checked ({code}): check the aws_default connection's "
            "keys and endpoint_url"
        ) from exc
    return True


def _init_client(conn_id: str) -> Any:
    """A boto3 S3 client from the connection as stored in the metadata DB.

    Init is a server-side step, like Airflow's own CLI: outside a task, Airflow 3's hooks only
    see connections from the environment, so this reads the metadata DB's connection itself.
    Keys left empty fall back to boto3's own chain (an instance role on AWS).
    """
    import boto3
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except Exception as exc:  # AirflowNotFoundException, or the DB is unreachable
        raise DeployError(
            f"Airflow connection {conn_id!r} not found: create it first "
            f"(airflow connections add {conn_id} --conn-json ...)"
        ) from exc
    extra = conn.extra_dejson
    return boto3.client(
        "s3",
        endpoint_url=extra.get("endpoint_url") or None,
        region_name=extra.get("region_name") or None,
        aws_access_key_id=conn.login or None,
        aws_secret_access_key=conn.password or None,
    )


def ensure_buckets(settings: Settings | None = None, client: Any = None) -> list[str]:
    """Create the bundle and private buckets if missing; return the ones created."""
    settings = settings or cached_settings()
    if client is None:
        client = _init_client(settings.aws_conn_id)
    region = client.meta.region_name
    created = []
    for name in (settings.bundle_bucket, settings.private_bucket):
        if _bucket_exists(client, name):
            continue
        kwargs: dict[str, Any] = {"Bucket": name}
        # AWS wants the region named for any bucket outside us-east-1.
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        client.create_bucket(**kwargs)
        created.append(name)
    return created


def save_connection(conn_id: str, conn_json: str) -> str:
    """Create or update an Airflow connection from its JSON form; return "created"/"updated".

    The JSON (with the keys) comes from the environment, never from argv where ``ps`` shows
    it, and is never printed.
    """
    from airflow.models.connection import Connection  # the ORM model: init writes the DB
    from airflow.utils.session import create_session
    from sqlalchemy import select

    try:
        json.loads(conn_json)
        wanted = Connection.from_json(conn_id=conn_id, value=conn_json)
    except (ValueError, TypeError) as exc:
        raise DeployError(
            f"the {conn_id} connection must be Airflow's JSON form, e.g. "
            '{"conn_type": "aws", "login": ..., "password": ..., "extra": {"endpoint_url": ...}}'
        ) from exc
    with create_session() as session:
        existing = session.scalar(select(Connection).where(Connection.conn_id == conn_id).limit(1))
        if existing is None:
            session.add(wanted)
            return "created"
        for attribute in ("conn_type", "host", "login", "schema", "port", "description"):
            setattr(existing, attribute, getattr(wanted, attribute))
        existing.set_password(wanted.password)
        existing.set_extra(wanted.extra)
        return "updated"


def run_init(
    passwords_file: Path,
    *,
    users: str,
    admin_password: str | None,
    conn_json: str | None,
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The init steps after ``airflow db migrate``; a summary without any secret.

    Nothing is done while a secret (in ``environ``, by default the process's environment, or
    given here) still holds a ``change-me`` placeholder.
    """
    checked = dict(os.environ if environ is None else environ)
    checked.update(
        (name, value)
        for name, value in (
            ("AIRFLOW_ADMIN_PASSWORD", admin_password),
            ("MATINALE_AWS_CONN_JSON", conn_json),
        )
        if value
    )
    refuse_placeholders(checked)
    settings = settings or cached_settings()
    names = write_passwords(passwords_file, users, admin_password=admin_password)
    connection = "kept"
    if conn_json:
        connection = save_connection(settings.aws_conn_id, conn_json)
    created = ensure_buckets(settings)
    return {
        "users": names,
        "connection": f"{settings.aws_conn_id} {connection}",
        "buckets_created": created,
    }
