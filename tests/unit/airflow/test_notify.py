"""Alerts: the log always, the webhook of the ``matinale_alerts`` connection when configured."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from matinale.airflow.notify import MatinaleNotifier, NotificationError, alert_text, webhook_url

ROOT = Path(__file__).resolve().parents[3]


def _deadline_context(
    run_after: str = "2026-03-29T00:00:00Z", deadline: str = "2026-03-29T04:30:00Z"
) -> dict:
    """The context Airflow's scheduler gives a deadline callback (DAGRunResponse as JSON)."""
    return {
        "dag_run": {
            "dag_id": "matinale_nightly",
            "dag_run_id": "scheduled__2026-03-29T00:00:00+00:00",
            "run_after": run_after,
            "conf": {},
            "state": "running",
        },
        "deadline": {"id": "0199", "deadline_time": deadline},
    }


def _run_callback_trigger(kwargs: dict) -> list:
    """Run the callback the way Airflow's triggerer does: through CallbackTrigger."""
    from airflow.triggers.callback import CallbackTrigger

    async def collect() -> list:
        trigger = CallbackTrigger(
            callback_path="matinale.airflow.notify.MatinaleNotifier", callback_kwargs=kwargs
        )
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def test_deadline_callback_posts_both_clocks_to_the_webhook(
    webhook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="matinale.airflow.notify")
    events = _run_callback_trigger({"event": "deadline_missed", "context": _deadline_context()})
    assert [e["state"] for e in events] == ["running", "success"], events
    assert len(webhook.posts) == 1
    text = webhook.posts[0]["text"]
    # The spring-forward night: 06:30 Paris is 00:30 in Montréal, the edition is 29/03.
    assert "29/03/2026" in text and "06:30 Paris (00:30 Montréal)" in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert text in logged, "the alert is always in the log too"
    assert "s3cr3t-token" not in logged, "the webhook URL is a secret"


def test_alert_is_logged_without_a_webhook(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MATINALE_ALERTS", raising=False)
    caplog.set_level(logging.INFO, logger="matinale.airflow.notify")
    events = _run_callback_trigger({"event": "deadline_missed", "context": _deadline_context()})
    assert events[-1]["state"] == "success"
    messages = [r.getMessage() for r in caplog.records]
    assert any("⏰ Matinale" in m for m in messages)
    assert any("'matinale_alerts' is not defined" in m for m in messages)


def test_failed_task_alert_names_task_and_error(webhook) -> None:
    context = {
        "dag_run": SimpleNamespace(
            run_id="manual__1",
            run_after=datetime(2026, 11, 24, 2, 30, tzinfo=UTC),
            conf={"edition_date": "2026-11-24"},
        ),
        "ti": SimpleNamespace(task_id="ingest"),
        "exception": RuntimeError(
            "412 of 1000 rows quarantined (41% > 20%): the export looks broken\nmore"
        ),
    }
    MatinaleNotifier(event="task_failed")(context)
    text = webhook.posts[0]["text"]
    assert (
        "ingest" in text
        and "24/11/2026" in text
        and "RuntimeError: 412 of 1000 rows quarantined" in text
    )
    assert "more" not in text, "only the first line of the error"


def test_webhook_errors_are_reported_without_the_url(webhook) -> None:
    webhook.status = 500
    with pytest.raises(NotificationError, match="HTTP 500") as caught:
        MatinaleNotifier(event="task_failed")(
            {"dag_run": {}, "ti": SimpleNamespace(task_id="publish")}
        )
    assert "s3cr3t" not in str(caught.value)


def test_unreachable_webhook_is_reported_without_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_MATINALE_ALERTS",
        f'{{"conn_type": "http", "host": "http://127.0.0.1:{port}/hooks/s3cr3t"}}',
    )
    with pytest.raises(NotificationError, match="unreachable") as caught:
        MatinaleNotifier(event="task_failed")(
            {"dag_run": {}, "ti": SimpleNamespace(task_id="publish")}
        )
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    ("conn", "url"),
    [
        (
            {
                "conn_type": "http",
                "extra_dejson": {"webhook_url": "https://chat.example.org/hooks/a"},
            },
            "https://chat.example.org/hooks/a",
        ),
        (
            {"conn_type": "http", "host": "https://chat.example.org/hooks/b"},
            "https://chat.example.org/hooks/b",
        ),
        (
            {"conn_type": "https", "host": "chat.example.org", "port": 8443, "schema": "hooks/c"},
            "https://chat.example.org:8443/hooks/c",
        ),
        ({"conn_type": "http", "host": ""}, None),
    ],
)
def test_webhook_url_forms(conn: dict, url: str | None) -> None:
    fields = {"extra_dejson": {}, "host": None, "port": None, "schema": None, **conn}
    assert webhook_url(SimpleNamespace(**fields)) == url


def test_alert_text_is_french_and_uses_the_chosen_edition() -> None:
    context = _deadline_context(run_after="2026-11-24T02:00:00Z", deadline="2026-11-24T05:30:00Z")
    context["dag_run"]["conf"] = {"edition_date": "2026-11-20"}
    text = alert_text("deadline_missed", context)
    assert text.startswith("⏰ Matinale : l'édition du 20/11/2026 n'est pas terminée")
    assert "06:30 Paris (00:30 Montréal)" in text


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown alert event"):
        MatinaleNotifier(event="sms")


class _PublishTi:
    """The ``ti`` of a ``publish`` that succeeded: its run's XComs, in the stages' own shapes."""

    task_id = "publish"
    XCOMS = {
        "prepare": {"edition": "2026-11-24", "run": "20261124T000102Z-ab12"},
        "segment": {"segments": 35, "main": 30, "territorial": 5},
        "content": [{"segments": 9, "posts": 477}, {"segments": 8, "posts": 424}],
        "visuals": [{"segments": 9, "cards": 81}, {"segments": 8, "cards": 72}],
        "bundle": {"files": 599, "bytes": 120326927, "segments": 17},
        "publish": {
            "bucket": "matinale-bundle",
            "prefix": "editions/2026-11-24/20261124T000102Z-ab12/",
            "files": 599,
            "latest_moved": True,
        },
    }

    def xcom_pull(self, task_ids: str) -> object:
        return self.XCOMS.get(task_ids)


def test_edition_ready_posts_counts_and_the_overview_link(
    webhook, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.org/")
    caplog.set_level(logging.INFO, logger="matinale.airflow.notify")
    MatinaleNotifier(event="edition_ready")({"ti": _PublishTi(), "dag_run": SimpleNamespace()})
    (post,) = webhook.posts
    assert post["text"] == (
        "📰 Matinale : l’édition du 24/11/2026 est publiée (run 20261124T000102Z-ab12) : "
        "17 segments, 901 posts, 153 visuels. Vue d’ensemble : "
        "https://airflow.example.org/matinale/files/editions/2026-11-24/20261124T000102Z-ab12/index.html"
    )
    # Logged as news, not as a warning; the webhook's URL never is.
    assert [r.levelname for r in caplog.records if "📰" in r.getMessage()] == ["INFO"]
    assert "s3cr3t-token" not in caplog.text


def test_edition_ready_without_base_url_links_from_the_root() -> None:
    from matinale.airflow.notify import overview_url, ready_text

    link = overview_url("editions/2026-11-24/r/")
    assert link == "/matinale/files/editions/2026-11-24/r/index.html"
    text = ready_text(date(2026, 11, 24), "r", {"segments": 1, "posts": 2, "cards": 0}, link)
    assert "1 segments, 2 posts, 0 visuels" in text and text.endswith(link)


def test_only_a_successful_publish_sends_edition_ready() -> None:
    """The message is publish's on_success_callback: a gate that says no, a dry run or a
    refused approval skips publish, and a skipped task calls no success callback."""
    from airflow.dag_processing.dagbag import DagBag

    from matinale.airflow.notify import EDITION_READY

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    dag = bag.dags["matinale_nightly"]
    publish = dag.get_task("publish")
    (callback,) = publish.on_success_callback
    assert isinstance(callback, MatinaleNotifier) and callback.event == EDITION_READY
    others = [t for t in dag.tasks if t.task_id != "publish" and t.on_success_callback]
    assert others == []
    with pytest.raises(ValueError, match="unknown alert event"):
        MatinaleNotifier(event="edition_published")
