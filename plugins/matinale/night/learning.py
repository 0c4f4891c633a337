"""The ``learn`` stage: what tonight's posts, pages and delivery file take from the morning's
link counts (issue 18; the model is in :mod:`matinale.learn`).

It reads the counts of the last ``learn.editions`` editions (the Airflow connection
``matinale_links_db``: glue resolves its URI; SQLite under ``var/`` locally) and writes
``learned.json`` to the run (``runs/<edition>/<run>/learned.json``): per segment and theme,
each angle's Thompson weight; per segment, its channels by share rate and its send hour.
With no counts every weight is uniform, the segment's own angle leads and the send hour is
the campaign's default. The same counts and edition give the same weights (seeded by the
edition). Aggregates only: no person, address or identifier is read or written.

``run_learn`` is a stage of ``matinale.night.STAGES`` (re-exported there). Nothing here
imports Airflow.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from matinale.night.run import RunContext
from matinale.segment import Segment
from matinale.settings import Settings
from matinale.store import Store

__all__ = ["LEARNED", "learned_of", "run_learn"]

log = logging.getLogger(__name__)

#: The file the stage writes in the run's prefix.
LEARNED = "learned.json"


def _seed(ctx: RunContext) -> int:
    """The edition as a number (20261207): the same night draws the same weights."""
    return int(ctx.edition.strftime("%Y%m%d"))


def run_learn(
    settings: Settings, store: Store, ctx: RunContext, links_db: str | None = None
) -> dict[str, Any]:
    """``learned.json`` of this run from the counts database (``links_db``: its SQLAlchemy
    URL; default: :func:`matinale.links.counts.database_url`)."""
    from matinale.content import load_brief
    from matinale.content.rules import _choose_angle, eligible_angles, load_rules
    from matinale.learn import learn_from_database
    from matinale.links.counts import database_url, make_engine

    raw = store.get_json(f"{ctx.prefix}/segments.json")["segments"]
    segments = [Segment.from_json(s) for s in raw]
    bands = {s.id: ("territory" if s.kind == "territory" else s.band or "") for s in segments}
    brief = load_brief(Path(ctx.brief_file), ctx.edition)
    rules = load_rules(settings.templates_dir)
    own = {s.id: _choose_angle(s, rules) for s in segments}

    def eligible(segment: str, theme: str) -> list[str]:
        # The segment's own angle first: with no counts it leads, as the rules say.
        found = eligible_angles(rules, theme, bands.get(segment) or None, None)
        first = own.get(segment)
        return [first, *(a for a in found if a != first)] if first in found else found

    engine = make_engine(links_db or database_url(settings.var_dir))
    try:
        learned = learn_from_database(
            settings,
            segments=bands,
            themes=[t.id for t in brief.themes],
            eligible=eligible,
            edition=ctx.edition.isoformat(),
            seed=_seed(ctx),
            engine=engine,
        )
    finally:
        engine.dispose()
    store.put_json(f"{ctx.prefix}/{LEARNED}", learned)
    _what_works(store, ctx, learned, raw, {t.id: t.title for t in brief.themes}, rules)
    summary = _summary(learned)
    log.info(
        "Learn: %d edition(s) of counts read (%s); %d segment × theme cells with counts, "
        "%d leading angle(s) other than the segment's own; %d cell(s) under the floor",
        len(learned["editions_read"]),
        ", ".join(learned["editions_read"]) or "none: uniform weights",
        summary["cells_with_counts"],
        summary["leads_changed"],
        summary["under_floor"],
    )
    return summary


def _what_works(
    store: Store,
    ctx: RunContext,
    learned: dict[str, Any],
    segments: list[dict[str, Any]],
    themes: dict[str, str],
    rules: Any,
) -> None:
    """ "Ce qui marche" for staff, into the bundle: the table and, once something was
    measured, its chart (:mod:`matinale.learn.report`, :mod:`matinale.learn.charts`)."""
    from matinale.learn.charts import draw_what_works
    from matinale.learn.report import CHART, TABLE, what_works

    document = what_works(
        learned,
        segments={s["id"]: s for s in segments},
        themes=themes,
        angle_labels={name: angle.label for name, angle in rules.angles.items()},
    )
    store.put_json(f"{ctx.bundle}/{TABLE}", document)
    if document["rows"] or document["bands"]:
        store.put_bytes(f"{ctx.bundle}/{CHART}", draw_what_works(document))


def _summary(learned: dict[str, Any]) -> dict[str, Any]:
    cells = changed = 0
    for entry in learned["segments"].values():
        for theme in entry["themes"].values():
            posterior = theme["posterior"]
            if any(p["exposures"] for p in posterior.values()):
                cells += 1
            if theme["leading"] != next(iter(theme["weights"]), theme["leading"]):
                changed += 1
    return {
        "editions_read": len(learned["editions_read"]),
        "segments": len(learned["segments"]),
        "cells_with_counts": cells,
        "leads_changed": changed,
        "under_floor": learned["skipped"]["under_floor"],
        "silence_days": learned["skipped"]["silence_days"],
    }


def learned_of(store: Store, ctx: RunContext) -> dict[str, Any] | None:
    """The run's ``learned.json``, or None (a run from before the stage, or a test night)."""
    key = f"{ctx.prefix}/{LEARNED}"
    return store.get_json(key) if store.exists(key) else None
