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
import logging
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from matinale.schedule import next_nights, two_clocks
from matinale.settings import Settings, cached_settings

__all__ = ["DAG_ID", "ViewApp", "create_app", "editions_payload"]

log = logging.getLogger(__name__)

DAG_ID = "matinale_nightly"
_THUMB_WIDTH = 240
_STATE_LABELS = {
    "published": "Publiée",
    "skipped": "Non publiée",
    "rejected": "Refusée",
    "failed": "Échec",
    "running": "En cours",
}
_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def _french_date(day: date) -> str:
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def _when(text: str | None, settings: Settings) -> str | None:
    if not text:
        return None
    return two_clocks(datetime.fromisoformat(text), settings.clocks)


def editions_payload(
    client: Any, settings: Settings, *, limit: int = 10, now: datetime | None = None
) -> dict[str, Any]:
    """Everything the view shows, as JSON-ready data (also served at ``/api/editions``)."""
    from matinale.status import recent_editions

    editions = recent_editions(
        client,
        private_bucket=settings.private_bucket,
        bundle_bucket=settings.bundle_bucket,
        limit=limit,
    )
    for edition in editions:
        edition["label"] = _french_date(date.fromisoformat(edition["edition"]))
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
        edition["thumbnails"] = [f"thumbs/{key}" for key in edition["cards"]]
    upcoming = next_nights(now or datetime.now(UTC), 1, settings.clocks)[0]
    return {
        "now": two_clocks(now or datetime.now(UTC), settings.clocks),
        "next_night": {
            "edition": upcoming.edition.isoformat(),
            "label": _french_date(upcoming.edition),
            "start": two_clocks(upcoming.start, settings.clocks),
            "deadline": two_clocks(upcoming.deadline, settings.clocks),
        },
        "editions": editions,
    }


_PAGE = """<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Matinale — éditions</title>
<style>
 body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem 1.5rem;color:#1b1f24;background:#f6f7f9}
 h1{font-size:1.4rem;margin:.2rem 0 .8rem} .muted{color:#57606a;font-size:.9rem}
 .next{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:.6rem 1rem;margin-bottom:1rem}
 article{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:.8rem 1rem;margin-bottom:1rem}
 article h2{font-size:1.1rem;margin:0 0 .4rem;display:flex;gap:.6rem;align-items:center;flex-wrap:wrap}
 .badge{font-size:.8rem;padding:.1rem .5rem;border-radius:999px;background:#eaeef2}
 .published{background:#dafbe1;color:#116329}.skipped{background:#fff8c5;color:#7d4e00}
 .rejected,.failed{background:#ffebe9;color:#a40e26}
 .reason{margin:.3rem 0;color:#7d4e00} dl{display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;margin:.4rem 0}
 dt{font-size:.75rem;color:#57606a} dd{margin:0;font-weight:600}
 .thumbs{display:flex;gap:.5rem;flex-wrap:wrap;margin:.5rem 0} .thumbs img{width:120px;height:120px;object-fit:cover;border-radius:6px;border:1px solid #d0d7de}
 ul.segments{columns:3 14rem;margin:.3rem 0;padding-left:1.2rem;font-size:.9rem}
 table{border-collapse:collapse;font-size:.85rem;margin-top:.4rem} td,th{padding:.15rem .6rem .15rem 0;text-align:left}
 a{color:#0550ae}
</style>
</head>
<body>
<h1>Matinale — les dernières éditions</h1>
<p class="muted">Il est {{ data.now }}.</p>
<section class="next" aria-label="Prochaine nuit">
 <strong>Prochaine nuit</strong> : édition du {{ data.next_night.label }} — départ {{ data.next_night.start }},
 heure limite de publication {{ data.next_night.deadline }}.
</section>
{% if not data.editions %}<p>Aucune édition pour l'instant.</p>{% endif %}
{% for e in data.editions %}
<article data-edition="{{ e.edition }}">
 <h2>{{ e.label }} <span class="badge {{ e.state }}" data-state="{{ e.state }}">{{ e.state_label }}</span>
 {% if e.is_latest %}<span class="badge">en ligne (latest)</span>{% endif %}</h2>
 {% if e.reason %}<p class="reason">{{ e.reason }}</p>{% endif %}
 {% if e.published_at %}<p class="muted">Publiée à {{ e.published_at }} — run {{ e.current.run }}</p>{% endif %}
 {% if e.counts %}<dl>
  {% for key, label in [("rows_read","lignes lues"),("quarantined","en quarantaine"),("valid","valides"),("segments","segments"),("posts","posts"),("cards","visuels")] %}
   {% if key in e.counts %}<div><dt>{{ label }}</dt><dd data-count="{{ key }}">{{ "{:,}".format(e.counts[key]).replace(",", " ") }}</dd></div>{% endif %}
  {% endfor %}
 </dl>{% endif %}
 {% if e.thumbnails %}<div class="thumbs">{% for src in e.thumbnails %}<img src="{{ src }}" alt="Visuel {{ loop.index }} de l'édition du {{ e.label }}" loading="lazy">{% endfor %}</div>{% endif %}
 {% if e.page %}<p><a class="page" href="{{ e.page }}" target="_blank" rel="noopener">Ouvrir la page de l'édition</a></p>{% endif %}
 {% if e.segments %}<details><summary>{{ e.segments|length }} segments</summary><ul class="segments">
  {% for s in e.segments %}<li>{{ s.label or s.id }} <span class="muted">({{ s.id }}, {{ s.size }})</span></li>{% endfor %}
 </ul></details>{% endif %}
 {% if e.runs %}<table><thead><tr><th>run</th><th>état</th><th>fin</th><th></th></tr></thead><tbody>
  {% for r in e.runs %}<tr><td>{{ r.run }}</td><td>{{ r.state_label }}</td><td>{{ r.finished or "" }}</td>
  <td><a href="{{ r.preview }}" target="_blank" rel="noopener">aperçu</a></td></tr>{% endfor %}
 </tbody></table>{% endif %}
</article>
{% endfor %}
</body>
</html>
"""


@lru_cache(maxsize=1)
def _template() -> Any:
    from jinja2 import Environment

    return Environment(autoescape=True).from_string(_PAGE)


def _thumbnail(data: bytes) -> bytes:
    """A small JPEG of a card, at most ``_THUMB_WIDTH`` pixels on its longer side."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((_THUMB_WIDTH, _THUMB_WIDTH))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def create_app(settings: Settings | None = None, client: Any = None) -> Any:
    """The view's FastAPI app. ``client`` defaults to one built from the ``aws_default`` connection."""
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

    def _payload(limit: int = 10) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return editions_payload(_client(), _settings(), limit=max(1, min(limit, 60)))
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
        from matinale.bundle import content_type
        from matinale.status import StatusError, check_edition, check_run

        try:
            key = f"runs/{check_edition(edition).isoformat()}/{check_run(run)}/bundle/{check_key(path or 'index.html')}"
            settings = _settings()
            store = night.make_store(settings, _client() if settings.work_store == "s3" else None)
            data = store.get_bytes(key)
        except (StatusError, StoreError):
            raise HTTPException(
                status_code=404, detail="no such preview (the run may have been purged)"
            ) from None
        return Response(data, media_type=content_type(key), headers={"Cache-Control": "no-store"})

    return app


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
