"""The services the native stack runs: PostgreSQL, Redis, SeaweedFS and Airflow's environment.

Each is started the way docker-compose.yml starts it, on a free loopback port, and waited for
until it answers; Airflow's init (``db migrate``, then ``matinale init``) runs once they do.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from matinale.dev.stack.links import links_db_uri
from matinale.dev.stack.processes import ProcessStack, StackError, _free_port, _wait_until, log

__all__ = ["AIRFLOW_COMPONENTS", "LOG_SERVERS", "StackServices"]

# The Airflow services of docker-compose.yml, as `airflow` sub-commands. Each of scheduler,
# triggerer and worker would start a log server on every interface (0.0.0.0):
# `--skip-serve-logs`, and LOG_SERVERS start the same app on 127.0.0.1, as `make up` does.
AIRFLOW_COMPONENTS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer", "--skip-serve-logs"),
    "worker": ("celery", "worker", "--skip-serve-logs"),
}
# Airflow's log server app, per process name: the port (a key of ``ports``) it serves on.
LOG_SERVERS: dict[str, str] = {
    "worker-log-server": "worker_logs",
    "trigger-log-server": "trigger_logs",
}
_LOG_APP = "airflow.utils.serve_logs.log_server:get_app"
_PG_VERSIONS = ("15", "16", "17", "14")


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


class StackServices(ProcessStack):
    """Start, reach and stop the backing services and give Airflow its shared environment."""

    def secret_values(self) -> list[str]:
        """Every secret this stack generated (for leak checks: none may reach a log)."""
        values = list(self._secret.values())
        env = self._env or {}
        values += [
            env[k]
            for k in (
                "AIRFLOW__CORE__FERNET_KEY",
                "AIRFLOW__API_AUTH__JWT_SECRET",
                "AIRFLOW__API__SECRET_KEY",
            )
            if k in env
        ]
        if self._s3 is not None:
            values.append(self._s3.credentials.secret_key)
        if self.links_keys is not None:
            values.append(self.links_keys.secret_key)
        return values

    def log_server_argv(self, name: str) -> list[str]:
        """The command of one of LOG_SERVERS: Airflow's log server app on 127.0.0.1 only."""
        port = self.ports[LOG_SERVERS[name]]
        uvicorn = [sys.executable, "-m", "uvicorn", "--factory", _LOG_APP, "--no-access-log"]
        return [*uvicorn, "--host", "127.0.0.1", "--port", str(port)]

    def listening(self) -> list[tuple[str, str, int]]:
        """(process name, address, port) of every TCP socket the stack's processes listen on."""
        import psutil

        groups = {proc.pid: proc.name for proc in self.processes}
        if self._s3 is not None and self._s3.pid:
            groups[self._s3.pid] = "s3"
        found = []
        for process in psutil.process_iter():
            try:
                name = groups.get(os.getpgid(process.pid))
                if name is None:
                    continue
                connections = process.net_connections("inet")
            except (psutil.Error, ProcessLookupError):
                continue
            found += [
                (name, c.laddr.ip, c.laddr.port)
                for c in connections
                if c.status == psutil.CONN_LISTEN
            ]
        return sorted(set(found))

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
                raise StackError(
                    "running as root needs the `postgres` OS user (Debian's postgresql package creates it)"
                ) from exc
            user = "postgres"
            os.chown(self._pg_dir, account.pw_uid, account.pw_gid)
        data = self._pg_dir / "data"
        pwfile = self._pg_dir / "pwfile"
        pwfile.write_text(self._secret["postgres"])
        if user:
            os.chown(pwfile, pwd.getpwnam(user).pw_uid, -1)
        pwfile.chmod(0o600)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        self._run(
            "initdb",
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "airflow",
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ],
            env=env,
            user=user,
            cwd=self._pg_dir,
        )
        pwfile.unlink()
        port = self.ports["postgres"] = _free_port()
        proc = self._spawn(
            "postgres",
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self._pg_dir}",
                # A throwaway cluster: durability is not what this test proves.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            env=env,
            user=user,
            stop_signal=signal.SIGINT,
            cwd=self._pg_dir,
        )

        def ready() -> bool:
            import psycopg2

            with contextlib.closing(
                psycopg2.connect(
                    host="127.0.0.1",
                    port=port,
                    user="airflow",
                    password=self._secret["postgres"],
                    dbname="postgres",
                    connect_timeout=2,
                )
            ) as conn:
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
            raise StackError(
                "redis-server is not installed: run `make system-deps` as root, or `apt-get install redis-server`"
            )
        port = self.ports["redis"] = _free_port()
        folder = self.root / "redis"
        folder.mkdir()
        config = folder / "redis.conf"
        # The password goes in a 0600 file, not on the command line where `ps` shows it.
        config.write_text(
            f"port {port}\nbind 127.0.0.1\nprotected-mode yes\nrequirepass {self._secret['redis']}\n"
            f'dir {folder}\nsave ""\nappendonly no\ndaemonize no\n'
        )
        config.chmod(0o600)
        proc = self._spawn("redis", [binary, str(config)], env={"PATH": os.environ.get("PATH", "")})

        def ready() -> bool:
            import redis

            return bool(
                redis.Redis(
                    host="127.0.0.1", port=port, password=self._secret["redis"], socket_timeout=2
                ).ping()
            )

        _wait_until(ready, what="Redis", timeout=30, watch=[proc])

    def _start_s3(self) -> None:
        from matinale.dev.links_local import links_identity
        from matinale.dev.seaweed import S3Credentials, S3ServerError, SeaweedS3

        self.links_keys = S3Credentials.generate()  # the link service's own, read-only
        reader = links_identity(self.settings, self.links_keys)
        self._s3 = SeaweedS3(self.root / "s3", S3Credentials.generate(), identities=(reader,))
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

    @property
    def links_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['links']}"

    def s3_client(self) -> Any:
        if self._s3 is None:
            raise StackError("the S3 server is not running")
        return self._s3.client()

    # ------------------------------------------------------------------ Airflow
    @property
    def env(self) -> dict[str, str]:
        """The one environment every Airflow process shares (compose's ``x-airflow-common``)."""
        if self._env is None:
            for name in ("api", "worker_logs", "trigger_logs", "scheduler_health", "links"):
                self.ports[name] = _free_port()
            pg = f"airflow:{self._secret['postgres']}@127.0.0.1:{self.ports['postgres']}/airflow"
            airflow_home = self.root / "airflow"
            airflow_home.mkdir(exist_ok=True)
            # Nothing from the caller's Airflow or S3 setup (a test session's SQLite home, keys)
            # leaks in.
            base = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("AIRFLOW", "MATINALE_", "AWS_"))
            }
            plugins = str(self.home / "plugins")
            self._env = {
                **base,
                "PYTHONPATH": os.pathsep.join(
                    p for p in (plugins, base.get("PYTHONPATH", "")) if p
                ),
                "AIRFLOW_HOME": str(airflow_home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
                    airflow_home / "auth" / "passwords.json"
                ),
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
                # The log servers listen on 127.0.0.1 only: tasks record it as their host, so
                # the API server fetches their logs there (a machine's own name may not resolve
                # to loopback).
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "matinale.dev.local.loopback_hostname",
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.ports["trigger_logs"]),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
                # The DAG file does not change during a test: parse it at start, not every 30 s
                # (CPU the night needs on a shared 2-core machine). Production keeps the default.
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(
                    self.ports["scheduler_health"]
                ),
                "MATINALE_HOME": str(self.home),
                "MATINALE_VAR": str(self.settings.var_dir),
                "MATINALE_INBOX": str(self.settings.inbox),
                "MATINALE_WORK_STORE": "s3",
                "MATINALE_APPROVAL": "on" if self.approval else "off",
                "MATINALE_BUNDLE_BUCKET": self.settings.bundle_bucket,
                "MATINALE_PRIVATE_BUCKET": self.settings.private_bucket,
                "MATINALE_LINKS_PUBLIC_URL": self.links_url,
                "AIRFLOW_CONN_MATINALE_LINKS_DB": links_db_uri(self, "postgres"),
            }
            if self.alert_webhook:
                self._env["AIRFLOW_CONN_MATINALE_ALERTS"] = json.dumps(
                    {"conn_type": "http", "host": self.alert_webhook}
                )
        return self._env

    def use_soon_clocks(self) -> dict[str, str]:
        """Write the campaign copy with clocks minutes ahead (``soon``); every process started
        from now on reads it (``MATINALE_CAMPAIGN_FILE``), and so do ``self.settings``."""
        from dataclasses import replace
        from datetime import UTC, datetime

        from matinale.dev.stack.clocks import SoonClocks, write_soon_campaign
        from matinale.settings import load_settings

        soon = self.soon or SoonClocks(timedelta(minutes=2), timedelta(minutes=4))
        target = self.root / "campaign.yaml"
        clocks = write_soon_campaign(self.home / "campaign.yaml", target, datetime.now(UTC), soon)
        self.campaign_file = target
        self.env["MATINALE_CAMPAIGN_FILE"] = str(target)
        loaded = load_settings(target)
        self.settings = replace(self.settings, clocks=loaded.clocks, campaign_file=target)
        return clocks

    def _airflow_init(self) -> None:
        """Compose's ``airflow-init``: db migrate, then ``matinale init`` (logins, connection, buckets)."""
        env = self.env
        self._run(
            "airflow-init", [sys.executable, "-m", "airflow", "db", "migrate"], env=env, timeout=300
        )
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
        self._run(
            "airflow-init",
            [
                sys.executable,
                "-m",
                "matinale.cli",
                "init",
                "--passwords-file",
                env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"],
            ],
            env=init_env,
        )
        with log_path.open("rb") as handle:
            handle.seek(start)
            return handle.read().decode("utf-8", errors="replace")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows from the metadata database (PostgreSQL), for checks."""
        import psycopg2

        with contextlib.closing(
            psycopg2.connect(
                host="127.0.0.1",
                port=self.ports["postgres"],
                user="airflow",
                password=self._secret["postgres"],
                dbname="airflow",
            )
        ) as conn:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
