"""The aggregated counts: migrations, in-memory sums, upserts, retention, Paris hours."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from matinale.links.counts import (
    Counts,
    CountsError,
    database_url,
    make_engine,
    migrate,
    paris_hour,
)

MOMENT = datetime(2026, 11, 24, 6, 15, tzinfo=UTC)


def _counts(tmp_path: Path) -> Counts:
    engine = make_engine(f"sqlite:///{tmp_path / 'links.db'}")
    assert migrate(engine) == "0001"
    assert migrate(engine) == "0001"  # idempotent: the service runs it at every start
    return Counts(engine, clock=lambda: MOMENT)


def test_counts_are_summed_in_memory_and_added_to_rows(tmp_path: Path) -> None:
    counts = _counts(tmp_path)
    for _ in range(3):
        counts.add("2026-11-24", "s01", "open")
    counts.add("2026-11-24", "s01", "click", ("logement", "x", "mobiliser"))
    assert counts.pending == 4
    assert counts.flush() == 4
    counts.add("2026-11-24", "s01", "open", n=2)
    assert counts.flush() == 2
    assert counts.flush() == 0
    assert list(counts.totals("2026-11-24")) == [("s01", "click", 1), ("s01", "open", 5)]
    with counts.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM link_counts ORDER BY event")).all()
    assert [tuple(r) for r in rows] == [
        ("2026-11-24T07:00+01:00", "2026-11-24", "s01", "logement", "x", "mobiliser", "click", 1),
        ("2026-11-24T07:00+01:00", "2026-11-24", "s01", "", "", "", "open", 5),
    ]


def test_a_failed_flush_keeps_the_counts_in_memory(tmp_path: Path) -> None:
    counts = _counts(tmp_path)
    counts.add("2026-11-24", "s01", "open")
    with counts.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE link_counts"))
    with pytest.raises(CountsError) as caught:
        counts.flush()
    assert caught.value.retryable
    assert counts.pending == 1


def test_retention_deletes_old_editions_only(tmp_path: Path) -> None:
    counts = _counts(tmp_path)
    counts.add("2026-01-01", "s01", "open")
    counts.add("2026-11-20", "s01", "open")
    counts.flush()
    assert counts.purge(30, today=date(2026, 11, 24)) == 1
    assert list(counts.totals("2026-11-20")) == [("s01", "open", 1)]
    assert list(counts.totals("2026-01-01")) == []


def test_paris_hours_are_unambiguous_across_the_autumn_change() -> None:
    first = paris_hour(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    second = paris_hour(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert (first, second) == ("2026-10-25T02:00+02:00", "2026-10-25T02:00+01:00")


def test_database_url_prefers_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MATINALE_LINKS_DB_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_MATINALE_LINKS_DB", raising=False)
    assert database_url(tmp_path) == f"sqlite:///{tmp_path / 'links.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_MATINALE_LINKS_DB", "postgres://u:p@db/links")
    assert database_url(tmp_path) == "postgresql://u:p@db/links"
    monkeypatch.setenv("MATINALE_LINKS_DB_URL", "sqlite:///x.db")
    assert database_url(tmp_path) == "sqlite:///x.db"


def test_per_segment_and_yesterdays_panel_read_what_was_flushed(tmp_path: Path) -> None:
    """Protects the view's reading: events per segment, yesterday's edition only, zeros filled."""
    from matinale.links.counts import per_segment, yesterday_panel

    counts = _counts(tmp_path)
    counts.add("2026-11-24", "s01", "open", n=5)
    counts.add("2026-11-24", "s01", "copy", ("logement", "x", "mobiliser"), n=2)
    counts.add("2026-11-24", "s02", "click", ("emploi", "sms", "informer"))
    counts.add("2026-11-24", "s02", "preview")
    counts.add("2026-11-25", "s01", "open", n=9)  # today's edition: not yesterday's
    counts.flush()
    assert per_segment(counts.engine, "2026-11-24") == {
        "s01": {"copy": 2, "open": 5},
        "s02": {"click": 1, "preview": 1},
    }
    panel = yesterday_panel(f"sqlite:///{tmp_path / 'links.db'}", date(2026, 11, 25))
    assert panel == {
        "edition": "2026-11-24",
        "rows": [
            {"segment": "s01", "open": 5, "click": 0, "copy": 2, "share": 0},
            {"segment": "s02", "open": 0, "click": 1, "copy": 0, "share": 0},
        ],
        "message": None,
    }
    empty = yesterday_panel(f"sqlite:///{tmp_path / 'links.db'}", date(2026, 11, 27))
    assert empty["rows"] == [] and "Aucun compte pour l’édition du 2026-11-26" in str(
        empty["message"]
    )


def test_yesterdays_panel_says_when_the_database_is_missing_or_unreachable(
    tmp_path: Path,
) -> None:
    from matinale.links.counts import yesterday_panel

    missing = yesterday_panel(f"sqlite:///{tmp_path / 'none.db'}", date(2026, 11, 25))
    assert missing["rows"] == [] and "Pas encore de comptes" in str(missing["message"])
    assert not (tmp_path / "none.db").exists()  # the view never creates the database
    (tmp_path / "bare.db").write_bytes(b"")  # a database without the counts table
    broken = yesterday_panel(f"sqlite:///{tmp_path / 'bare.db'}", date(2026, 11, 25))
    assert "injoignable (OperationalError)" in str(broken["message"])
    assert "matinale_links_db" in str(broken["message"])
    down = yesterday_panel("postgresql+psycopg2://u:p@127.0.0.1:9/x", date(2026, 11, 25))
    assert "injoignable (OperationalError)" in str(down["message"])


def test_an_airflow_postgres_uri_gets_the_installed_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compose's ``AIRFLOW_CONN_MATINALE_LINKS_DB=postgres://…`` must not ask for psycopg 3."""
    monkeypatch.setenv("AIRFLOW_CONN_MATINALE_LINKS_DB", "postgres://u:p@db/links")
    engine = make_engine(database_url(tmp_path))
    assert engine.dialect.driver == "psycopg2"
    engine.dispose()
