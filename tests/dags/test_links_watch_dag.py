"""The link service's 07:00 Paris check: its DAG, and the check against a real uvicorn that
is up (healthy, then unhealthy) and then down, alerting a real local webhook."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from matinale.settings import LinkService, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
MORNING = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # 07:00 Paris


def test_the_watch_dag_runs_at_seven_paris_whatever_the_dst() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "matinale_links_watch.py"))
    assert bag.import_errors == {}
    dag = bag.dags["matinale_links_watch"]
    assert [t.task_id for t in dag.tasks] == ["check"]
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 7 * * *", "Europe/Paris")
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = coerce_to_core_timetable(dag.timetable)
    fired = []
    for day in (datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 7, 10, tzinfo=UTC)):
        restriction = TimeRestriction(earliest=day, latest=None, catchup=True)
        info = timetable.next_dagrun_info(
            last_automated_data_interval=None, restriction=restriction
        )
        assert info is not None
        fired.append(info.run_after.astimezone(UTC).hour)
    assert fired == [6, 5]  # 07:00 Paris in winter (UTC+1) and in summer (UTC+2)


class _Health:
    """A real uvicorn serving /healthz like the link service (``healthy`` switches it)."""

    def __init__(self) -> None:
        import socket

        import uvicorn
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse

        self.healthy = True

        async def healthz(_request: Any) -> JSONResponse:
            if self.healthy:
                return JSONResponse({"ok": True, "published": True})
            return JSONResponse({"ok": False}, status_code=503)

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        app = FastAPI()
        app.router.add_route("/healthz", healthz)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Health:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def service() -> Iterator[_Health]:
    with _Health() as health:
        yield health


def _settings(base: str) -> Settings:
    settings = load_settings()
    return replace(settings, link_service=replace(settings.link_service, public_base_url=base))


def test_probe_up_unhealthy_and_down(service: _Health) -> None:
    from matinale.airflow.links_watch import probe

    base = f"http://127.0.0.1:{service.port}"
    assert probe(base) is None
    service.healthy = False
    assert probe(base) == "répond HTTP 503"
    service.__exit__()
    assert probe(base, timeout=1) == "est injoignable (ConnectionRefusedError)"


def test_check_alerts_staff_only_when_the_service_cannot_be_reached(
    service: _Health, webhook: Any
) -> None:
    from matinale.airflow.links_watch import check_links

    base = f"http://127.0.0.1:{service.port}"
    assert check_links(_settings(base), now=MORNING) == {"checked": True, "ok": True}
    assert webhook.posts == []
    service.__exit__()
    found = check_links(_settings(base), now=MORNING, timeout=1)
    assert found["ok"] is False and found["checked"] is True
    (post,) = webhook.posts
    assert post["text"].startswith(f"🔗 Service de liens : {base}/healthz est injoignable")
    assert "07:00 Paris" in post["text"] and "ne mènent nulle part" in post["text"]
    assert check_links(replace(load_settings(), link_service=LinkService()))["checked"] is False
    assert len(webhook.posts) == 1  # no public address: nothing checked, nobody alerted
