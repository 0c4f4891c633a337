"""The counts: one row per (Paris hour, edition, segment, theme, channel, angle, event) with
a number, summed in memory and added to the database by :meth:`Counts.flush`.

Nothing else is stored: no address, user agent, referrer, cookie or identifier. The table
is created and upgraded by the Alembic migrations shipped in ``migrations/``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from matinale.errors import TransientError

__all__ = [
    "COUNTS",
    "CountKey",
    "Counts",
    "CountsError",
    "database_url",
    "make_engine",
    "metadata",
    "migrate",
    "paris_hour",
    "per_segment",
    "yesterday_panel",
]

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")
CONN_ID = "matinale_links_db"

CountKey = tuple[str, str, str, str, str, str, str]
"""(hour, edition, segment, theme, channel, angle, event); empty strings where not known."""

metadata = sa.MetaData()
COUNTS = sa.Table(
    "link_counts",
    metadata,
    sa.Column("hour", sa.String(25), primary_key=True),
    sa.Column("edition", sa.String(10), primary_key=True),
    sa.Column("segment", sa.String(64), primary_key=True),
    sa.Column("theme", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("angle", sa.String(64), primary_key=True),
    sa.Column("event", sa.String(16), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
)


class CountsError(TransientError):
    """The counts database cannot be reached or written (the counts stay in memory)."""


def paris_hour(moment: datetime) -> str:
    """The Paris hour of an aware instant, with its offset (unambiguous across DST)."""
    local = moment.astimezone(PARIS).replace(minute=0, second=0, microsecond=0)
    return local.isoformat(timespec="minutes")


def database_url(var_dir: Path) -> str:
    """``MATINALE_LINKS_DB_URL``, else the Airflow connection ``matinale_links_db`` from the
    environment (``AIRFLOW_CONN_MATINALE_LINKS_DB``, a URI), else SQLite under ``var/``."""
    url = os.environ.get("MATINALE_LINKS_DB_URL") or os.environ.get(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", ""
    )
    if url.startswith("postgres://"):  # Airflow's URI scheme for Postgres
        url = "postgresql://" + url.removeprefix("postgres://")
    if url:
        return url
    var_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{var_dir / 'links.db'}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a bare ``postgresql://`` gets the psycopg2 driver (the one
    installed: SQLAlchemy 2.1 would otherwise pick psycopg 3)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _wal(connection: object, _record: object) -> None:  # readers never block the writer
            cursor = connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest migration; returns the revision now in place."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        row = connection.execute(
            sa.text("SELECT version_num FROM link_counts_alembic_version")
        ).first()
    return str(row[0]) if row else ""


class Counts:
    """In-memory sums, flushed into the database by one caller at a time."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))
        self._pending: Counter[CountKey] = Counter()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()

    def add(
        self,
        edition: str,
        segment: str,
        event: str,
        cell: tuple[str, str, str] = ("", "", ""),
        n: int = 1,
    ) -> None:
        key = (paris_hour(self.clock()), edition, segment, *cell, event)
        with self._lock:
            self._pending[key] += n  # type: ignore[index]

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(self._pending.values())

    def flush(self) -> int:
        """Add the pending sums to the database; returns how many events were written.

        On failure the sums go back to memory (nothing is lost while the process lives)."""
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, Counter()
            if not batch:
                return 0
            try:
                with self.engine.begin() as connection:
                    _upsert(connection, batch)
            except sa.exc.SQLAlchemyError as exc:
                with self._lock:
                    self._pending.update(batch)
                raise CountsError(f"could not write the link counts: {type(exc).__name__}") from exc
            return sum(batch.values())

    def purge(self, retention_days: int, today: date | None = None) -> int:
        """Delete the counts of editions older than ``retention_days``; returns rows deleted."""
        today = today or self.clock().astimezone(PARIS).date()
        oldest = (today - timedelta(days=retention_days)).isoformat()
        with self.engine.begin() as connection:
            result = connection.execute(COUNTS.delete().where(COUNTS.c.edition < oldest))
        return int(result.rowcount or 0)

    def totals(self, edition: str) -> Iterator[tuple[str, str, int]]:
        """(segment, event, n) of one edition, summed over hours and cells."""
        query = (
            sa.select(COUNTS.c.segment, COUNTS.c.event, sa.func.sum(COUNTS.c.n))
            .where(COUNTS.c.edition == edition)
            .group_by(COUNTS.c.segment, COUNTS.c.event)
            .order_by(COUNTS.c.segment, COUNTS.c.event)
        )
        with self.engine.connect() as connection:
            for segment, event, n in connection.execute(query):
                yield str(segment), str(event), int(n)


SHOWN_EVENTS = ("open", "click", "copy", "share")
"""The events the Matinale view shows, in its column order."""


def per_segment(engine: Engine, edition: str) -> dict[str, dict[str, int]]:
    """segment → {event: n} for one edition, summed over hours and cells (every event kept:
    ``open``, ``click``, ``copy``, ``share``, ``variant_shown``, ``preview``, ``implausible``)."""
    result: dict[str, dict[str, int]] = {}
    for segment, event, n in Counts(engine).totals(edition):
        result.setdefault(segment, {})[event] = n
    return result


def yesterday_panel(url: str, today: date) -> dict[str, object]:
    """What the Matinale view shows of the link counts: yesterday's edition (``today`` is
    the Paris date), one row per segment with its opens, clicks, copies and shares; or a
    French sentence saying why there is nothing (no database yet, unreachable, empty)."""
    edition = (today - timedelta(days=1)).isoformat()
    panel: dict[str, object] = {"edition": edition, "rows": [], "message": None}
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        panel["message"] = "Pas encore de comptes : le service de liens n’a rien enregistré ici."
        return panel
    engine = make_engine(url)
    try:
        counted = per_segment(engine, edition)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("link counts unreadable (%s)", type(exc).__name__)
        panel["message"] = (
            f"Base des comptes de liens injoignable ({type(exc).__name__}) : vérifiez la "
            f"connexion Airflow « {CONN_ID} »."
        )
        return panel
    finally:
        engine.dispose()
    panel["rows"] = [
        {"segment": segment, **{event: events.get(event, 0) for event in SHOWN_EVENTS}}
        for segment, events in sorted(counted.items())
    ]
    if not counted:
        panel["message"] = f"Aucun compte pour l’édition du {edition} (ni ouverture ni clic)."
    return panel


def _upsert(connection: sa.Connection, batch: Counter[CountKey]) -> None:
    names = [c.name for c in COUNTS.primary_key.columns]
    rows = [dict(zip(names, key, strict=True), n=n) for key, n in batch.items()]
    dialect = connection.dialect.name
    if dialect in {"sqlite", "postgresql"}:
        from sqlalchemy.dialects import postgresql, sqlite

        statement = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(COUNTS)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=names, set_={"n": COUNTS.c.n + statement.excluded.n}
            ),
            rows,
        )
        return
    for row in rows:  # any other database: update, else insert
        where = sa.and_(*(COUNTS.c[name] == row[name] for name in names))
        done = connection.execute(COUNTS.update().where(where).values(n=COUNTS.c.n + row["n"]))
        if not done.rowcount:
            connection.execute(COUNTS.insert().values(**row))
