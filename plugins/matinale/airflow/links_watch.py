"""The link service's morning check: at 07:00 Paris, is ``<links.public_base_url>/healthz``
reachable from outside and healthy? When not, staff are alerted through the night's webhook
(connection ``matinale_alerts``, as :mod:`matinale.airflow.notify` sends every alert).

The address checked is the public one (what phones open), so a dead HTTPS proxy, DNS entry or
certificate is caught as well as a stopped service. The DAG is ``dags/matinale_links_watch.py``.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from matinale.airflow.notify import NotificationError, _post, webhook_url
from matinale.schedule import two_clocks
from matinale.settings import Settings, cached_settings

__all__ = ["WATCH_TIMEOUT_SECONDS", "check_links", "probe", "watch_text"]

log = logging.getLogger(__name__)

WATCH_TIMEOUT_SECONDS = 5.0
"""A healthy service answers /healthz from memory in milliseconds: five seconds is down."""


def probe(base_url: str, *, timeout: float = WATCH_TIMEOUT_SECONDS) -> str | None:
    """``None`` when ``<base_url>/healthz`` answers 200 with ``"ok": true``; otherwise what
    is wrong, in French (for the alert)."""
    request = urllib.request.Request(f"{base_url.rstrip('/')}/healthz", method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read(4096)
    except urllib.error.HTTPError as exc:
        return f"répond HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"est injoignable ({type(reason).__name__})"
    try:
        healthy = json.loads(body).get("ok") is True
    except (ValueError, AttributeError):
        healthy = False
    return None if healthy else "répond, mais ne se dit pas en état de marche"


def watch_text(base_url: str, problem: str, now: datetime, settings: Settings) -> str:
    """The staff alert, in French, with both clocks."""
    return (
        f"🔗 Service de liens : {base_url.rstrip('/')}/healthz {problem} "
        f"({two_clocks(now, settings.clocks)}). Les liens /p/ et /s/ des messages de ce matin "
        "ne mènent nulle part tant qu’il ne répond pas : vérifiez le service « links » "
        "et le proxy HTTPS devant lui."
    )


def _send(text: str, conn_id: str) -> None:
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("No alert webhook: Airflow connection %r is not defined", conn_id)
        return
    url = webhook_url(conn)
    if not url:
        raise NotificationError(f"Airflow connection {conn_id!r} has no webhook URL")
    status = _post(url, text)
    log.info("Alert posted to the webhook of connection %r (HTTP %d)", conn_id, status)


def check_links(
    settings: Settings | None = None,
    *,
    now: datetime | None = None,
    timeout: float = WATCH_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Check the public address once; alert staff when it fails. Returns what was found."""
    settings = settings or cached_settings()
    base = settings.link_service.public_base_url
    if not base:
        log.info("links.public_base_url is not set: no link service to check")
        return {"checked": False, "ok": None}
    problem = probe(base, timeout=timeout)
    if problem is None:
        log.info("link service reachable at %s", base)
        return {"checked": True, "ok": True}
    text = watch_text(base, problem, now or datetime.now(UTC), settings)
    log.warning("%s", text)
    _send(text, settings.alert_conn_id)
    return {"checked": True, "ok": False, "problem": problem}
