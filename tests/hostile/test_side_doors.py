"""No side door to storage: of every port the local SeaweedFS listens on, only the S3 gateway
answers, and only to the S3 keys.

A local process that finds the filer, master or volume port (HTTP or gRPC) must get no object,
no listing and no write: the ports require weed's own certificate, generated at each start
(matinale.dev.seaweed_security). With the S3 keys, the S3 gateway still reads and writes.
"""

from __future__ import annotations

import http.client
import secrets
import socket
import ssl
import stat
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from matinale.dev.seaweed import SeaweedS3

pytestmark = [pytest.mark.hostile, pytest.mark.s3]

SECRET_ROW = f"ana.{secrets.token_hex(6)}@example.org;+33601020304\n".encode()
SHELL_TIMEOUT = 15


@pytest.fixture
def planted(s3_server: SeaweedS3, s3_buckets: dict[str, str]) -> Iterator[dict[str, str]]:
    """A delivery file with people's contacts in the private bucket, a page in the bundle one."""
    client = s3_server.client()
    client.put_object(Bucket=s3_buckets["private"], Key="delivery.csv", Body=SECRET_ROW)
    client.put_object(Bucket=s3_buckets["bundle"], Key="index.html", Body=b"<p>edition</p>")
    yield s3_buckets


def _listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket ``pid`` and its children listen on."""
    root = psutil.Process(pid)
    found = set()
    for process in [root, *root.children(recursive=True)]:
        for connection in process.net_connections("inet"):
            if connection.status == psutil.CONN_LISTEN:
                found.add((connection.laddr.ip, connection.laddr.port))
    return sorted(found)


def _plain(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """A plain HTTP request without any credential: (status, body), or (0, b"") if refused."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        connection.close()


def _https_without_certificate(port: int, path: str) -> tuple[int, bytes]:
    """An HTTPS GET that trusts any server but shows no client certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        connection.close()


def _requests(buckets: dict[str, str]) -> list[tuple[str, str, bytes | None]]:
    """What a curious local process would try on a filer, master or volume port."""
    private, bundle = buckets["private"], buckets["bundle"]
    return [
        ("GET", f"/buckets/{private}/delivery.csv", None),
        ("GET", f"/buckets/{private}/", None),
        ("GET", f"/buckets/{private}/?pretty=y", None),
        ("GET", "/buckets/", None),
        ("GET", f"/{private}/delivery.csv", None),
        ("PUT", f"/buckets/{bundle}/index.html", b"<p>defaced</p>"),
        ("POST", f"/buckets/{bundle}/evil.html", b"<p>planted</p>"),
        ("DELETE", f"/buckets/{private}/delivery.csv", None),
        ("DELETE", f"/buckets/{bundle}/index.html", None),
        ("GET", "/dir/assign", None),
        ("POST", "/submit", b"planted"),
        ("GET", f"/col/delete?collection={private}", None),
        ("GET", "/dir/status", None),
    ]


def _weed_shell(server: SeaweedS3, config_dir: Path, master: str, filer: str, path: str) -> str:
    """``weed shell`` reading ``path`` over gRPC; its output ("" when it cannot connect)."""
    command = [
        server.weed_binary,
        f"-config_dir={config_dir}",
        "shell",
        f"-master={master}",
        f"-filer={filer}",
    ]
    try:
        result = subprocess.run(
            command,
            input=f"fs.cat {path}\nexit\n".encode(),
            cwd=config_dir,
            capture_output=True,
            timeout=SHELL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        return ((expired.stdout or b"") + (expired.stderr or b"")).decode(errors="replace")
    return (result.stdout + result.stderr).decode(errors="replace")


def test_every_port_is_on_loopback_and_known(s3_server: SeaweedS3) -> None:
    assert s3_server.pid is not None
    listening = _listening(s3_server.pid)
    assert listening, "weed listens on nothing?"
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening
    assert {port for _, port in listening} == set(s3_server._ports.values()), (
        listening,
        s3_server._ports,
    )


def test_no_port_but_s3_gives_an_object_or_takes_a_write(
    s3_server: SeaweedS3, planted: dict[str, str]
) -> None:
    assert s3_server.pid is not None
    ports = [port for _, port in _listening(s3_server.pid)]
    assert s3_server.s3_port in ports
    secret_text = SECRET_ROW.strip()
    for port in ports:
        for method, path, body in _requests(planted):
            status, answer = _plain(port, method, path, body)
            where = f"plain {method} {path} on port {port}"
            assert not 200 <= status < 400, f"{where} answered {status}: {answer[:200]!r}"
            assert secret_text not in answer, f"{where} leaked the delivery file"
            if "delivery.csv" not in path:  # an error may echo the key it was asked for
                assert b"delivery.csv" not in answer, f"{where} listed the private bucket"
        if port == s3_server.s3_port:
            continue
        for path in (f"/buckets/{planted['private']}/delivery.csv", "/dir/status"):
            status, answer = _https_without_certificate(port, path)
            assert status == 0 or status >= 400, (port, path, status, answer[:200])
            assert secret_text not in answer

    # Nothing was written, replaced or deleted: the S3 keys still see exactly what was planted.
    client = s3_server.client()
    read = client.get_object(Bucket=planted["private"], Key="delivery.csv")["Body"].read()
    assert read == SECRET_ROW
    page = client.get_object(Bucket=planted["bundle"], Key="index.html")["Body"].read()
    assert page == b"<p>edition</p>"
    for bucket, keys in (
        (planted["private"], ["delivery.csv"]),
        (planted["bundle"], ["index.html"]),
    ):
        listed = [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert listed == keys, bucket


def test_grpc_reads_need_the_certificates(
    s3_server: SeaweedS3, planted: dict[str, str], tmp_path: Path
) -> None:
    assert s3_server.pid is not None
    ports = s3_server._ports
    path = f"/buckets/{planted['private']}/delivery.csv"
    secret_text = SECRET_ROW.strip().decode()
    empty = tmp_path / "no-certificates"
    empty.mkdir()
    master = f"127.0.0.1:{ports['master']}.{ports['master_grpc']}"
    filer = f"127.0.0.1:{ports['filer']}.{ports['filer_grpc']}"
    # Every listening port tried as master and as filer, and the real pair: without the
    # certificates, nothing is read (the shell cannot even connect).
    attempts = [(master, filer)] + [
        (f"127.0.0.1:{port}.{port}", f"127.0.0.1:{port}.{port}")
        for _, port in _listening(s3_server.pid)
    ]
    with ThreadPoolExecutor(max_workers=len(attempts) + 1) as pool:
        control = pool.submit(_weed_shell, s3_server, s3_server.security_dir, master, filer, path)
        outputs = list(
            pool.map(lambda pair: _weed_shell(s3_server, empty, pair[0], pair[1], path), attempts)
        )
    for (tried_master, tried_filer), output in zip(attempts, outputs, strict=True):
        assert secret_text not in output, f"gRPC read through {tried_master} / {tried_filer}"
    # The same read with weed's own certificates works: the probe itself is sound.
    assert secret_text in control.result(), control.result()[-500:]


def test_unix_sockets_are_closed_to_others_and_check_tokens(
    s3_server: SeaweedS3, planted: dict[str, str]
) -> None:
    sockets = [path for path in s3_server._sockets() if path.exists()]
    assert sockets
    for path in sockets:
        mode = stat.S_IMODE(path.stat().st_mode)
        # Connecting to a unix socket needs write permission on it: the owner only.
        assert not mode & 0o022, f"{path} mode {oct(mode)}"
    filer_socket = Path(s3_server._local_socket("filer"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(filer_socket))
        request = f"GET /buckets/{planted['private']}/delivery.csv HTTP/1.0\r\nHost: x\r\n\r\n"
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 401 " in status_line or b" 403 " in status_line, status_line
    assert SECRET_ROW.strip() not in answer


def test_server_folders_and_certificates_are_private(s3_server: SeaweedS3) -> None:
    for folder in (s3_server.root, s3_server.data_dir, s3_server.security_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    files = list(s3_server.security_dir.iterdir())
    assert {path.name for path in files} == {"security.toml", "ca.crt", "node.crt", "node.key"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_the_s3_gateway_still_works_with_the_keys(
    s3_server: SeaweedS3, planted: dict[str, str]
) -> None:
    import urllib.request

    client = s3_server.client()
    client.put_object(Bucket=planted["bundle"], Key="new.txt", Body=b"fresh")
    assert client.get_object(Bucket=planted["bundle"], Key="new.txt")["Body"].read() == b"fresh"
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": planted["private"], "Key": "delivery.csv"}, ExpiresIn=60
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == SECRET_ROW
    client.delete_object(Bucket=planted["bundle"], Key="new.txt")
