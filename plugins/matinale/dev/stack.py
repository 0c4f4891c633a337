"""The production topology of docker-compose.yml, run natively: ``make stack-test``.

Docker is not available where Matinale is tested, so this runs the same services as local
processes on free loopback ports, each in its own process group, all under one temporary
folder:

- PostgreSQL from Debian (``initdb`` + ``postgres``; as the ``postgres`` OS user when run as
  root, since PostgreSQL refuses root) — compose uses PostgreSQL 16, Debian 12 ships 15;
- ``redis-server`` from Debian, with a password, as the Celery broker;
- SeaweedFS (``weed server -s3`` with an S3 identity) through :class:`matinale.dev.seaweed.SeaweedS3`;
- Airflow with the CeleryExecutor: the init steps of compose's ``airflow-init`` (db migrate,
  login file, ``aws_default`` connection, buckets), then api-server, scheduler,
  dag-processor, triggerer and one Celery worker, sharing one environment.

The night's intermediate files go to the private bucket (``MATINALE_WORK_STORE=s3``), as with
workers that share no disk. The inbox stays a local folder every process can read, as the
compose file mounts one host folder into every Airflow container.

A run is driven only through Airflow's REST API (v2), with a JWT from the auth manager:
unpause, trigger, approve the edition when the DAG asks a human (HITL), wait for the end.
:meth:`NativeStack.stop` ends every process it started, by process group, and removes the
temporary folder, also when something failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from matinale.settings import Settings, load_settings

__all__ = [
    "AIRFLOW_COMPONENTS",
    "DAG_ID",
    "NativeStack",
    "NightResult",
    "StackError",
    "run_stack_test",
    "verify_bundle",
]

log = logging.getLogger(__name__)

DAG_ID = "matinale_nightly"
# The Airflow services of docker-compose.yml, as `airflow` sub-commands.
AIRFLOW_COMPONENTS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler",),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer",),
    "worker": ("celery", "worker"),
}
_APPROVE_WORDS = ("approve", "approuver", "publier", "valider", "oui", "yes")
_PG_VERSIONS = ("15", "16", "17", "14")


class StackError(RuntimeError):
    """The native stack could not start, or the night did not succeed on it."""


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    # SIGINT is PostgreSQL's "fast shutdown"; the others stop cleanly on SIGTERM.
    stop_signal: int = signal.SIGTERM
    grace: float = 20.0

    @property
    def pid(self) -> int:
        return self.popen.pid


@dataclass(frozen=True)
class NightResult:
    """How one triggered run ended, as Airflow's REST API reported it."""

    run_id: str
    state: str
    tasks: dict[str, str]
    approvals: list[dict[str, Any]] = field(default_factory=list)
    task_instances: list[dict[str, Any]] = field(default_factory=list, repr=False)


def _free_port() -> int:
    """A free loopback port (the OS picks it; the service binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path} not readable)"
    return "\n".join(text.splitlines()[-lines:])


def _pg_bin() -> Path:
    for version in _PG_VERSIONS:
        folder = Path(f"/usr/lib/postgresql/{version}/bin")
        if (folder / "postgres").is_file():
            return folder
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if found:
        return found[-1].parent
    raise StackError(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): run `make system-deps` "
        "as root, or `apt-get install postgresql`"
    )


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _wait_until(check: Callable[[], bool], *, what: str, timeout: float, watch: list[_Process]) -> None:
    """Poll ``check`` until true; fail early, with its log, if a watched process died."""
    deadline = time.monotonic() + timeout
    last_error = "not ready"
    while True:
        for proc in watch:
            if proc.popen.poll() is not None:
                raise StackError(
                    f"{proc.name} exited with code {proc.popen.returncode} while waiting for {what}; "
                    f"last lines of {proc.log}:\n{_tail(proc.log)}"
                )
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - a service that is still starting refuses or resets
            last_error = f"{type(exc).__name__}: {exc}"[:300]
        if time.monotonic() > deadline:
            details = "\n".join(f"--- {p.name} ({p.log}):\n{_tail(p.log, 15)}" for p in watch)
            raise StackError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last_error})\n{details}")
        time.sleep(0.5)


class NativeStack:
    """PostgreSQL, Redis, SeaweedFS and Airflow (CeleryExecutor) as local processes.

    Use as a context manager: ``with NativeStack(home) as stack: stack.run_night(...)``.
    """

    def __init__(
        self,
        home: Path,
        *,
        root: Path | None = None,
        approval: bool = True,
        worker_concurrency: int = 2,
        keep: bool = False,
    ) -> None:
        self.home = Path(home).resolve()
        self._own_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="matinale-stack-"))
        self.approval = approval
        self.worker_concurrency = worker_concurrency
        self.keep = keep
        self.processes: list[_Process] = []
        self.started_pids: list[int] = []
        self._secret = {
            "postgres": secrets.token_urlsafe(16),
            "redis": secrets.token_urlsafe(16),
            "admin": secrets.token_urlsafe(16),
        }
        self.ports: dict[str, int] = {}
        self._pg_dir: Path | None = None
        self._s3: Any = None
        self.timings: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._env: dict[str, str] | None = None
        self._token: str | None = None
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        self.settings: Settings = replace(
            load_settings(self.home / "campaign.yaml"),
            var_dir=self.root / "var",
            inbox=self.root / "inbox",
            work_store="s3",
            approval=approval,
        )

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> NativeStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the services in compose's dependency order and wait until each is healthy."""
        with self._timed("postgres"):
            self._start_postgres()
        with self._timed("redis"):
            self._start_redis()
        with self._timed("s3"):
            self._start_s3()
        with self._timed("airflow-init"):
            self._airflow_init()
        with self._timed("airflow-up"):
            for name, argv in AIRFLOW_COMPONENTS.items():
                self._spawn(name, [sys.executable, "-m", "airflow", *argv], env=self.env)
            self._wait_healthy()

    @contextlib.contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[phase] = round(time.monotonic() - started, 1)

    def stop(self) -> None:
        """Stop every started process (Airflow first, Postgres last) and remove the folder."""
        with self._timed("stop"):
            self._stop_all()

    def secret_values(self) -> list[str]:
        """Every secret this stack generated (for leak checks: none may reach a log)."""
        values = list(self._secret.values())
        env = self._env or {}
        values += [env[k] for k in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY") if k in env]
        if self._s3 is not None:
            values.append(self._s3.credentials.secret_key)
        return values

    def log_files(self) -> list[Path]:
        """Every log the stack's services and tasks wrote."""
        return sorted(p for p in self.root.rglob("*.log") if p.is_file())

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each started process group has used so far, from /proc."""
        groups = {proc.pid: proc.name for proc in self.processes}
        if self._s3 is not None and self._s3.pid:
            groups[self._s3.pid] = "s3"
        ticks = os.sysconf("SC_CLK_TCK")
        used = dict.fromkeys(groups.values(), 0.0)
        for stat_file in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat_file.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # After the command name: state ppid pgrp ... utime(12) stime(13) cutime(14) cstime(15).
            group = int(fields[2])
            if group in groups:
                used[groups[group]] += sum(int(v) for v in fields[11:15]) / ticks
        return {name: round(value, 1) for name, value in used.items()}

    def _stop_all(self) -> None:
        if self.processes:
            with contextlib.suppress(OSError, ValueError, IndexError):
                self.cpu = self.cpu_seconds()
        # Airflow's components first (together: each may take its grace period), then the
        # services they use, PostgreSQL last.
        airflow = [p for p in self.processes if p.name in AIRFLOW_COMPONENTS]
        backing = [p for p in self.processes if p.name not in AIRFLOW_COMPONENTS]
        self._stop_group(airflow)
        if self._s3 is not None:
            try:
                self._s3.stop(grace=1)  # throwaway data; weed's graceful stop takes ~15 s
            except Exception:  # noqa: BLE001 - Redis and PostgreSQL must be stopped all the same
                log.exception("stopping SeaweedFS failed")
        for proc in reversed(backing):
            self._stop_group([proc])
        self.processes.clear()
        if self._pg_dir and not self.keep:
            shutil.rmtree(self._pg_dir, ignore_errors=True)
        if self._own_root and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _stop_group(procs: list[_Process]) -> None:
        """Signal each process group, wait up to its grace period, then SIGKILL what is left."""
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, proc.stop_signal)
        deadline = time.monotonic() + max((p.grace for p in procs), default=0)
        for proc in procs:
            try:
                proc.popen.wait(timeout=max(0.1, min(proc.grace, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                log.info("%s (pid %d) still running after signal %d; killing its group", proc.name, proc.pid, proc.stop_signal)
            # Children (task runners, log servers, uvicorn workers) may outlive their leader.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)

    def _spawn(self, name: str, argv: list[str], *, env: dict[str, str], user: str | None = None,
               stop_signal: int = signal.SIGTERM, grace: float = 20.0, cwd: Path | None = None) -> _Process:
        path = self.root / "logs" / f"{name}.log"
        with path.open("ab") as out:
            popen = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, user=user, cwd=cwd or self.root,
            )
        proc = _Process(name, popen, path, stop_signal, grace)
        self.processes.append(proc)
        self.started_pids.append(popen.pid)
        return proc

    def _run(self, name: str, argv: list[str], *, env: dict[str, str] | None = None,
             user: str | None = None, timeout: float = 180, cwd: Path | None = None) -> None:
        path = self.root / "logs" / f"{name}.log"
        with path.open("ab") as out:
            out.write(f"$ {' '.join(argv[:4])} …\n".encode())
            out.flush()
            result = subprocess.run(  # noqa: S603 - fixed argv, no shell
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                user=user, cwd=cwd or self.root, timeout=timeout, check=False,
            )
        if result.returncode != 0:
            raise StackError(f"{name} failed (exit {result.returncode}); last lines of {path}:\n{_tail(path)}")

    # ------------------------------------------------------------------ services
    def _start_postgres(self) -> None:
        bindir = _pg_bin()
        user = None
        self._pg_dir = Path(tempfile.mkdtemp(prefix="matinale-pg-"))
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: its files and processes belong to `postgres`.
            try:
                account = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise StackError("running as root needs the `postgres` OS user (Debian's postgresql package creates it)") from exc
            user = "postgres"
            os.chown(self._pg_dir, account.pw_uid, account.pw_gid)
        data = self._pg_dir / "data"
        pwfile = self._pg_dir / "pwfile"
        pwfile.write_text(self._secret["postgres"])
        if user:
            os.chown(pwfile, pwd.getpwnam(user).pw_uid, -1)
        pwfile.chmod(0o600)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        self._run("initdb", [str(bindir / "initdb"), "-D", str(data), "-U", "airflow", f"--pwfile={pwfile}",
                             "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-locale"],
                  env=env, user=user, cwd=self._pg_dir)
        pwfile.unlink()
        port = self.ports["postgres"] = _free_port()
        proc = self._spawn(
            "postgres",
            [str(bindir / "postgres"), "-D", str(data), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self._pg_dir}",
             # A throwaway cluster: durability is not what this test proves.
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            env=env, user=user, stop_signal=signal.SIGINT, cwd=self._pg_dir,
        )

        def ready() -> bool:
            import psycopg2

            with contextlib.closing(psycopg2.connect(host="127.0.0.1", port=port, user="airflow",
                                                     password=self._secret["postgres"], dbname="postgres",
                                                     connect_timeout=2)) as conn:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
                    if cur.fetchone() is None:
                        cur.execute("CREATE DATABASE airflow")
            return True

        _wait_until(ready, what="PostgreSQL", timeout=60, watch=[proc])

    def _start_redis(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise StackError("redis-server is not installed: run `make system-deps` as root, or `apt-get install redis-server`")
        port = self.ports["redis"] = _free_port()
        folder = self.root / "redis"
        folder.mkdir()
        config = folder / "redis.conf"
        # The password goes in a 0600 file, not on the command line where `ps` shows it.
        config.write_text(
            f"port {port}\nbind 127.0.0.1\nprotected-mode yes\nrequirepass {self._secret['redis']}\n"
            f"dir {folder}\nsave \"\"\nappendonly no\ndaemonize no\n"
        )
        config.chmod(0o600)
        proc = self._spawn("redis", [binary, str(config)], env={"PATH": os.environ.get("PATH", "")})

        def ready() -> bool:
            import redis

            return bool(redis.Redis(host="127.0.0.1", port=port, password=self._secret["redis"], socket_timeout=2).ping())

        _wait_until(ready, what="Redis", timeout=30, watch=[proc])

    def _start_s3(self) -> None:
        from matinale.dev.seaweed import S3Credentials, S3ServerError, SeaweedS3

        self._s3 = SeaweedS3(self.root / "s3", S3Credentials.generate())
        try:
            self._s3.start()
        except S3ServerError as exc:
            raise StackError(f"SeaweedFS did not start: {exc}") from exc
        if self._s3.pid:
            self.started_pids.append(self._s3.pid)
        self.ports["s3"] = self._s3.s3_port or 0

    @property
    def postgres_dir(self) -> Path | None:
        """The PostgreSQL cluster's folder (outside ``root``: it belongs to the postgres user)."""
        return self._pg_dir

    @property
    def s3_endpoint(self) -> str:
        return self._s3.endpoint_url if self._s3 else ""

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    def s3_client(self) -> Any:
        if self._s3 is None:
            raise StackError("the S3 server is not running")
        return self._s3.client()

    # ------------------------------------------------------------------ Airflow
    @property
    def env(self) -> dict[str, str]:
        """The one environment every Airflow process shares (compose's ``x-airflow-common``)."""
        if self._env is None:
            for name in ("api", "worker_logs", "trigger_logs", "scheduler_health"):
                self.ports[name] = _free_port()
            pg = f"airflow:{self._secret['postgres']}@127.0.0.1:{self.ports['postgres']}/airflow"
            airflow_home = self.root / "airflow"
            airflow_home.mkdir(exist_ok=True)
            # Nothing from the caller's Airflow or S3 setup (a test session's SQLite home, keys)
            # leaks in.
            base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MATINALE_", "AWS_"))}
            plugins = str(self.home / "plugins")
            self._env = {
                **base,
                "PYTHONPATH": os.pathsep.join(p for p in (plugins, base.get("PYTHONPATH", "")) if p),
                "AIRFLOW_HOME": str(airflow_home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "auth" / "passwords.json"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{pg}",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{pg}",
                "AIRFLOW__CELERY__BROKER_URL": f"redis://:{self._secret['redis']}@127.0.0.1:{self.ports['redis']}/0",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__PORT": str(self.ports["api"]),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": plugins,
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.ports["worker_logs"]),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.ports["trigger_logs"]),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
                # The DAG file does not change during a test: parse it at start, not every 30 s
                # (CPU the night needs on a shared 2-core machine). Production keeps the default.
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.ports["scheduler_health"]),
                "MATINALE_HOME": str(self.home),
                "MATINALE_VAR": str(self.settings.var_dir),
                "MATINALE_INBOX": str(self.settings.inbox),
                "MATINALE_WORK_STORE": "s3",
                "MATINALE_APPROVAL": "on" if self.approval else "off",
                "MATINALE_BUNDLE_BUCKET": self.settings.bundle_bucket,
                "MATINALE_PRIVATE_BUCKET": self.settings.private_bucket,
            }
        return self._env

    def _airflow_init(self) -> None:
        """Compose's ``airflow-init``: db migrate, then ``matinale init`` (logins, connection, buckets)."""
        env = self.env
        self._run("airflow-init", [sys.executable, "-m", "airflow", "db", "migrate"], env=env, timeout=300)
        self.init()

    def init(self) -> str:
        """Run ``matinale init`` (compose's init after the migration); return what it printed."""
        env = self.env
        # The keys reach init through the environment, not argv where `ps` would show them.
        init_env = {
            **env,
            "AIRFLOW_ADMIN_PASSWORD": self._secret["admin"],
            "MATINALE_AWS_CONN_JSON": self._s3.airflow_connection_json() if self._s3 else "",
        }
        log_path = self.root / "logs" / "airflow-init.log"
        start = log_path.stat().st_size if log_path.exists() else 0
        self._run("airflow-init", [sys.executable, "-m", "matinale.cli", "init",
                                   "--passwords-file", env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]],
                  env=init_env)
        with log_path.open("rb") as handle:
            handle.seek(start)
            return handle.read().decode("utf-8", errors="replace")

    def _wait_healthy(self) -> None:
        """The compose healthchecks, natively: API version, scheduler /health, job heartbeats."""
        import httpx

        airflow = [p for p in self.processes if p.name in AIRFLOW_COMPONENTS]
        _wait_until(lambda: httpx.get(f"{self.api_url}/api/v2/version", timeout=3).status_code == 200,
                    what="the API server", timeout=300, watch=airflow)
        health_url = f"http://127.0.0.1:{self.ports['scheduler_health']}/health"
        _wait_until(lambda: httpx.get(health_url, timeout=3).status_code == 200,
                    what="the scheduler's health check", timeout=300, watch=airflow)

        def all_healthy() -> bool:
            health = self.api("GET", "/api/v2/monitor/health").json()
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

        _wait_until(all_healthy, what="scheduler, triggerer and dag-processor heartbeats", timeout=300, watch=airflow)

    # ------------------------------------------------------------------ REST API
    def token(self) -> str:
        """A JWT for ``admin`` from the auth manager (POST /auth/token)."""
        import httpx

        if self._token is None:
            response = httpx.post(f"{self.api_url}/auth/token",
                                  json={"username": "admin", "password": self._secret["admin"]}, timeout=10)
            if response.status_code != 201:
                raise StackError(f"POST /auth/token answered {response.status_code}: {response.text[:200]}")
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        response = httpx.request(method, f"{self.api_url}{path}", headers={"Authorization": f"Bearer {self.token()}"},
                                 timeout=30, **kwargs)
        if response.status_code >= 400:
            raise StackError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response

    def wait_for_dag(self, timeout: float = 300) -> dict[str, Any]:
        """Wait until the dag-processor has parsed the DAG; fail with its import error if any."""
        found: dict[str, Any] = {}

        def parsed() -> bool:
            errors = self.api("GET", "/api/v2/importErrors").json().get("import_errors", [])
            if errors:
                raise StackError(f"DAG import errors: {[(e['filename'], e['stack_trace'][-500:]) for e in errors]}")
            found.update(self.api("GET", f"/api/v2/dags/{DAG_ID}").json())
            return True

        deadline = time.monotonic() + timeout
        while True:
            try:
                if parsed():
                    return found
            except StackError as exc:
                if "import errors" in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(1)

    def run_night(self, edition: date, *, timeout: float = 600) -> NightResult:
        """Unpause, trigger one run for ``edition``, approve it when asked, wait for its end."""
        with self._timed("night"):
            return self._run_night(edition, timeout)

    def _run_night(self, edition: date, timeout: float) -> NightResult:
        self.wait_for_dag()
        self.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
        run_id = f"stack__{datetime.now(UTC):%Y%m%dT%H%M%S}"
        self.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns",
                 json={"dag_run_id": run_id, "logical_date": None, "conf": {"edition_date": edition.isoformat()}})
        # Only a DAG with a human step needs its pending requests polled.
        asks_humans = bool(self.approval_tasks())
        approvals: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        state = "queued"
        while time.monotonic() < deadline:
            state = self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
            if state in {"success", "failed"}:
                break
            if asks_humans:
                approvals.extend(self._approve_pending(run_id))
            dead = [p for p in self.processes if p.popen.poll() is not None]
            if dead:
                raise StackError(f"{dead[0].name} exited during the run; last lines:\n{_tail(dead[0].log)}")
            time.sleep(2)
        instances = self.task_instances(run_id)
        tasks = {
            (t["task_id"] if t["map_index"] < 0 else f"{t['task_id']}[{t['map_index']}]"): str(t["state"])
            for t in instances
        }
        if state != "success":
            raise StackError(f"run {run_id} ended {state!r} (tasks: {tasks})\n{self._failed_logs(run_id, tasks)}")
        return NightResult(run_id=run_id, state=state, tasks=tasks, approvals=approvals, task_instances=instances)

    def _approve_pending(self, run_id: str) -> list[dict[str, Any]]:
        """Answer every pending human-in-the-loop request of the run as staff would: approve."""
        pending = self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails",
                           params={"response_received": "false"}).json().get("hitl_details", [])
        done = []
        for detail in pending:
            ti = detail["task_instance"]
            options = detail["options"]
            choice = next((o for o in options if o.strip().lower() in _APPROVE_WORDS), None)
            choice = choice or (detail.get("defaults") or [options[0]])[0]
            self.api("PATCH", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/{ti['map_index']}/hitlDetails",
                     json={"chosen_options": [choice], "params_input": {}})
            done.append({"task_id": ti["task_id"], "subject": detail["subject"], "chosen": choice, "options": options})
        return done

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        """The run's task instances as the REST API shows them (state, hostname, executor…)."""
        return self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances",
                        params={"limit": 1000}).json()["task_instances"]

    def approval_tasks(self) -> list[str]:
        """Ids of the DAG's human-in-the-loop tasks (approval before publish), if any."""
        tasks = self.api("GET", f"/api/v2/dags/{DAG_ID}/tasks").json()["tasks"]
        return [t["task_id"] for t in tasks if any(k in (t.get("operator_name") or "") for k in ("HITL", "Approval"))]

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows from the metadata database (PostgreSQL), for checks."""
        import psycopg2

        with contextlib.closing(psycopg2.connect(host="127.0.0.1", port=self.ports["postgres"], user="airflow",
                                                 password=self._secret["postgres"], dbname="airflow")) as conn:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())

    def _failed_logs(self, run_id: str, tasks: dict[str, str]) -> str:
        failed = [name.split("[")[0] for name, state in tasks.items() if state not in {"success", "skipped"}]
        logs_dir = self.root / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
        parts = []
        for task_id in sorted(set(failed)):
            for path in sorted(logs_dir.glob(f"task_id={task_id}/**/*.log"))[-1:]:
                parts.append(f"--- {path.relative_to(self.root)}:\n{_tail(path, 25)}")
        return "\n".join(parts) or f"(no task log under {logs_dir}; see {self.root / 'logs'})"

    def alive(self) -> list[int]:
        """Started process ids that still run (empty after :meth:`stop`)."""
        running = []
        for pid in self.started_pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            running.append(pid)
        return running


def _read(client: Any, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def verify_bundle(client: Any, bucket: str, edition: date) -> dict[str, Any]:
    """Follow latest.json to the published run; check every manifest entry's size and sha256."""
    pointer = json.loads(_read(client, bucket, "latest.json"))
    if pointer.get("edition") != edition.isoformat():
        raise StackError(f"latest.json names edition {pointer.get('edition')!r}, not {edition}")
    manifest = json.loads(_read(client, bucket, pointer["manifest"]))
    if not manifest.get("files"):
        raise StackError(f"{pointer['manifest']} lists no file")
    for entry in manifest["files"]:
        data = _read(client, bucket, pointer["prefix"] + entry["path"])
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise StackError(f"{entry['path']} in s3://{bucket}/{pointer['prefix']} differs from the manifest")
    return {"pointer": pointer, "manifest": manifest}


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A SIGTERM (CI cancelling) reaches the ``finally`` that stops the stack, like Ctrl-C."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_stack_test(*, rows: int = 3_000, approval: bool = True, keep: bool = False, home: Path | None = None) -> int:
    """``make stack-test``: one night through the native production topology; 0 when published."""
    from matinale.dev.local import fill_inbox
    from matinale.schedule import edition_for
    from matinale.settings import project_home

    started = time.monotonic()
    stack = NativeStack(home or project_home(), approval=approval, keep=keep)
    edition = edition_for(datetime.now(UTC), stack.settings.clocks)
    print(f"Native stack in {stack.root} (PostgreSQL, Redis, SeaweedFS, Airflow CeleryExecutor)", flush=True)
    try:
        with _sigterm_as_interrupt(), stack:
            fill_inbox(stack.settings, edition, rows=rows, seed=7)
            print(f"Ports: {stack.ports}; up in {time.monotonic() - started:.0f} s; triggering {DAG_ID} "
                  f"for edition {edition} through the REST API", flush=True)
            result = stack.run_night(edition)
            published = verify_bundle(stack.s3_client(), stack.settings.bundle_bucket, edition)
    except StackError as exc:
        print(f"Stack test FAILED: {exc}", file=sys.stderr)
        return 1
    for approval_given in result.approvals:
        print(f"Approved through the API: {approval_given['task_id']} → {approval_given['chosen']}")
    pointer = published["pointer"]
    print(f"Run {result.run_id}: {result.state}, {len(result.tasks)} task instances; "
          f"bundle s3://{stack.settings.bundle_bucket}/{pointer['prefix']} "
          f"({len(published['manifest']['files'])} files verified)")
    print(f"Stopped every process; seconds per phase {stack.timings}; total {time.monotonic() - started:.0f} s")
    print(f"CPU seconds per service: {stack.cpu}")
    return 0
