"""The link service in the native stack, as compose runs it: counts in its own PostgreSQL
database (``matinale_links``), S3 through its own read-only identity, on 127.0.0.1; and
what the stack test reads back (the counts in PostgreSQL)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from matinale.dev.links_local import links_command, links_env
from matinale.dev.stack.processes import StackError, _wait_until

if TYPE_CHECKING:
    from matinale.dev.stack.services import StackServices

__all__ = ["LINKS_DB", "link_counts", "links_db_uri", "start_links"]

LINKS_DB = "matinale_links"


def _connect(stack: StackServices, dbname: str) -> Any:
    import psycopg2

    return psycopg2.connect(
        host="127.0.0.1",
        port=stack.ports["postgres"],
        user="airflow",
        password=stack._secret["postgres"],
        dbname=dbname,
        connect_timeout=5,
    )


def links_db_uri(stack: StackServices, scheme: str = "postgresql+psycopg2") -> str:
    """The counts database's URL (``scheme="postgres"``: Airflow's connection URI form)."""
    password = stack._secret["postgres"]
    return f"{scheme}://airflow:{password}@127.0.0.1:{stack.ports['postgres']}/{LINKS_DB}"


def start_links(stack: StackServices) -> None:
    """Create the counts database (compose's ``links-db``), start the service (compose's
    ``links``) and wait for its ``/healthz``."""
    import httpx

    with contextlib.closing(_connect(stack, "postgres")) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (LINKS_DB,))
            if cur.fetchone() is None:
                cur.execute(f"CREATE DATABASE {LINKS_DB}")
    if stack._s3 is None or stack.links_keys is None:
        raise StackError("the link service needs the S3 server and its identity first")
    base = {k: v for k, v in stack.env.items() if not k.startswith("AIRFLOW")}
    env = links_env(
        base, stack._s3.endpoint_url, stack.links_keys, MATINALE_LINKS_DB_URL=links_db_uri(stack)
    )
    proc = stack._spawn("links", links_command(stack.ports["links"]), env=env)
    _wait_until(
        lambda: httpx.get(f"{stack.links_url}/healthz", timeout=3).json()["ok"] is True,
        what="the link service",
        timeout=60,
        watch=[proc],
    )


def link_counts(stack: StackServices, edition: str) -> dict[str, int]:
    """event → n of one edition, from the service's PostgreSQL database."""
    with contextlib.closing(_connect(stack, LINKS_DB)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT event, sum(n) FROM link_counts WHERE edition = %s GROUP BY event", (edition,)
        )
        return {str(event): int(n) for event, n in cur.fetchall()}
