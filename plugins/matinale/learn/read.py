"""What ``learn`` reads: the link counts of recent editions (SQLAlchemy Core, the
``link_counts`` table of :mod:`matinale.links.counts`), the electoral silence and the
angles eligible for each segment.

The database is the one of the Airflow connection ``matinale_links_db`` (its URI in
``AIRFLOW_CONN_MATINALE_LINKS_DB``, or ``MATINALE_LINKS_DB_URL``; SQLite under ``var/``
locally): :func:`links_engine`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from matinale.learn.learner import CountRow, band_of
from matinale.links.counts import COUNTS, database_url, make_engine

if TYPE_CHECKING:
    from matinale.content.rules import ContentRules
    from matinale.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "eligible_from_rules",
    "learn_from_database",
    "links_engine",
    "read_counts",
    "recent_editions",
    "silence_days",
]


def links_engine(var_dir: Path) -> Engine:
    """The engine of the counts database (:func:`matinale.links.counts.database_url`)."""
    return make_engine(database_url(var_dir))


def recent_editions(
    engine: Engine, before: str, n: int, *, silent: Callable[[date], bool] | None = None
) -> list[str]:
    """The ``n`` most recent editions with counts, strictly before ``before``, oldest first;
    editions whose own day is inside the silence are passed over (nothing was published)."""
    query = (
        sa.select(COUNTS.c.edition)
        .where(COUNTS.c.edition < before)
        .distinct()
        .order_by(COUNTS.c.edition.desc())
    )
    found: list[str] = []
    with engine.connect() as connection:
        for (edition,) in connection.execute(query):
            if silent is not None and silent(date.fromisoformat(edition)):
                continue
            found.append(str(edition))
            if len(found) >= n:
                break
    return sorted(found)


def read_counts(engine: Engine, editions: Sequence[str]) -> list[tuple[Any, ...]]:
    """Every count row of ``editions``, as plain tuples in :class:`CountRow`'s order (a few
    hundred thousand rows a night: no per-row object beyond the tuple)."""
    if not editions:
        return []
    columns = [COUNTS.c[name] for name in CountRow._fields]
    query = sa.select(*columns).where(COUNTS.c.edition.in_(list(editions)))
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def silence_days(settings: Settings) -> Callable[[date], bool]:
    """Whether a Paris day touches an electoral silence window (eve 00:00 until polls close,
    extra territories included): counts of such a day teach nothing."""
    from matinale.schedule import freeze_windows

    windows = freeze_windows(settings)
    zone = settings.clocks.campaign_tz

    def silent(day: date) -> bool:
        starts = datetime.combine(day, time(0, 0), tzinfo=zone)
        ends = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone)
        return any(w.starts < ends and starts < w.ends for w in windows)

    return silent


def eligible_from_rules(
    rules: ContentRules, segments: Mapping[str, str], address: str | None = None
) -> Callable[[str, str], list[str]]:
    """``eligible(segment, theme)``: the angles of ``framing.yaml`` that fit the segment's
    band (``segments``: id → band) and the theme, in the file's order."""
    from matinale.content.rules import eligible_angles

    cache: dict[tuple[str, str], list[str]] = {}

    def eligible(segment: str, theme: str) -> list[str]:
        band = segments.get(segment) or band_of(segment)
        if (band, theme) not in cache:
            cache[(band, theme)] = eligible_angles(rules, theme, band, address)
        return cache[(band, theme)]

    return eligible


def learn_from_database(
    settings: Settings,
    *,
    segments: Mapping[str, str],
    themes: Sequence[str],
    eligible: Callable[[str, str], Sequence[str]],
    edition: str,
    seed: int,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """``learned.json`` of ``edition`` from the counts database, with the campaign's
    ``learn:`` settings and electoral silence (the night's ``learn`` task calls this)."""
    from matinale.learn.learner import learn

    own = engine is None
    engine = engine or links_engine(settings.var_dir)
    silent = silence_days(settings)
    learning = settings.learning
    try:
        if sa.inspect(engine).has_table(COUNTS.name):
            editions = recent_editions(engine, edition, learning.editions, silent=silent)
            rows = read_counts(engine, editions)
        else:  # the link service has never run here (make run, a first night): nothing yet
            log.warning(
                "No %s table in the counts database: nothing to learn from, weights stay even",
                COUNTS.name,
            )
            editions, rows = [], []
    finally:
        if own:
            engine.dispose()
    return learn(
        rows,
        segments=segments,
        themes=themes,
        eligible=eligible,
        edition=edition,
        editions=editions,
        floor=learning.exploration_floor,
        k_min=learning.min_exposures,
        silent=silent,
        seed=seed,
        pooling=learning.pooling,
        default_send_hour=settings.delivery.send_time,
    )
