"""The night seen by staff in the Airflow UI, in real headless Chromium against a real API server.

One real night (dag.test, approval on) waits for a human; staff log in to Airflow, read the
approval (its preview link opens the unpublished edition), approve it, and the night
publishes. The Matinale view then lists it with status, counts, segments, thumbnails and
the page link, next to a night the electoral silence kept unpublished, with its reason. While
the night waits, the view's live panel says so and links to the Required Action staff answer.
The view refuses anyone not logged in to Airflow.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from chromium import CHROMIUM, CHROMIUM_FLAGS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


ROOT = Path(__file__).resolve().parents[2]
EDITION = date(2026, 11, 24)
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "pw-for-tests-only"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(
    url: str, *, token: str | None = None, accept: str = "application/json"
) -> tuple[int, bytes]:
    headers = {"Accept": accept, **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=30
        ) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _send(
    url: str, body: dict, *, method: str = "POST", token: str | None = None
) -> tuple[int, dict]:
    headers = {
        "Content-Type": "application/json",
        **({"Authorization": f"Bearer {token}"} if token else {}),
    }
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def staff_night(
    s3_server, s3_buckets, airflow_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict:
    """Settings for a night with approval on, a filled inbox, and a silent night already recorded."""
    from matinale.dev.local import fill_inbox
    from matinale.schedule import publication_decision
    from matinale.settings import cached_settings, load_settings
    from matinale.status import write_status

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("MATINALE_BUNDLE_BUCKET", s3_buckets["bundle"])
    monkeypatch.setenv("MATINALE_PRIVATE_BUCKET", s3_buckets["private"])
    monkeypatch.setenv("MATINALE_APPROVAL", "on")
    monkeypatch.setenv("MATINALE_DEADLINE_ALERT", "off")  # dag.test() limitation, see settings.py
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    cached_settings.cache_clear()
    settings = load_settings()
    fill_inbox(settings, EDITION, rows=1_500, seed=11)

    # The night before was inside a silence: what the gate decided is what the view must show.
    silent = tmp_path / "campaign.yaml"
    silent.write_text(
        (ROOT / "campaign.yaml").read_text(encoding="utf-8")
        + "\nelections:\n  days:\n    - {date: 2026-11-24, name: Élection test}\n",
        encoding="utf-8",
    )
    decision = publication_decision(
        date(2026, 11, 23),
        datetime(2026, 11, 23, 0, 5, tzinfo=UTC),
        load_settings(silent),
        explicit=False,
        dry_run=False,
    )
    assert decision.status == "frozen"
    client = s3_server.client()
    write_status(
        client,
        settings.private_bucket,
        {
            "edition": "2026-11-23",
            "run": "20261123T000000Z-0a0b",
            "state": "skipped",
            "detail": decision.status,
            "reason": decision.reason,
            "counts": {"rows_read": 1500},
            "segments": [],
        },
    )
    yield {"settings": settings, "client": client, "silence_reason": decision.reason}
    cached_settings.cache_clear()


@pytest.fixture
def api_server(staff_night, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``airflow api-server`` on a free port, sharing the test session's metadata DB."""
    port = _free_port()
    # Tasks (run here by dag.test) and the server share the configuration, as in production.
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{port}")
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": PASSWORD}))
    env = {
        **os.environ,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__PORT": str(port),
    }
    log = (tmp_path / "api-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    api: dict = {"url": url, "log": tmp_path / "api-server.log"}

    def wait_ready() -> dict:
        """Block until the server answers, then log in through the API (token for REST calls)."""
        if "token" in api:
            return api
        for _ in range(240):
            if server.poll() is not None:
                raise RuntimeError(f"api-server exited: {api['log'].read_text()[-3000:]}")
            try:
                if _get(f"{url}/api/v2/monitor/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(1)
        else:
            raise RuntimeError("api-server not healthy after 240 s")
        print(f"api-server healthy after {time.monotonic() - started:.0f} s")
        status, body = _send(f"{url}/auth/token", {"username": "admin", "password": PASSWORD})
        assert status in {200, 201}, body
        api["token"] = body["access_token"]
        return api

    # Not waited for here: the night starts while the server boots (both take a minute).
    api["wait_ready"] = wait_ready
    try:
        yield api
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


@pytest.fixture
def browser(tmp_path: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1366, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def _awaiting_approval(api: dict, run_id: str) -> dict | None:
    status, body = _get(
        f"{api['url']}/api/v2/dags/matinale_nightly/dagRuns/{run_id}/taskInstances/approval/-1/hitlDetails",
        token=api["token"],
    )
    return json.loads(body) if status == 200 else None


def _login(page, url: str) -> None:
    """Airflow's own login form (SimpleAuthManager), as staff use it."""
    page.goto(f"{url}/")
    page.wait_for_selector("input[name='username'], input#username", timeout=60_000)
    page.fill("input[name='username'], input#username", "admin")
    page.fill("input[name='password'], input#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda address: "login" not in address, timeout=60_000)
    page.get_by_role("link", name="Matinale").first.wait_for(timeout=60_000)


def _approve_in_browser(api: dict, bundle_bucket: str, client, found: dict) -> None:
    """Staff's side, in its own thread while the night waits: read the approval, preview, approve."""
    from playwright.sync_api import sync_playwright

    run_id = None
    try:
        api["wait_ready"]()
        for _ in range(900):
            status, body = _get(
                f"{api['url']}/api/v2/dags/matinale_nightly/dagRuns?order_by=-run_after&limit=1",
                token=api["token"],
            )
            runs = json.loads(body).get("dag_runs", []) if status == 200 else []
            if runs:
                run_id = runs[0]["dag_run_id"]
                detail = _awaiting_approval(api, run_id)
                if detail and detail.get("task_instance", {}).get("state") == "awaiting_input":
                    found["detail"] = detail
                    break
            time.sleep(1)
        else:
            raise AssertionError("the night never reached the approval step")
        # Nothing is published while staff have not answered.
        found["latest_before"] = client.list_objects_v2(
            Bucket=bundle_bucket, Prefix="latest.json"
        ).get("KeyCount", 0)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
            )
            try:
                page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
                _login(page, api["url"])
                # Tonight, live in the Matinale view: the night waits for staff, and says where.
                page.goto(f"{api['url']}/matinale/")
                panel = page.locator("section.tonight")
                panel.wait_for(timeout=60_000)
                found["live_state"] = panel.get_attribute("data-tonight")
                found["live_reason"] = panel.locator(".why").inner_text()
                found["live_nights"] = page.locator("table.schedule tr[data-night]").count()
                page.screenshot(path=str(ARTIFACTS / "matinale-view-live.png"), full_page=True)
                answer = panel.get_by_role("link", name="Répondre (Required Action)")
                found["live_link"] = answer.get_attribute("href")
                answer.click()  # to the Required Action page, as staff would
                page.wait_for_url("**/required_actions", timeout=60_000)
                page.get_by_text("Publier l’édition du 24/11/2026 ?").first.wait_for(timeout=60_000)
                preview = page.get_by_role("link", name="Aperçu de l’édition")
                preview.wait_for(timeout=30_000)
                page.screenshot(path=str(ARTIFACTS / "approval.png"), full_page=True)
                found["preview_url"] = preview.get_attribute("href")
                # A new tab of the same logged-in session, as a click on the link would open.
                context_page = page.context.new_page()
                response = context_page.goto(found["preview_url"])
                found["preview_status"] = response.status if response else None
                found["preview_lang"] = context_page.locator("html[lang='fr']").count()
                context_page.close()
                page.get_by_role("button", name="Publier", exact=True).click()
                page.wait_for_timeout(1000)
                found["approved_in_ui"] = True
            finally:
                browser.close()
    except BaseException as exc:  # the night waits for an answer: never leave it hanging
        found["error"] = exc
        if run_id:
            _send(
                f"{api['url']}/api/v2/dags/matinale_nightly/dagRuns/{run_id}/taskInstances/approval/-1/hitlDetails",
                {"chosen_options": ["Ne pas publier"], "params_input": {}},
                method="PATCH",
                token=api["token"],
            )


def test_staff_approve_then_see_the_edition_in_the_matinale_view(
    staff_night, api_server, browser
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    api, client = api_server, staff_night["client"]
    bundle_bucket = staff_night["settings"].bundle_bucket
    ARTIFACTS.mkdir(exist_ok=True)

    # The real night, approval on, in this thread; staff answer from the browser in another.
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag("matinale_nightly")
    assert "approval" in dag.task_ids
    found: dict = {}
    staff = threading.Thread(
        target=_approve_in_browser, args=(api, bundle_bucket, client, found), daemon=True
    )
    staff.start()
    run = dag.test(run_conf={"edition_date": EDITION.isoformat()})
    staff.join(timeout=120)
    if "error" in found:
        raise found["error"]

    # Nobody gets in without an Airflow login: not the page, not the data, not a file.
    for path in (
        "/matinale/",
        "/matinale/api/editions",
        f"/matinale/files/editions/{EDITION}/current.json",
    ):
        assert _get(api["url"] + path)[0] == 401, path
    status, body = _get(api["url"] + "/matinale/", accept="text/html")
    assert status == 401 and "connectez-vous à Airflow" in body.decode()
    assert _get(api["url"] + "/matinale/api/editions", token=api["token"])[0] == 200
    detail = found["detail"]
    assert detail["subject"] == "Publier l’édition du 24/11/2026 ?"
    assert detail["defaults"] == ["Ne pas publier"]
    assert found["latest_before"] == 0, "published before approval"
    assert found["preview_url"].startswith(api["url"] + "/matinale/preview/2026-11-24/")
    assert (found["preview_status"], found["preview_lang"]) == (200, 1), (
        "the preview link does not open the edition"
    )
    assert found.get("approved_in_ui")
    # The live panel said the night waited for approval and linked to its Required Action.
    assert found["live_state"] == "awaiting_approval", found.get("live_reason")
    assert "approuvez ou refusez" in found["live_reason"]
    assert found["live_link"].endswith("/tasks/approval/required_actions")
    assert found["live_nights"] == 7
    assert run.state == "success"
    pointer = json.loads(client.get_object(Bucket=bundle_bucket, Key="latest.json")["Body"].read())
    assert pointer["edition"] == EDITION.isoformat()

    # The Matinale view, from the UI's navigation.
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, api["url"])
    page.get_by_role("link", name="Matinale").first.click()
    frame = page.frame_locator("iframe").first
    published = frame.locator("article[data-edition='2026-11-24']")
    published.wait_for(timeout=60_000)
    assert published.locator("[data-state]").get_attribute("data-state") == "published"
    assert (
        int(
            published.locator("[data-count='rows_read']")
            .inner_text()
            .replace(" ", "")
            .replace("\u202f", "")
        )
        == 1_500
    )
    assert int(published.locator("[data-count='segments']").inner_text()) >= 1
    assert published.locator("details summary").inner_text().endswith("segments")
    thumbs = published.locator(".thumbs img")
    assert thumbs.count() >= 1
    for index in range(thumbs.count()):
        thumbs.nth(index).scroll_into_view_if_needed()
        thumbs.nth(index).evaluate("img => img.decode()")
        assert thumbs.nth(index).evaluate("img => img.complete && img.naturalWidth > 0"), (
            "a thumbnail did not load"
        )
        assert thumbs.nth(index).evaluate("img => img.naturalWidth") <= 240
    silent = frame.locator("article[data-edition='2026-11-23']")
    assert silent.locator("[data-state]").get_attribute("data-state") == "skipped"
    assert silent.locator(".reason").inner_text() == staff_night["silence_reason"]
    # Tonight's panel, once the night is over: read from Airflow's metadata DB, with why.
    panel = frame.locator("section.tonight")
    assert panel.get_attribute("data-tonight") in {"published", "scheduled", "paused"}
    assert panel.locator(".why").inner_text().strip()
    assert frame.locator("table.schedule tr[data-night]").count() == 7
    page.screenshot(path=str(ARTIFACTS / "matinale-view.png"), full_page=True)

    # The page link opens the published edition.
    href = published.locator("a.page").get_attribute("href")
    assert href == f"files/editions/2026-11-24/{pointer['run']}/index.html"
    edition_page = page.context.new_page()
    response = edition_page.goto(f"{api['url']}/matinale/{href}")
    assert response is not None and response.status == 200
    assert edition_page.locator("html[lang='fr']").count() == 1
    assert not errors, errors
