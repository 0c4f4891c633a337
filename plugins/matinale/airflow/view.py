"""The "Matinale" view in the Airflow UI: the last editions, as staff want to see them.

Served by Airflow's API server under ``/matinale/`` (the plugin mounts ``ViewApp``) and
linked in the UI's navigation. For each edition: its date, what became of it (published,
not published and why, rejected, failed), counts, segments and their sizes, a few card
thumbnails and the link to the published page; the next night in both clocks on top.

Access: every route requires an Airflow login (the UI's JWT cookie, or ``Authorization:
Bearer <token>`` from ``POST /auth/token``) with read access to the nightly DAG; plugin routes
are not behind Airflow's login by default, so this module checks it itself. What it serves
holds no personal data: status records (counts only), the bundle's public content (posts,
cards, pages) and unpublished previews of that same content. Private run files are never
reachable: every path is a checked key under ``editions/`` or ``runs/<date>/<run>/bundle/``.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations at
# runtime, and Request/Response are imported inside create_app to keep the module light.
import html
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from matinale.schedule import next_nights, two_clocks
from matinale.settings import Settings, cached_settings
from matinale.tonight import Snapshot, TaskState, Tonight, describe, next_nights_table

__all__ = ["DAG_ID", "ViewApp", "create_app", "editions_payload", "read_snapshot"]

log = logging.getLogger(__name__)

DAG_ID = "matinale_nightly"
_THUMB_WIDTH = 240
_TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "view"
_STATE_LABELS = {
    "published": "Publiée",
    "skipped": "Non publiée",
    "rejected": "Refusée",
    "failed": "Échec",
    "running": "En cours",
}


def _when(text: str | None, settings: Settings) -> str | None:
    if not text:
        return None
    return two_clocks(datetime.fromisoformat(text), settings.clocks)


def editions_payload(
    client: Any,
    settings: Settings,
    *,
    limit: int = 10,
    now: datetime | None = None,
    tonight: Tonight | None = None,
) -> dict[str, Any]:
    """Everything the view shows, as JSON-ready data (also served at ``/api/editions``)."""
    from matinale.bundle.common import french_date
    from matinale.status import recent_editions

    editions = recent_editions(
        client,
        private_bucket=settings.private_bucket,
        bundle_bucket=settings.bundle_bucket,
        limit=limit,
    )
    for edition in editions:
        edition["label"] = french_date(date.fromisoformat(edition["edition"]))
        latest_run = edition["runs"][0] if edition["runs"] else None
        if edition["current"]:
            edition["state"], edition["reason"] = "published", None
            edition["published_at"] = _when(edition["current"].get("published_at"), settings)
            edition["page"] = f"files/{edition['current']['prefix']}index.html"
        else:
            edition["state"] = latest_run["state"] if latest_run else "running"
            edition["reason"] = latest_run.get("reason") if latest_run else None
            edition["published_at"], edition["page"] = None, None
        edition["state_label"] = _STATE_LABELS.get(edition["state"], edition["state"])
        shown = next(
            (
                r
                for r in edition["runs"]
                if edition["current"] and r.get("run") == edition["current"].get("run")
            ),
            latest_run,
        )
        edition["counts"] = (shown or {}).get("counts", {})
        for run in edition["runs"]:
            run["state_label"] = _STATE_LABELS.get(run.get("state"), run.get("state"))
            run["finished"] = _when(run.get("finished_at"), settings)
            run["preview"] = f"preview/{edition['edition']}/{run['run']}/index.html"
            # Tonight's priority territories (matinale.territories): the map and its table.
            run["territories"] = {
                "map": f"preview/{edition['edition']}/{run['run']}/territories.png",
                "table": f"preview/{edition['edition']}/{run['run']}/territories.json",
            }
            # Every run row says why: the record's reason, else its state.
            run["why"] = run.get("reason") or run["state_label"]
        edition["thumbnails"] = [f"thumbs/{key}" for key in edition["cards"]]
        if shown:
            edition["what_works"] = what_works_of(settings, client, edition["edition"], shown)
    now = now or datetime.now(UTC)
    upcoming = next_nights(now, 1, settings.clocks)[0]
    return {
        "now": two_clocks(now, settings.clocks),
        "next_night": {
            "edition": upcoming.edition.isoformat(),
            "label": french_date(upcoming.edition),
            "start": two_clocks(upcoming.start, settings.clocks),
            "deadline": two_clocks(upcoming.deadline, settings.clocks),
        },
        "tonight": tonight.to_dict() if tonight else None,
        "next_nights": [
            {**row, "label": french_date(date.fromisoformat(row["edition"]))}
            for row in next_nights_table(now, settings)
        ],
        "editions": editions,
    }


def read_snapshot(settings: Settings, client: Any, dag_id: str = DAG_ID) -> Snapshot:
    """The nightly DAG as the metadata DB sees it now: paused, next start, latest run, its
    tasks, a pending approval; the brief in the inbox; the run's status record from S3."""
    from airflow.models import DagModel, DagRun, TaskInstance
    from airflow.models.hitl import HITLDetail
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from matinale.airflow.deadline import publish_deadline_for
    from matinale.airflow.sensors import brief_file
    from matinale.schedule import edition_for, run_slug
    from matinale.status import read_json, status_key

    with create_session() as session:
        dag = session.scalar(select(DagModel).where(DagModel.dag_id == dag_id))
        paused = bool(dag.is_paused) if dag is not None else False
        next_start = dag.next_dagrun_create_after if dag is not None else None
        run = session.scalars(
            select(DagRun)
            .where(DagRun.dag_id == dag_id)
            .order_by(DagRun.run_after.desc(), DagRun.id.desc())
            .limit(1)
        ).first()
        if run is None:
            return Snapshot(dag_id=dag_id, paused=paused, next_start=next_start)
        rows = session.execute(
            select(
                TaskInstance.id,
                TaskInstance.task_id,
                TaskInstance.state,
                TaskInstance.start_date,
                TaskInstance.end_date,
                TaskInstance.try_number,
                TaskInstance.map_index,
            ).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        pending = session.scalar(
            select(HITLDetail.ti_id).where(
                HITLDetail.ti_id.in_([row.id for row in rows]), HITLDetail.responded_at.is_(None)
            )
        )
        conf = dict(run.conf or {})
        run_id, run_after, run_state = run.run_id, run.run_after, str(run.state)
        run_start, run_end = run.start_date, run.end_date
    chosen = conf.get("edition_date")
    edition = date.fromisoformat(str(chosen)) if chosen else edition_for(run_after, settings.clocks)
    brief = brief_file(settings, edition)
    record = None
    if run_state not in {"queued", "running"}:
        key = status_key(edition, run_slug(run_after, run_id))
        record = read_json(client, settings.private_bucket, key)
    return Snapshot(
        dag_id,
        paused,
        next_start,
        run_id,
        run_state,
        run_start,
        run_end,
        edition,
        tasks=tuple(
            TaskState(
                row.task_id,
                str(row.state) if row.state else None,
                row.start_date,
                row.end_date,
                int(row.try_number or 0),
                int(row.map_index),
            )
            for row in rows
        ),
        approval_pending=pending is not None,
        brief_path=str(brief),
        brief_present=brief.is_file(),
        deadline=publish_deadline_for(run_after, conf, settings.clocks),
        record=record if isinstance(record, dict) else None,
    )


def what_works_of(
    settings: Settings, client: Any, edition: str, run: Mapping[str, Any], top: int = 3
) -> dict[str, Any] | None:
    """ "Ce qui marche" of a run for the view (matinale.learn.report): its first sentences,
    its chart and the overview's section, or None (no learn stage, or the run purged)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from matinale import night
    from matinale.learn.report import CHART, TABLE
    from matinale.store import StoreError

    base = f"preview/{edition}/{run.get('run')}"
    try:
        store = night.make_store(settings, client if settings.work_store == "s3" else None)
        key = f"runs/{edition}/{run.get('run')}/bundle"
        document = store.get_json(f"{key}/{TABLE}")
        chart = store.exists(f"{key}/{CHART}")
    except (StoreError, OSError, ValueError, BotoCoreError, ClientError):
        return None  # a purged run, an older one, an unreachable store: the view shows the rest
    return {
        "sentences": [row["sentence"] for row in document.get("rows", [])[:top]],
        "editions": len(document.get("editions_read", [])),
        "chart": f"{base}/{CHART}" if chart else None,
        "section": f"{base}/index.html#titre-ce-qui-marche",
    }


def _link_counts(settings: Settings, now: datetime) -> dict[str, Any]:
    """Yesterday's link counts per segment (connection ``matinale_links_db``)."""
    from matinale.links.counts import database_url, yesterday_panel

    today = now.astimezone(settings.clocks.campaign_tz).date()
    return yesterday_panel(database_url(settings.var_dir), today)


def _ui_root() -> str:
    """The Airflow UI's base path (``api.base_url`` may put it under a sub-path)."""
    from urllib.parse import urlsplit

    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


@lru_cache(maxsize=1)
def _template() -> Any:
    from jinja2 import Environment, FileSystemLoader

    return Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=True).get_template(
        "index.html.j2"
    )


def _thumbnail(data: bytes) -> bytes:
    """A small JPEG of a card, at most ``_THUMB_WIDTH`` pixels on its longer side."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((_THUMB_WIDTH, _THUMB_WIDTH))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def create_app(
    settings: Settings | None = None,
    client: Any = None,
    *,
    snapshot: Callable[[Settings, Any], Snapshot] | None = None,
    clock: Callable[[], datetime] | None = None,
    ui_root: str | None = None,
) -> Any:
    """The view's FastAPI app. ``client`` defaults to one built from the ``aws_default``
    connection, ``snapshot`` to ``read_snapshot`` (Airflow's metadata DB), ``clock`` to now."""
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    from matinale.store import StoreError, check_key

    app = FastAPI(title="Matinale", docs_url=None, redoc_url=None, openapi_url=None)
    state: dict[str, Any] = {"settings": settings, "client": client}

    def _settings() -> Settings:
        return state["settings"] or cached_settings()

    def _client() -> Any:
        if state["client"] is None:
            from matinale.airflow.glue import s3_client

            state["client"] = s3_client(_settings())
        return state["client"]

    async def require_reader(request: Request) -> Any:
        """The Airflow user behind the request, if allowed to read the nightly DAG."""
        header = request.headers.get("authorization", "")
        # "_token" is Airflow's COOKIE_NAME_JWT_TOKEN: the UI's session cookie.
        token = (
            header[7:].strip()
            if header.lower().startswith("bearer ")
            else request.cookies.get("_token")
        )
        if not token:
            raise HTTPException(status_code=401, detail="Not authenticated")

        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
        from airflow.api_fastapi.core_api.security import resolve_user_from_token

        user = await resolve_user_from_token(token)
        if not get_auth_manager().is_authorized_dag(
            method="GET", details=DagDetails(id=DAG_ID), user=user
        ):
            raise HTTPException(
                status_code=403, detail=f"read access to the DAG {DAG_ID} is required"
            )
        return user

    @app.exception_handler(HTTPException)
    async def _explain(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 503 and "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(
                f"<!doctype html><html lang='fr'><meta charset='utf-8'><title>Matinale</title><p>{html.escape(str(exc.detail))}</p></html>",
                status_code=503,
            )
        if exc.status_code in {401, 403} and "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(
                f"<!doctype html><html lang='fr'><meta charset='utf-8'><title>Matinale</title>"
                f"<p>Accès réservé : connectez-vous à Airflow avec un compte qui peut lire le DAG {DAG_ID}, "
                "puis rouvrez la vue Matinale depuis le menu d'Airflow.</p><p><a href='/' target='_top'>Se connecter</a></p></html>",
                status_code=exc.status_code,
            )
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    reader = [Depends(require_reader)]
    app.state.require_reader = require_reader  # tests override it; nothing else may

    def _tonight(now: datetime) -> Tonight | None:
        settings = _settings()
        try:
            snap = (snapshot or read_snapshot)(settings, _client())
            root = _ui_root() if ui_root is None else ui_root
        except Exception as exc:  # the live panel must never take the editions down with it
            log.warning("Matinale view: live state unavailable (%s: %s)", type(exc).__name__, exc)
            return None
        return describe(snap, now, settings.clocks, ui_root=root)

    def _payload(limit: int = 10) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        now = clock() if clock else datetime.now(UTC)
        try:
            payload = editions_payload(
                _client(),
                _settings(),
                limit=max(1, min(limit, 60)),
                now=now,
                tonight=_tonight(now),
            )
        except (BotoCoreError, ClientError) as exc:
            settings = _settings()
            log.warning("Matinale view: S3 unavailable (%s)", type(exc).__name__)
            raise HTTPException(
                status_code=503,
                detail=(
                    f"Stockage S3 injoignable ({type(exc).__name__}) : vérifiez la connexion Airflow "
                    f"'{settings.aws_conn_id}' et les buckets {settings.private_bucket}, {settings.bundle_bucket}."
                ),
            ) from None
        payload["links"] = _link_counts(_settings(), now)
        return payload

    @app.get("/", response_class=HTMLResponse, dependencies=reader)
    def page() -> HTMLResponse:
        return HTMLResponse(
            _template().render(data=_payload()), headers={"Cache-Control": "no-store"}
        )

    @app.get("/api/editions", dependencies=reader)
    def editions(limit: int = 10) -> JSONResponse:
        return JSONResponse(_payload(limit))

    def _bundle_object(key: str) -> tuple[bytes, str]:
        try:
            check_key(key)
        except StoreError:
            raise HTTPException(status_code=404, detail="not found") from None
        if not key.startswith("editions/"):
            raise HTTPException(status_code=404, detail="not found")
        client = _client()
        try:
            response = client.get_object(Bucket=_settings().bundle_bucket, Key=key)
        except client.exceptions.NoSuchKey:
            raise HTTPException(status_code=404, detail="not found") from None
        return response["Body"].read(), response.get("ContentType") or "application/octet-stream"

    @app.get("/files/{key:path}", dependencies=reader)
    def files(key: str) -> Response:
        data, content_type = _bundle_object(key)
        return Response(
            data, media_type=content_type, headers={"Cache-Control": "private, max-age=300"}
        )

    @lru_cache(maxsize=512)
    def _thumb(key: str) -> bytes:
        # Keyed by object key: a run prefix is never rewritten, so a thumbnail never goes stale
        # (errors are not cached: lru_cache only keeps returned values).
        data, content_type = _bundle_object(key)
        if not content_type.startswith("image/"):
            raise HTTPException(status_code=404, detail="not an image")
        return _thumbnail(data)

    @app.get("/thumbs/{key:path}", dependencies=reader)
    def thumbs(key: str) -> Response:
        return Response(
            _thumb(key), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
        )

    @app.get("/preview/{edition}/{run}/{path:path}", dependencies=reader)
    def preview(edition: str, run: str, path: str) -> Response:
        from matinale import night
        from matinale.bundle import BundleError, content_type
        from matinale.status import StatusError, check_edition, check_run

        try:
            key = f"runs/{check_edition(edition).isoformat()}/{check_run(run)}/bundle/{check_key(path or 'index.html')}"
            settings = _settings()
            store = night.make_store(settings, _client() if settings.work_store == "s3" else None)
            data = _preview_file(store, key)
        except (StatusError, StoreError):
            raise HTTPException(
                status_code=404, detail="no such preview (the run may have been purged)"
            ) from None
        except BundleError as exc:  # a served pack's file changed since the bundle was built
            raise HTTPException(status_code=409, detail=f"pack: {exc}") from None
        return Response(data, media_type=content_type(key), headers={"Cache-Control": "no-store"})

    return app


def _preview_file(store: Any, key: str) -> bytes:
    """A file of an unpublished run's bundle; a served pack (``packs: served``: the link
    service builds it once published) is built here the same way, from the work store."""
    from matinale.bundle import MANIFEST, pack_of

    if not key.endswith("/pack.zip") or store.exists(key):
        return bytes(store.get_bytes(key))
    root, _, path = key.partition("/bundle/")
    manifest = json.loads(store.get_bytes(f"{root}/bundle/{MANIFEST}"))
    pack = pack_of(manifest, path, lambda member: store.get_bytes(f"{root}/bundle/{member}"))
    if pack is None:
        return bytes(store.get_bytes(key))  # not a served pack: the store's own answer
    return pack


class ViewApp:
    """ASGI app that builds the FastAPI view on its first request.

    The plugin is loaded by every Airflow process (scheduler, triggerer, workers); only the
    API server ever serves the view, so only it pays for building it.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)
