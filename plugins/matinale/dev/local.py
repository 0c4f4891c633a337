"""Run Matinale on one machine: the ``make run`` demo and ``make up``.

Everything lives under the project's ``var/`` folder: the Airflow home (SQLite), the local
S3 server's data and locally generated keys, the inbox and the work store, and the logs
(``var/logs/``).

``make up`` starts what ``airflow standalone`` starts (scheduler, DAG processor, triggerer,
API server), each with its own log file under ``var/logs/airflow/``, so the terminal keeps
the banner (addresses, login, links to the latest edition; printed again after each
promotion). Everything listens on 127.0.0.1 unless ``MATINALE_UI_HOST`` says otherwise:
standalone cannot do that, as Airflow 3.3's log servers (scheduler, triggerer) bind every
interface; here they are started apart, on the UI's host.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from matinale.dev.links_local import LINKS_PORT
from matinale.errors import MatinaleError
from matinale.schedule import edition_for
from matinale.settings import Settings, load_settings

__all__ = [
    "airflow_env",
    "airflow_processes",
    "fill_inbox",
    "local_s3_client",
    "loopback_hostname",
    "print_latest_links",
    "run_demo",
    "run_up",
    "sample_brief_for",
    "ui_host",
    "up_env",
]

DEMO_ROWS = 20_000
DEMO_SEED = 42


def _bin(name: str) -> str:
    """A console script of this virtualenv (airflow, weed), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def sqlite_airflow_env(airflow_home: Path, project: Path) -> dict[str, str]:
    """Airflow settings for a throwaway home (SQLite metadata), DAGs and plugins from ``project``."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(project / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
    }


def airflow_env(settings: Settings) -> dict[str, str]:
    """Environment for an Airflow home inside the project (SQLite), DAGs and plugins from the repo."""
    home = settings.var_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    return {
        **sqlite_airflow_env(home, settings.home),
        "MATINALE_HOME": str(settings.home),
        "MATINALE_VAR": str(settings.var_dir),
        # Airflow re-launches itself by name (standalone, task runners): find this venv's first.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def sample_brief_for(settings: Settings, edition: date) -> str:
    """The sample brief with its edition date set to ``edition``."""
    from matinale.schemas import SCHEMA_DIR
    from matinale.yamlfile import load_yaml

    path = settings.templates_dir / "sample_brief.yaml"
    text = path.read_text(encoding="utf-8")
    old = load_yaml(path, text=text).data["edition"]
    text = text.replace(f"edition: {old}", f"edition: {edition.isoformat()}", 1)
    # The schema modeline is relative to the file: point it there from the inbox's briefs/.
    schema = os.path.relpath(SCHEMA_DIR / "brief.schema.json", settings.inbox / "briefs")
    return re.sub(r"(?m)^(# yaml-language-server: \$schema=).*$", rf"\g<1>{schema}", text, count=1)


def fill_inbox(
    settings: Settings, edition: date, *, rows: int = DEMO_ROWS, seed: int = DEMO_SEED
) -> Path:
    """Generated sample supporters and the sample brief dated for ``edition``."""
    from matinale.dev.sample import write_sample

    supporters = settings.inbox / "supporters" / f"sample-{rows}-{seed}.csv"
    if not supporters.exists():
        write_sample(rows, seed, supporters)
    # The suppression list's folder (people who objected), empty until someone objects.
    (settings.inbox / "suppression").mkdir(parents=True, exist_ok=True)
    brief = settings.inbox / "briefs" / f"{edition.isoformat()}.yaml"
    brief.parent.mkdir(parents=True, exist_ok=True)
    brief.write_text(sample_brief_for(settings, edition), encoding="utf-8")
    return supporters


def print_latest_links(client: Any, settings: Settings) -> tuple[str, str] | None:
    """Print working presigned links to the latest edition; return what they point at.

    The links are presigned (bearer tokens): printed to the terminal, never logged.
    """
    from datetime import timedelta

    from matinale.publish import latest_links

    links = latest_links(
        client,
        settings.bundle_bucket,
        timedelta(hours=settings.presign_expiry_hours),
        public_url=settings.public_s3_url,
    )
    if links is None:
        print(
            "No edition published yet: trigger matinale_nightly; its links will appear here.",
            flush=True,
        )
        return None
    print(
        f"Edition {links['edition']} (run {links['run']}), links valid {settings.presign_expiry_hours} h:"
    )
    print(f"  Overview (staff): {links['overview_url']}")
    if links["sample_page_url"]:
        print(f"  Page of segment {links['segment']}: {links['sample_page_url']}", flush=True)
    return links["edition"], links["run"]


def _start_s3(settings: Settings, *, s3_port: int | None = None) -> Any:
    from matinale.dev.seaweed import S3Credentials, SeaweedS3

    root = settings.var_dir / "s3"
    root.mkdir(parents=True, exist_ok=True)
    credentials = S3Credentials.load_or_create(root / "credentials.json")
    from matinale.dev.links_local import links_identity

    server = SeaweedS3(root, credentials, s3_port=s3_port, identities=(links_identity(settings),))
    server.start()
    server.ensure_buckets(settings.bundle_bucket, settings.private_bucket)
    return server


@contextlib.contextmanager
def local_s3_client(settings: Settings, *, s3_port: int = 8333) -> Iterator[Any]:
    """An S3 client on the local setup's server for one CLI command: the server ``make up``
    runs on ``s3_port`` when it answers, else one started on free ports and stopped after."""
    if _port_open("127.0.0.1", s3_port):
        from matinale.dev.seaweed import S3Credentials
        from matinale.publish import make_client

        credentials = S3Credentials.load_or_create(settings.var_dir / "s3" / "credentials.json")
        yield make_client(
            f"http://127.0.0.1:{s3_port}",
            credentials.access_key,
            credentials.secret_key,
            max_attempts=2,
        )
        return
    server = _start_s3(settings)
    try:
        yield server.client()
    finally:
        server.stop()


def _run(command: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
        raise SystemExit(
            f"{' '.join(command[:3])} failed (exit {result.returncode}); last lines of {log}:\n"
            + "\n".join(tail)
        )


def _run_night(command: list[str], env: dict[str, str], log: Path, database: Path) -> str | None:
    """Run ``airflow dags test``, its output to ``log``; print each stage as it ends.

    Return None when the run succeeded, else what to say last: the failing task and its
    error's message (from the log), in plain words, and where the full output is.
    """
    from matinale.dev.progress import RunWatcher, failure_message, stage_line, table_header

    watcher = RunWatcher(database, "matinale_nightly")
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        start = out.tell()
        print(table_header(), flush=True)
        popen = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        while True:
            finished = popen.poll() is not None
            for stage in watcher.ended():
                print(stage_line(stage), flush=True)
            if finished:
                break
            time.sleep(0.5)
    failed = watcher.failed_tasks()
    if popen.returncode == 0 and not failed:
        return None
    with log.open(encoding="utf-8", errors="replace") as text:
        text.seek(start)
        message = failure_message(text.read())
    where = (
        f"task {', '.join(failed)}" if failed else f"airflow dags test (exit {popen.returncode})"
    )
    return (
        f"The night failed ({where}); Airflow's full output: {log}\n"
        f"Error: {message or 'see the end of the log above'}"
    )


def download_edition(client: Any, bucket: str, pointer: dict[str, Any], target: Path) -> Path:
    """Copy a published run from S3 to ``target`` (for opening the pages locally)."""
    prefix = pointer["prefix"]
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            path = target / item["Key"][len(prefix) :]
            path.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, item["Key"], str(path))
    return target


def run_demo(*, rows: int = DEMO_ROWS, seed: int = DEMO_SEED) -> int:
    """``make run``: the whole night through Airflow, on embedded defaults."""
    from matinale.publish import LATEST, read_pointer

    settings = load_settings()
    edition = edition_for(datetime.now(UTC), settings.clocks)
    log = settings.var_dir / "logs" / "run.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"Matinale demo: edition {edition.isoformat()} (Paris), {rows} sample supporters, log in {log}",
        flush=True,
    )
    fill_inbox(settings, edition, rows=rows, seed=seed)
    server = _start_s3(settings)
    try:
        env = {**os.environ, **airflow_env(settings), **server.env()}
        # The night's links go through the link service `make up` starts on this machine
        # (campaign.yaml's public address is the campaign's, behind its HTTPS proxy).
        env.setdefault("MATINALE_LINKS_PUBLIC_URL", f"http://127.0.0.1:{LINKS_PORT}")
        print("Airflow: preparing the metadata database (SQLite)…", flush=True)
        _run([_bin("airflow"), "db", "migrate"], env, log)
        print("Airflow: running matinale_nightly, one line per stage as it ends:", flush=True)
        conf = json.dumps({"edition_date": edition.isoformat()})
        # `airflow dags test` (Airflow 3.3.2) crashes at the end of a successful run that has a
        # DeadlineAlert; the demo has no scheduler to fire one anyway.
        test_env = {**env, "MATINALE_DEADLINE_ALERT": "off"}
        command = [_bin("airflow"), "dags", "test", "matinale_nightly", "-c", conf]
        error = _run_night(command, test_env, log, Path(test_env["AIRFLOW_HOME"]) / "airflow.db")
        if error is not None:
            print(error, file=sys.stderr, flush=True)
            return 1
        client = server.client()
        pointer = read_pointer(client, settings.bundle_bucket, LATEST)
        if not pointer or pointer["edition"] != edition.isoformat():
            raise SystemExit(
                f"the run finished but latest.json does not name edition {edition}; see {log}"
            )
        local = download_edition(
            client,
            settings.bundle_bucket,
            pointer,
            settings.var_dir / "editions" / pointer["edition"] / pointer["run"],
        )
    finally:
        server.stop()
    print(f"Bundle: s3://{settings.bundle_bucket}/{pointer['prefix']}")
    print(f"Page: {(local / 'index.html').resolve()}")
    print(
        f"Its links (cards, pack, each segment's page) go through the link service on "
        f"http://127.0.0.1:{LINKS_PORT}: `make up` serves them.",
        flush=True,
    )
    return 0


def _stop_on_signals() -> None:
    """Ctrl-C or a SIGTERM (even when started in the background, where SIGINT is ignored) stops all."""

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


#: The addresses ``make up`` listens on: the UI's and the two log servers'.
UI_HOST_ENV = "MATINALE_UI_HOST"
WORKER_LOG_PORT = 8793
TRIGGER_LOG_PORT = 8794
_LOG_APP = "airflow.utils.serve_logs.log_server:get_app"
_LOOPBACK = ("127.", "localhost", "::1")


def ui_host() -> str:
    """Where the UI and the log servers listen: 127.0.0.1 unless ``MATINALE_UI_HOST`` says otherwise."""
    return os.environ.get(UI_HOST_ENV, "").strip() or "127.0.0.1"


def loopback_hostname() -> str:
    """Airflow's ``hostname_callable`` under ``make up`` on a loopback host: the UI asks the log
    servers at the task's hostname, and they listen on 127.0.0.1 only (a machine's own name
    may resolve to 127.0.1.1, where nothing listens)."""
    return "127.0.0.1"


def up_env(settings: Settings, *, host: str, ui_port: int) -> dict[str, str]:
    """Airflow's settings for ``make up`` (over ``airflow_env``): UI address, login, log servers."""
    env = {
        **airflow_env(settings),
        # What standalone would force: one machine, the simple login.
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
            settings.var_dir / "airflow" / "passwords.json"
        ),
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(ui_port),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(WORKER_LOG_PORT),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(TRIGGER_LOG_PORT),
    }
    if host.startswith(_LOOPBACK):
        env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = f"{__name__}.loopback_hostname"
    return env


def airflow_processes(*, host: str, ui_port: int) -> dict[str, list[str]]:
    """The command of each process ``make up`` starts: standalone's four, and the log servers.

    The scheduler and the triggerer would each start a log server on every interface:
    ``--skip-serve-logs``, and the same log server app is started on ``host`` instead.
    """
    airflow = _bin("airflow")

    def log_server(port: int) -> list[str]:
        uvicorn = [sys.executable, "-m", "uvicorn", "--factory", _LOG_APP, "--no-access-log"]
        return [*uvicorn, "--host", host, "--port", str(port)]

    return {
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
        "api-server": [airflow, "api-server", "--host", host, "--port", str(ui_port)],
        "worker-log-server": log_server(WORKER_LOG_PORT),
        "trigger-log-server": log_server(TRIGGER_LOG_PORT),
    }


def _password(settings: Settings) -> str:
    passwords = settings.var_dir / "airflow" / "passwords.json"
    if not passwords.exists():
        import secrets

        passwords.parent.mkdir(parents=True, exist_ok=True)
        passwords.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
        passwords.chmod(0o600)
    return str(json.loads(passwords.read_text())["admin"])


def _banner(
    settings: Settings, server: Any, url: str, password: str, logs: Path
) -> tuple[str, str] | None:
    """Where everything is, then the latest edition's links; return what they point at."""
    print(
        f"\nS3 (SeaweedFS): {server.endpoint_url}  buckets {settings.bundle_bucket}, {settings.private_bucket}\n"
        f"Airflow UI: {url}  login: admin / {password}\n"
        f"Airflow's logs: {logs}/\n"
        "Trigger the DAG 'matinale_nightly' in the UI. Ctrl-C stops everything.",
        flush=True,
    )
    return print_latest_links(server.client(), settings)


def _port_open(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection(
            ("127.0.0.1" if host in ("0.0.0.0", "::") else host, port), 1
        ):
            return True
    except OSError:
        return False


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGINT to each process group (Airflow's processes stop their children), then SIGKILL."""
    for popen in processes.values():
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGINT)
    for popen in processes.values():
        try:
            popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)


def run_up(*, s3_port: int = 8333, ui_port: int = 8080) -> int:
    """``make up``: local S3 and Airflow's processes until Ctrl-C; their logs under ``var/logs/``."""
    from botocore.exceptions import BotoCoreError, ClientError

    from matinale.dev import links_local as _links
    from matinale.publish import LATEST, read_pointer
    from matinale.retention_cli import purge_at_start

    settings = load_settings()
    edition = edition_for(datetime.now(UTC), settings.clocks)
    fill_inbox(settings, edition)
    host = ui_host()
    logs = settings.var_dir / "logs" / "airflow"
    logs.mkdir(parents=True, exist_ok=True)
    server = _start_s3(settings, s3_port=s3_port)
    purge_at_start(settings, server.client())  # the retention DAG's purge, once: its counts
    env = {**os.environ, **up_env(settings, host=host, ui_port=ui_port), **server.env()}
    links_port = _links.links_port()  # the link service, on 127.0.0.1 whatever the UI's host
    env["MATINALE_LINKS_PUBLIC_URL"] = links_url = f"http://127.0.0.1:{links_port}"
    password = _password(settings)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    _stop_on_signals()
    try:
        print(f"Airflow: preparing the metadata database (log in {logs}/db.log)…", flush=True)
        _run([_bin("airflow"), "db", "migrate"], env, logs / "db.log")
        for name, command in airflow_processes(host=host, ui_port=ui_port).items():
            with (logs / f"{name}.log").open("ab") as out:
                processes[name] = subprocess.Popen(
                    command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        processes["links"] = _links.start_links(
            settings, env, server.endpoint_url, links_port, logs / "links.log"
        )
        print("Airflow: starting (scheduler, DAG processor, triggerer, API server)…", flush=True)
        while not _port_open(host, ui_port):
            _check_alive(processes, logs)
            time.sleep(1)
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{ui_port}"
        client = server.client()
        print(f"\nLink service: {links_url}  (/healthz; counts in {settings.var_dir}/links.db)")
        shown = _banner(settings, server, url, password, logs)
        ticks = 0
        while True:
            _check_alive(processes, logs)
            time.sleep(1)
            ticks += 1
            if ticks % 10 == 0:  # a new edition was promoted: the banner again, with its links
                try:
                    pointer = read_pointer(client, settings.bundle_bucket, LATEST)
                    if pointer and (pointer["edition"], pointer["run"]) != shown:
                        shown = _banner(settings, server, url, password, logs)
                except (BotoCoreError, ClientError) as exc:  # a hiccup of the local server
                    print(f"(could not read latest.json: {type(exc).__name__})", flush=True)
    except KeyboardInterrupt:
        pass
    except _ProcessExited as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    finally:
        _stop(processes)
        server.stop()
    return 0


class _ProcessExited(MatinaleError):  # noqa: N818 - internal to run_up: never leaves it
    """An Airflow process of ``make up`` exited: everything stops."""


def _check_alive(processes: dict[str, subprocess.Popen[bytes]], logs: Path) -> None:
    for name, popen in processes.items():
        if popen.poll() is not None:
            log = logs / f"{name}.log"
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
            raise _ProcessExited(
                f"Airflow's {name} exited (code {popen.returncode}); last lines of {log}:\n"
                + "\n".join(tail)
            )
