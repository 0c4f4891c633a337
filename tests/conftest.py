"""Shared test setup: an isolated Airflow home, and a real S3 server for the session.

The Airflow environment is set before anything imports Airflow, so every test (and every
subprocess a test starts) uses a throwaway SQLite metadata DB, never the developer's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from matinale.dev.seaweed import S3Credentials, SeaweedS3

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="matinale-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "MATINALE_HOME": str(ROOT),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])
        ),
    }
)


# Tests that start a server carry one of these markers: a server keeps the real clock (S3
# signatures would be skewed under faketime), so the any-date check runs only the others.
SERVER_MARKERS = ("s3", "browser", "stack", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the session's S3 server is an ``s3`` test, whoever wrote it."""
    for item in items:
        if "s3_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.s3)


@pytest.fixture(autouse=True)
def _servers_only_in_marked_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starting SeaweedFS from a test without a server marker fails it: the marker is what
    keeps server tests out of the faked-clock runs (``scripts/test-any-date.sh``)."""
    if any(request.node.get_closest_marker(name) for name in SERVER_MARKERS):
        return

    def refuse(self: SeaweedS3, *args: object, **kwargs: object) -> None:
        pytest.fail(
            f"{request.node.nodeid} starts an S3 server: mark it @pytest.mark.s3", pytrace=False
        )

    monkeypatch.setattr(SeaweedS3, "start", refuse)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A running SeaweedFS S3 server on free loopback ports, with fresh generated keys."""
    server = SeaweedS3(tmp_path_factory.mktemp("s3"), S3Credentials.generate())
    try:
        server.start()
        yield server
    finally:
        server.stop(grace=1)  # throwaway data; weed's own graceful stop would take ~15 s


@pytest.fixture
def s3_buckets(s3_server: SeaweedS3) -> Iterator[dict[str, str]]:
    """Two fresh buckets, ``{"bundle": name, "private": name}``, deleted with their content after."""
    from botocore.exceptions import ClientError

    buckets = {
        role: f"matinale-test-{role}-{secrets.token_hex(4)}" for role in ("bundle", "private")
    }
    s3_server.ensure_buckets(*buckets.values())
    yield buckets
    client = s3_server.client()
    for name in buckets.values():
        # SeaweedFS deletes non-empty buckets (-s3.allowDeleteBucketNotEmpty), freeing volumes.
        with contextlib.suppress(ClientError):
            client.delete_bucket(Bucket=name)


class Webhook:
    """A local HTTP endpoint standing in for a Mattermost/Slack incoming webhook."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        self.url = ""


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    """Records the JSON bodies POSTed to it; the ``matinale_alerts`` connection points at it."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", "0"))
            hook.posts.append(json.loads(self.rfile.read(length)))
            self.send_response(hook.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/s3cr3t-token"
    monkeypatch.setenv(
        "AIRFLOW_CONN_MATINALE_ALERTS", json.dumps({"conn_type": "http", "host": hook.url})
    )
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
