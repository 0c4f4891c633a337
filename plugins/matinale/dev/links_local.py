"""The link service next to the local setup (``make up``) and the native stack: its own S3
identity (read-only, scoped to the bundle bucket and the link-state prefix), its command and
the environment it runs with (never the admin's keys)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from matinale.dev.s3_credentials import S3Credentials, S3Identity, link_service_identity
from matinale.settings import Settings

__all__ = [
    "LINKS_PORT",
    "links_command",
    "links_credentials",
    "links_env",
    "links_identity",
    "links_port",
    "start_links",
]

LINKS_PORT = 8090
"""``make up``'s link service port when it is free (another free port otherwise)."""


def links_credentials(settings: Settings) -> S3Credentials:
    """The link service's keys, generated once next to the admin's (``var/s3/``, 0600)."""
    return S3Credentials.load_or_create(settings.var_dir / "s3" / "links-credentials.json")


def links_identity(settings: Settings, credentials: S3Credentials | None = None) -> S3Identity:
    links = settings.link_service
    return link_service_identity(
        credentials or links_credentials(settings),
        settings.bundle_bucket,
        links.state_bucket,
        links.state_prefix,
    )


def links_port(preferred: int = LINKS_PORT) -> int:
    """``preferred`` when nothing listens there on 127.0.0.1, else a free port."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")  # pragma: no cover - port 0 always binds


def links_command(port: int, host: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "matinale.cli",
        "links",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
    ]


def links_env(
    base: Mapping[str, str], endpoint_url: str, credentials: S3Credentials, **extra: str
) -> dict[str, str]:
    """``base`` without any S3 key or Airflow S3 connection, plus the link service's keys
    (so its S3 client is the scoped identity) and ``extra`` (e.g. ``MATINALE_LINKS_DB_URL``)."""
    env = {
        k: v
        for k, v in base.items()
        if not k.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION", "AIRFLOW_CONN_AWS"))
    }
    env.update(
        AWS_ACCESS_KEY_ID=credentials.access_key,
        AWS_SECRET_ACCESS_KEY=credentials.secret_key,
        MATINALE_S3_ENDPOINT_URL=endpoint_url,
        **extra,
    )
    return env


def start_links(
    settings: Settings, base: Mapping[str, str], endpoint_url: str, port: int, log: Path
) -> subprocess.Popen[bytes]:
    """``make up``'s link service on 127.0.0.1:``port`` in its own process group, with its
    own S3 keys; counts in ``var/links.db`` (the Matinale view reads the same file)."""
    env = links_env(base, endpoint_url, links_credentials(settings))
    with log.open("ab") as out:
        return subprocess.Popen(
            links_command(port),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
