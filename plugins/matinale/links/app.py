"""The link service's ASGI app: ``/p/<token>``, ``/p/<token>/<file>`` (a served pack is
built here, :mod:`.packs`), ``/s/<code>``, ``POST /e``, ``/healthz``.

:func:`create_app` wires the pieces: the in-memory snapshot of the link state
(:mod:`.resolve`), the counts (:mod:`.counts`), the beacon bounds (:mod:`.beacons`), the
rate limiter and headers (:mod:`.guard`) and the French pages (:mod:`.pages`). Its lifespan
migrates the counts database, loads the state, refreshes it in the background, flushes the
counts every ``flush_seconds`` and once more at shutdown (SIGTERM).

The two hot routes (``GET|HEAD /p/<token>`` and ``/s/<code>``) are answered by a pure ASGI
middleware in front of FastAPI (:class:`_HotPaths`): no routing, request object, dependency
resolution or response object per click, which roughly doubles redirects per second on one
core (see ``make bench``). Everything else, and any path that is not exactly one segment
after ``/p/`` or ``/s/``, goes through FastAPI as before.

Nothing here logs or stores an address, user agent, referrer, token or code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response

from matinale.links.beacons import MAX_BODY, Plausibility, parse_beacon
from matinale.links.codes import OVERVIEW
from matinale.links.counts import Counts, CountsError, make_engine, migrate
from matinale.links.guard import ASGIApp, RateLimiter, SecurityHeaders, is_preview_bot
from matinale.links.packs import PackError, Packs
from matinale.links.pages import STYLE_HASH, page
from matinale.links.resolve import Outcome, Resolver
from matinale.links.state import LinkState
from matinale.s3types import S3Client
from matinale.settings import Settings

__all__ = ["Tuning", "create_app"]

log = logging.getLogger("matinale.links")


@dataclass(frozen=True)
class Tuning:
    """Timings and limits of the service (the defaults are the production ones)."""

    pointer_seconds: float = 2.0
    state_seconds: float = 5.0
    url_seconds: float = 60.0
    flush_seconds: float = 1.0
    rate_per_second: float = 5.0
    burst: float = 30.0
    purge_seconds: float = 3600.0


def _html(kind: str, head: bool = False) -> Response:
    status, body = page(kind)
    return Response(b"" if head else body, status, media_type="text/html; charset=utf-8")


def _redirect(url: str) -> Response:
    return Response(status_code=302, headers={"location": url})


async def _every(seconds: float, work: Callable[[], Any], what: str) -> None:
    """Run ``work`` in a worker thread every ``seconds``; log failures by type only."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(work)
        except Exception as exc:  # noqa: BLE001 - the service keeps serving its last snapshot
            log.warning("link service: %s failed (%s); retrying", what, type(exc).__name__)


def create_app(
    settings: Settings,
    *,
    client: S3Client,
    db_url: str,
    tuning: Tuning | None = None,
) -> FastAPI:
    """The link service for one campaign: ``client`` reads the bundle and link-state
    buckets; counts go to ``db_url`` (SQLAlchemy URL)."""
    tune = tuning or Tuning()
    links = settings.link_service
    state = LinkState(client, links.state_bucket, links.state_prefix)
    resolver = Resolver(
        client,
        settings.bundle_bucket,
        state,
        page_minutes=links.page_link_minutes,
        public_url=settings.public_s3_url,
        url_seconds=tune.url_seconds,
    )
    packs = Packs(client, settings.bundle_bucket)
    engine = make_engine(db_url)
    counts = Counts(engine)
    plausible = Plausibility()
    limiter = RateLimiter(tune.rate_per_second, tune.burst)

    def purge() -> None:
        removed = counts.purge(links.counts_retention_days)
        if removed:
            log.info("link service: %d count rows past retention deleted", removed)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        revision = await asyncio.to_thread(migrate, engine)
        await asyncio.to_thread(purge)
        for first in (resolver.refresh_pointer, resolver.refresh_state):
            try:
                await asyncio.to_thread(first)
            except Exception as exc:  # noqa: BLE001 - start anyway; the loops retry
                log.warning("link service: first S3 read failed (%s)", type(exc).__name__)
        tasks = [
            asyncio.create_task(_every(tune.pointer_seconds, resolver.refresh_pointer, "pointer")),
            asyncio.create_task(_every(tune.state_seconds, resolver.refresh_state, "state")),
            asyncio.create_task(_every(tune.flush_seconds, counts.flush, "count flush")),
            asyncio.create_task(_every(tune.purge_seconds, purge, "retention")),
        ]
        log.info("link service: ready (counts schema %s)", revision)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for _attempt in range(3):
                try:
                    written = await asyncio.to_thread(counts.flush)
                except CountsError:
                    await asyncio.sleep(0.5)
                    continue
                log.info("link service: stopped; %d events in the last flush", written)
                break
            else:
                log.error("link service: stopped with %d events unwritten", counts.pending)
            engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.counts = counts
    app.state.resolver = resolver

    def limited(request: Request) -> bool:
        address = request.client.host if request.client else ""
        return not limiter.allow(address)

    def resolve(route: str, key: str, address: str, head: bool, agent: str) -> Outcome | None:
        """The outcome of one ``/p/`` or ``/s/`` request, counted; ``None``: rate-limited."""
        if not limiter.allow(address):
            return None
        outcome, event = (
            (resolver.page(key), "open") if route == "p" else (resolver.short(key), "click")
        )
        # The staff overview's opens are not the activists': not counted.
        if outcome.kind == "redirect" and not head and outcome.segment != OVERVIEW:
            bot = is_preview_bot(agent)
            counts.add(outcome.edition, outcome.segment, "preview" if bot else event, outcome.cell)
            if event == "open" and not bot:
                plausible.opened(outcome.edition, outcome.segment)
        return outcome

    # GET|HEAD /p/<token> and /s/<code> are answered by _HotPaths (pure ASGI, in front of
    # FastAPI) through ``resolve``; the routes below are the rest.
    @app.api_route("/p/{token}/{path:path}", methods=["GET", "HEAD"])
    async def page_file(token: str, path: str, request: Request) -> Response:
        """A file of the segment's page (full-size card, pack): not counted."""
        head = request.method == "HEAD"
        if limited(request):
            return _html("too_many", head)
        outcome = resolver.page_file(token, path)
        if outcome.kind == "pack":
            return await _pack(outcome, head)
        return _redirect(outcome.url) if outcome.kind == "redirect" else _html(outcome.kind, head)

    async def _pack(outcome: Outcome, head: bool) -> Response:
        """A served pack, built from the run's files (or from the cache) in a worker thread."""
        try:
            data = await asyncio.to_thread(packs.get, outcome.prefix, outcome.members)
        except PackError as exc:
            log.error("link service: the pack of %s cannot be built: %s", outcome.segment, exc)
            return _html("unavailable", head)
        name = f"{outcome.segment}.zip"  # as the page's download attribute names it
        return Response(
            b"" if head else data,
            media_type="application/zip",
            headers={
                "content-length": str(len(data)),
                "content-disposition": f'attachment; filename="{name}"',
                "cache-control": "private, max-age=300",
            },
        )

    @app.post("/e")
    async def beacon(request: Request) -> Response:
        if limited(request):
            return Response(status_code=429)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return Response(status_code=413)
        fields = parse_beacon(body)
        if fields is None:
            return Response(status_code=400)
        edition = fields["edition"]
        cell = (fields["segment"], fields["theme"], fields["channel"], fields["angle"])
        if cell in resolver.cells.get(edition, frozenset()):
            ok = plausible.accept(edition, cell, fields["event"])
            counts.add(edition, cell[0], fields["event"] if ok else "implausible", cell[1:])
        return Response(status_code=204)  # dropped or not: the page learns nothing

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "published": resolver.latest is not None}

    app.add_middleware(_headers_middleware)
    app.add_middleware(_HotPaths, resolve=resolve)  # outermost: sets its own headers
    return app


def _headers_middleware(app: Any) -> SecurityHeaders:
    return SecurityHeaders(app, STYLE_HASH)


Send = Callable[[Any], Awaitable[None]]


class _HotPaths:
    """``GET|HEAD /p/<token>`` and ``/s/<code>`` as pure ASGI, with the same answers, counts
    and headers as the FastAPI routes; any other request goes on to FastAPI."""

    def __init__(self, app: ASGIApp, resolve: Callable[[str, str, str, bool, str], Outcome | None]):
        self.app = app
        self.resolve = resolve
        self.security = SecurityHeaders(app, STYLE_HASH).headers
        self.pages: dict[tuple[str, bool], tuple[int, list[tuple[bytes, bytes]], bytes]] = {}

    def _page(self, kind: str, head: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        cached = self.pages.get((kind, head))
        if cached is None:
            status, body = page(kind)
            body = b"" if head else body
            headers = [
                (b"content-length", str(len(body)).encode("ascii")),
                (b"content-type", b"text/html; charset=utf-8"),
                *self.security,
            ]
            cached = self.pages[(kind, head)] = (status, headers, body)
        return cached

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Send,
    ) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        route, key = path[1:2], path[3:]
        if (
            route not in ("p", "s")
            or path[2:3] != "/"
            or not key
            or "/" in key
            or scope["method"] not in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        agent = b""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                agent = value
                break
        client = scope.get("client")
        outcome = self.resolve(
            route, key, client[0] if client else "", head, agent.decode("latin-1")
        )
        if outcome is not None and outcome.kind == "redirect":
            status, body = 302, b""
            headers = [
                (b"location", outcome.url.encode("latin-1")),
                (b"content-length", b"0"),
                *self.security,
            ]
        else:
            status, headers, body = self._page(
                "too_many" if outcome is None else outcome.kind, head
            )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _not_found(request: Request, _exc: Exception) -> Response:
    return _html("unknown", request.method == "HEAD")
