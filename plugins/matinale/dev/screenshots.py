"""Screenshot of the nightly DAG's Graph view for the docs (``docs/graph-view.png``).

A throwaway Airflow (SQLite home in a temporary folder, API server on 127.0.0.1 and a free
port) serializes the project's DAGs, then headless Chromium logs in and shows the nightly
DAG's graph top to bottom, as the night runs. Rerun after changing the DAG's shape:

    PYTHONPATH=plugins .venv/bin/python -m matinale.dev.screenshots [--out docs/graph-view.png]

With ``--page var/…/bundle/<segment>/index.html`` it shoots the activist page instead, at
390×844: ``docs/page-first-screen.png`` and ``docs/page-folded.png``.

Needs Debian's Chromium (``scripts/system-deps.sh``) and Playwright (a dev dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from matinale.dev.chromium import CHROMIUM, CHROMIUM_FLAGS, launch_phone
from matinale.dev.local import sqlite_airflow_env

__all__ = ["graph_view", "main", "page_views"]

ROOT = Path(__file__).resolve().parents[3]
DAG_ID = "matinale_nightly"
PASSWORD = "screenshots"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _airflow(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("a", encoding="utf-8") as out:
        subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=600,
        )


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(240):
        if server.poll() is not None:
            raise SystemExit(f"api-server exited; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"api-server not healthy after 240 s; see {log}")


def _shoot(url: str, out: Path, width: int, height: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            # The DAG page opens on its graph, laid out top to bottom (the UI's own settings).
            context.add_init_script(
                "localStorage.setItem('default_dag_view', JSON.stringify('graph'));"
                f"localStorage.setItem('direction-{DAG_ID}', JSON.stringify('DOWN'));"
            )
            page = context.new_page()
            page.goto(f"{url}/")
            page.wait_for_selector("input[name='username'], input#username", timeout=60_000)
            page.fill("input[name='username'], input#username", "admin")
            page.fill("input[name='password'], input#password", PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(lambda address: "login" not in address, timeout=60_000)
            page.goto(f"{url}/dags/{DAG_ID}")
            page.get_by_text("wait_for_brief").first.wait_for(timeout=60_000)
            # The whole width for the graph: the details panel folds away, then fit to view.
            page.get_by_role("button", name="Collapse Details Panel").click()
            page.wait_for_timeout(1500)
            page.get_by_role("button", name="Fit View").click()
            page.wait_for_timeout(1500)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
        finally:
            browser.close()


def graph_view(out: Path, *, width: int = 1400, height: int = 900) -> Path:
    """Serialize the project's DAGs in a throwaway Airflow and screenshot the nightly graph."""
    with tempfile.TemporaryDirectory(prefix="matinale-screenshots-") as tmp:
        home = Path(tmp)
        port = _free_port()
        passwords = home / "passwords.json"
        passwords.write_text(json.dumps({"admin": PASSWORD}))
        env = {
            **os.environ,
            **sqlite_airflow_env(home / "airflow", ROOT),
            "MATINALE_HOME": str(ROOT),
            "MATINALE_VAR": str(home / "var"),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(ROOT / "plugins"), os.environ.get("PYTHONPATH")])
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
        }
        log = home / "airflow.log"
        _airflow(["db", "migrate"], env, log)
        _airflow(["dags", "reserialize"], env, log)
        with log.open("a", encoding="utf-8") as server_log:
            server = subprocess.Popen(
                [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1"]
                + ["--port", str(port)],
                env=env,
                stdout=server_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, server, log)
            _shoot(url, out, width, height)
        finally:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    return out


def page_views(page: Path, out_dir: Path) -> list[Path]:
    """The activist page at 390×844: its first screen, and its first theme's other channels
    unfolded (``docs/page-first-screen.png``, ``docs/page-folded.png``). ``page`` is a
    segment's ``index.html`` from a bundle (``make run`` prints where it is)."""
    from playwright.sync_api import sync_playwright

    shots = [out_dir / "page-first-screen.png", out_dir / "page-folded.png"]
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = launch_phone(playwright, profile, scale=1)
        try:
            view = context.pages[0] if context.pages else context.new_page()
            view.goto(page.resolve().as_uri(), wait_until="load")
            view.screenshot(path=str(shots[0]))
            fold = view.locator("details.autres").first
            fold.locator("summary").click()
            fold.scroll_into_view_if_needed()
            view.evaluate("document.querySelector('details.autres').scrollIntoView()")
            view.screenshot(path=str(shots[1]))
        finally:
            context.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "graph-view.png")
    parser.add_argument(
        "--page", type=Path, help="a segment page: screenshot it instead (into docs/)"
    )
    args = parser.parse_args(argv)
    if args.page:
        for shot in page_views(args.page, ROOT / "docs"):
            print(shot)
        return 0
    print(graph_view(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
