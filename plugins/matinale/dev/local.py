"""Run Matinale on one machine: the ``make run`` demo and ``make up``.

Everything lives under the project's ``var/`` folder: the Airflow home (SQLite), the local
S3 server's data and locally generated keys, the inbox and the work store.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from matinale.schedule import edition_for
from matinale.settings import Settings, load_settings

__all__ = [
    "airflow_env",
    "fill_inbox",
    "print_latest_links",
    "run_demo",
    "run_up",
    "sample_brief_for",
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
    brief = settings.inbox / "briefs" / f"{edition.isoformat()}.yaml"
    brief.parent.mkdir(parents=True, exist_ok=True)
    brief.write_text(sample_brief_for(settings, edition), encoding="utf-8")
    return supporters


def print_latest_links(client: Any, settings: Settings) -> tuple[str, str] | None:
    """Print working presigned links to the latest edition; return what they point at."""
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
    server = SeaweedS3(root, credentials, s3_port=s3_port)
    server.start()
    server.ensure_buckets(settings.bundle_bucket, settings.private_bucket)
    return server


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
        print("Airflow: preparing the metadata database (SQLite)…", flush=True)
        _run([_bin("airflow"), "db", "migrate"], env, log)
        print("Airflow: running matinale_nightly…", flush=True)
        conf = json.dumps({"edition_date": edition.isoformat()})
        # `airflow dags test` (Airflow 3.3.2) crashes at the end of a successful run that has a
        # DeadlineAlert; the demo has no scheduler to fire one anyway.
        test_env = {**env, "MATINALE_DEADLINE_ALERT": "off"}
        _run([_bin("airflow"), "dags", "test", "matinale_nightly", "-c", conf], test_env, log)
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
    return 0


def _stop_on_signals() -> None:
    """Ctrl-C or a SIGTERM (even when started in the background, where SIGINT is ignored) stops all."""

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def run_up(*, s3_port: int = 8333, ui_port: int = 8080) -> int:
    """``make up``: local S3 and Airflow standalone until Ctrl-C."""
    settings = load_settings()
    edition = edition_for(datetime.now(UTC), settings.clocks)
    fill_inbox(settings, edition)
    server = _start_s3(settings, s3_port=s3_port)
    env = {
        **os.environ,
        **airflow_env(settings),
        **server.env(),
        "AIRFLOW__API__PORT": str(ui_port),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
            settings.var_dir / "airflow" / "passwords.json"
        ),
    }
    passwords = settings.var_dir / "airflow" / "passwords.json"
    if not passwords.exists():
        import secrets

        passwords.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
        passwords.chmod(0o600)
    password = json.loads(passwords.read_text())["admin"]
    standalone = subprocess.Popen([_bin("airflow"), "standalone"], env=env, start_new_session=True)
    _stop_on_signals()
    print(
        f"S3 (SeaweedFS): {server.endpoint_url}  buckets {settings.bundle_bucket}, {settings.private_bucket}"
    )
    print(f"Airflow UI: http://127.0.0.1:{ui_port}  login: admin / {password}")
    print("Trigger the DAG 'matinale_nightly' in the UI. Ctrl-C stops everything.", flush=True)
    client = server.client()
    shown = print_latest_links(client, settings)
    try:
        ticks = 0
        while standalone.poll() is None:
            time.sleep(1)
            ticks += 1
            if ticks % 10 == 0:  # a new edition was promoted: print its links
                from botocore.exceptions import BotoCoreError, ClientError

                from matinale.publish import LATEST, read_pointer

                try:
                    pointer = read_pointer(client, settings.bundle_bucket, LATEST)
                    if pointer and (pointer["edition"], pointer["run"]) != shown:
                        shown = print_latest_links(client, settings)
                except (BotoCoreError, ClientError) as exc:  # a hiccup of the local server
                    print(f"(could not read latest.json: {type(exc).__name__})", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        if standalone.poll() is None:
            os.killpg(standalone.pid, signal.SIGINT)  # standalone stops its children on SIGINT
            try:
                standalone.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(standalone.pid, signal.SIGKILL)
        server.stop()
    return 0
