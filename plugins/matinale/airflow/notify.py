"""Messages for staff: a missed publish deadline, a failed task, an edition ready.

The edition-ready message is the ``publish`` task's ``on_success_callback``: sent once an
edition was promoted (a dry run, a partial run or a night the gate stopped skips ``publish``,
so nothing is sent), with the edition's counts and its overview in the Matinale view (behind
the Airflow login: no presigned link, which would be a bearer token in a chat).

Every message is written to the log of the process that raises it (a task's log, the
triggerer's log for a deadline). When the Airflow connection ``matinale_alerts`` (setting
``alert_conn_id``) exists, the same text is posted to its webhook URL as ``{"text": ...}``,
which Mattermost and Slack incoming webhooks both accept. The URL holds a secret: it is never
logged.

Connection forms accepted (``AIRFLOW_CONN_MATINALE_ALERTS``)::

    {"conn_type": "http", "extra": {"webhook_url": "https://chat.example.org/hooks/abc"}}
    {"conn_type": "http", "host": "https://chat.example.org/hooks/abc"}
    https://chat.example.org/hooks/abc          (URI form: host + path)
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier
from airflow.sdk.exceptions import AirflowNotFoundException

from matinale.errors import MatinaleError
from matinale.schedule import edition_for, two_clocks
from matinale.settings import cached_settings

__all__ = [
    "MatinaleNotifier",
    "NotificationError",
    "alert_text",
    "overview_url",
    "ready_text",
    "webhook_url",
]

log = logging.getLogger(__name__)

DEADLINE_MISSED = "deadline_missed"
TASK_FAILED = "task_failed"
EDITION_READY = "edition_ready"
_EVENTS = (TASK_FAILED, DEADLINE_MISSED, EDITION_READY)
_TIMEOUT_SECONDS = 10
# A Matinale error's message lists what to fix, a line each: the alert keeps this many.
_DETAIL_LINES = 12
_LINE_CHARS = 300


class NotificationError(MatinaleError, RuntimeError):
    """The alert was logged but the webhook refused it or could not be reached."""


def webhook_url(conn: Any) -> str | None:
    """The webhook URL held by an Airflow connection, in any of the accepted forms."""
    extra = conn.extra_dejson or {}
    if extra.get("webhook_url"):
        return str(extra["webhook_url"])
    host = (conn.host or "").strip()
    if not host:
        return None
    if "://" in host:
        return host
    scheme = conn.conn_type if conn.conn_type in {"http", "https"} else "https"
    port = f":{conn.port}" if conn.port else ""
    path = f"/{conn.schema.lstrip('/')}" if conn.schema else ""
    return f"{scheme}://{host}{port}{path}"


def _field(value: Any, name: str) -> Any:
    """Read ``name`` from a DagRun object or from the JSON dict a deadline callback receives."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _edition(dag_run: Any) -> date | None:
    conf = _field(dag_run, "conf") or {}
    if conf.get("edition_date"):
        return date.fromisoformat(str(conf["edition_date"]))
    run_after = _as_datetime(_field(dag_run, "run_after"))
    return edition_for(run_after, cached_settings().clocks) if run_after else None


def _failure(error: BaseException) -> BaseException:
    """The error to report: the Matinale error ``glue.task_errors`` failed the task with."""
    cause = error.__cause__
    if not isinstance(error, MatinaleError) and isinstance(cause, MatinaleError):
        return cause
    return error


def _error_detail(error: BaseException | None) -> tuple[str, str]:
    """The error's first line (after its type), and for a Matinale error its next lines.

    A Matinale error's message is written for staff (what is wrong, where, what to do): the
    alert shows it, never a traceback. Other errors show their first line only.
    """
    if error is None:
        return "", ""
    error = _failure(error)
    lines = str(error).splitlines() or [""]
    first = f" : {type(error).__name__}: {lines[0][:_LINE_CHARS]}"
    if not isinstance(error, MatinaleError) or len(lines) == 1:
        return first, ""
    rest = [line[:_LINE_CHARS] for line in lines[1:_DETAIL_LINES]]
    if len(lines) > _DETAIL_LINES:
        rest.append(f"… ({len(lines) - _DETAIL_LINES} more lines in the task's log)")
    return first, "\n" + "\n".join(rest)


def overview_url(prefix: str, base_url: str = "") -> str:
    """The published edition's overview in the Matinale view (``api.base_url`` in front)."""
    return f"{base_url.rstrip('/')}/matinale/files/{prefix.strip('/')}/index.html"


def ready_text(edition: date, run: str, counts: Mapping[str, int], overview: str) -> str:
    """The edition-ready message in French for staff: counts and the overview link."""
    return (
        f"📰 Matinale : l’édition du {edition:%d/%m/%Y} est publiée (run {run}) : "
        f"{counts.get('segments', 0)} segments, {counts.get('posts', 0)} posts, "
        f"{counts.get('cards', 0)} visuels. Vue d’ensemble : {overview}"
    )


def _ready_from(context: Mapping[str, Any]) -> str:
    """The edition-ready message from the ``publish`` task's context (its run's XComs)."""
    from airflow.sdk import conf

    from matinale import night
    from matinale.night.outcome import total

    ti = context["ti"]
    ctx = ti.xcom_pull(task_ids=night.PREPARE) or {}
    published = ti.xcom_pull(task_ids=night.PUBLISH) or {}
    built = ti.xcom_pull(task_ids=night.BUNDLE) or {}
    segments = built.get("segments")
    if segments is None:
        segments = (ti.xcom_pull(task_ids=night.SEGMENT) or {}).get("segments", 0)
    counts = {
        "segments": int(segments),
        "posts": total(ti.xcom_pull(task_ids=night.CONTENT), "posts"),
        "cards": total(ti.xcom_pull(task_ids=night.VISUALS), "cards"),
    }
    base = conf.get("api", "base_url", fallback="") or ""
    return ready_text(
        date.fromisoformat(str(ctx.get("edition"))),
        str(ctx.get("run", "?")),
        counts,
        overview_url(str(published.get("prefix", "")), base),
    )


def alert_text(event: str, context: dict[str, Any], now: datetime | None = None) -> str:
    """The message in French for staff, with both clocks. Never holds supporter data."""
    if event == EDITION_READY:
        return _ready_from(context)
    clocks = cached_settings().clocks
    now = now or datetime.now(UTC)
    dag_run = context.get("dag_run") or {}
    run_id = _field(dag_run, "run_id") or _field(dag_run, "dag_run_id") or "?"
    edition = _edition(dag_run)
    label = f"l'édition du {edition:%d/%m/%Y}" if edition else "l'édition"
    if event == DEADLINE_MISSED:
        deadline = _as_datetime((context.get("deadline") or {}).get("deadline_time")) or now
        state = _field(dag_run, "state") or "en cours"
        return (
            f"⏰ Matinale : {label} n'est pas terminée à l'heure limite de publication "
            f"{two_clocks(deadline, clocks)} (run {run_id}, état : {state}). "
            "Ouvrez la vue Matinale ou le DAG matinale_nightly dans Airflow."
        )
    task = context.get("ti") or context.get("task_instance")
    task_id = _field(task, "task_id") or "?"
    detail, more = _error_detail(context.get("exception"))
    return (
        f"❌ Matinale : la tâche {task_id} de {label} a échoué à {two_clocks(now, clocks)} "
        f"(run {run_id}){detail}. Rien n'a été publié par cette tâche ; corrigez puis relancez-la depuis Airflow."
        f"{more}"
    )


def _post(url: str, text: str) -> int:
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise NotificationError(
            f"alert webhook answered HTTP {exc.code}; check the connection's URL"
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        # The URL holds the webhook's secret: name the failure, never the address.
        reason = getattr(exc, "reason", exc)
        raise NotificationError(
            f"alert webhook unreachable ({type(reason).__name__}); check the connection's URL"
        ) from None


class MatinaleNotifier(BaseNotifier):
    """Log an alert and post it to the webhook of ``conn_id`` when that connection exists.

    Used as ``on_failure_callback`` (sync, in the task's process), as ``publish``'s
    ``on_success_callback`` (``edition_ready``) and as the deadline alert's ``AsyncCallback``
    (async, in the triggerer).
    """

    def __init__(
        self,
        *,
        event: str = TASK_FAILED,
        conn_id: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(context=context)  # type: ignore[arg-type]
        if event not in _EVENTS:
            raise ValueError(f"unknown alert event {event!r}; use one of {', '.join(_EVENTS)}")
        self.event = event
        self.conn_id = conn_id

    def _conn_id(self) -> str:
        return self.conn_id or cached_settings().alert_conn_id

    def _say(self, text: str) -> None:
        log.log(logging.INFO if self.event == EDITION_READY else logging.WARNING, "%s", text)

    def notify(self, context: Any) -> None:
        text = alert_text(self.event, dict(context))
        self._say(text)
        try:
            conn = BaseHook.get_connection(self._conn_id())
        except AirflowNotFoundException:
            log.info("No alert webhook: Airflow connection %r is not defined", self._conn_id())
            return
        self._send(conn, text)

    async def async_notify(self, context: Any) -> None:
        text = alert_text(self.event, dict(context))
        self._say(text)
        try:
            conn = await BaseHook.aget_connection(self._conn_id())
        except AirflowNotFoundException:
            log.info("No alert webhook: Airflow connection %r is not defined", self._conn_id())
            return
        await asyncio.to_thread(self._send, conn, text)

    def _send(self, conn: Any, text: str) -> None:
        url = webhook_url(conn)
        if not url:
            raise NotificationError(
                f"Airflow connection {self._conn_id()!r} has no webhook URL (host or extra.webhook_url)"
            )
        status = _post(url, text)
        log.info("Alert posted to the webhook of connection %r (HTTP %d)", self._conn_id(), status)
