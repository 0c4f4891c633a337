"""The link service: the one public piece of Matinale (``/p/``, ``/s/``, ``POST /e``), the
link state it reads, and the aggregated counts it writes.

Link-state layout (the contract publish writes and the service reads)
---------------------------------------------------------------------
In ``links.state_bucket`` (default: the bundle bucket) under ``links.state_prefix``
(default ``links/``). No personal data; readable by the service's own S3 identity; kept
beyond edition retention, so a QR code printed last week still resolves::

    links/tokens.json                      one token per segment, with the retired ones
        {"version": 1, "tokens": {"<token>": {"segment": "s01", "created": "<iso UTC>",
                                             "rotated_from": "<old token>" | null,
                                             "retired": "<iso UTC>" | null}}}
    links/tables/<edition>/<run>.json      one run's link table, written BEFORE promotion
        {"version": 1, "edition": "YYYY-MM-DD", "run": "<run>", "registered_at": "<iso>",
         "links": {"<code>": {"destination": "https://…", "segment": "s01",
                              "theme": "…", "channel": "…", "angle": "…"}},
         "cells": [["s01", "<theme>", "<channel>", "<angle>"], …]}
    links/withdrawn/<edition>.json         marker: {"edition", "at", "by", "reason"}
    links/stems/<stem>.json                a run's 3-character code stem: {"edition", "run", "at"}
    links/stem-runs/<edition>/<run>.json   the same, found by run: {"stem"}

* ``<token>``: 128 random bits, base64url (22 characters): ``/p/<token>``; a rotated token
  stays in the file with ``retired`` set and answers "lien remplacé".
* ``<code>``: 8 characters of :data:`~matinale.links.codes.CODE_ALPHABET`:
  ``/s/<code>``: the run's reserved stem then 5 keyed-random characters
  (:mod:`~matinale.links.short`), so never reused across tables; its destination is an absolute http(s) URL
  (on ``links.allowed_domains`` when that list is set). ``cells`` lists the page's cells
  (segment, theme, channel, angle) that have no short link but may send beacons; a link's
  own cell is always allowed.
* The overview's token is the line whose segment is ``_overview``; ``/p/<token>/<path>``
  serves a file of the token's segment folder (or, for the overview, beside it) that the
  promoted run's manifest lists; ``/p/<token>/pack.zip`` of a run whose packs are served
  (manifest ``packs: served``) is built by the service from the run's files
  (:class:`~matinale.links.packs.Packs`: members checked by SHA-256, a cache bounded in bytes).
* ``/p/`` follows the bundle bucket's pointers (:mod:`matinale.publish.pointers`):
  ``latest.json`` names the newest edition's promoted run (``edition``, ``run``,
  ``prefix``), whose ``manifest.json`` lists ``segments: [{"id", "page"}]``; the page key
  is ``<prefix><page>`` (``editions/<date>/<run>/<segment>/index.html``). A rollback
  rewrites ``latest.json``; a withdrawal marker for the edition it names stops ``/p/``.

Writers: :class:`LinkState` — ``register_run(edition, run, links, cells=…)``,
``ensure_tokens(segments)``, ``rotate(segment)`` / ``rotate(all_segments=True)``,
``withdraw(edition)``, ``reserve_stem(edition, run)`` (prepare).

Modules: ``codes`` (identifiers and their checks), ``short`` (a run's codes), ``state``
(the S3 layout), ``resolve``
(the service's in-memory snapshot and presigned URLs), ``packs`` (served packs), ``counts`` (the counts and their
database; Alembic migrations in ``migrations/``), ``beacons`` (which beacons count),
``guard`` (rate limit, preview bots, headers), ``pages`` (French pages), ``app``
(:func:`create_app`), ``serve`` (uvicorn), ``commands`` (the CLI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matinale.lazy import lazy_exports

if TYPE_CHECKING:
    from matinale.links.app import Tuning, create_app
    from matinale.links.codes import LinkStateError, new_code, new_token
    from matinale.links.counts import Counts, CountsError, database_url, make_engine, migrate
    from matinale.links.state import Cell, LinkState, Table, TableLink, Token

# Imported when first asked for: publish and the night's content tasks import
# ``matinale.links.codes`` and ``matinale.links.short``, and importing the package must not
# load the service's web stack (FastAPI, Starlette, SQLAlchemy) into every task process.
_WHERE = {
    "Tuning": "app",
    "create_app": "app",
    "LinkStateError": "codes",
    "new_code": "codes",
    "new_token": "codes",
    "Counts": "counts",
    "CountsError": "counts",
    "database_url": "counts",
    "make_engine": "counts",
    "migrate": "counts",
    "Cell": "state",
    "LinkState": "state",
    "Table": "state",
    "TableLink": "state",
    "Token": "state",
}


__getattr__ = lazy_exports(
    __name__, {name: f"{__name__}.{module}" for name, module in _WHERE.items()}
)


__all__ = [
    "Cell",
    "Counts",
    "CountsError",
    "LinkState",
    "LinkStateError",
    "Table",
    "TableLink",
    "Token",
    "Tuning",
    "create_app",
    "database_url",
    "make_engine",
    "migrate",
    "new_code",
    "new_token",
]
