"""The night's stages as plain functions over the work store, and ``STAGES`` listing them.

Each function is one Airflow task's body: it reads what the previous stage left in the
work store, writes its own files under the run's prefix, and returns a small summary for
XCom. Nothing here imports Airflow, so every stage runs and is tested as a function.
Every stage writes only under ``runs/<edition>/<run>/``: a retry overwrites its own files
and never touches a promoted edition.

``STAGES`` lists them in night order, each with its task id: the DAG builds one task per
stage from it (``matinale.airflow.glue.run_stage`` calls ``call_stage``), the status record
orders its tasks by ``TASKS``, and the bench can measure each stage alone. The run's
identity and files are in ``matinale.night.run``; the card stages in ``matinale.night.cards``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from matinale.night.cards import run_contact_sheet, run_visuals
from matinale.night.learning import run_learn
from matinale.night.posts import plan_batches, run_content
from matinale.night.release import publish_config, run_checks, run_publish
from matinale.night.run import (
    NightError,
    RunContext,
    brief_path,
    compliance_summary,
    input_checksums,
    make_store,
    newest_supporter_file,
    pii_scanner,
    reserve_short_links,
    segments_of,
)
from matinale.settings import Settings
from matinale.store import Store

__all__ = [
    "APPROVAL",
    "BUNDLE",
    "CHECKS",
    "CONTACT_SHEET",
    "CONTENT",
    "GATE",
    "INGEST",
    "LEARN",
    "PLAN",
    "PREPARE",
    "PRIVACY",
    "PUBLISH",
    "RECORD",
    "SEGMENT",
    "STAGES",
    "TASKS",
    "VISUALS",
    "WAIT_FOR_BRIEF",
    "NightError",
    "RunContext",
    "Stage",
    "call_stage",
    "make_store",
    "plan_batches",
    "publish_config",
    "run_bundle",
    "run_checks",
    "run_contact_sheet",
    "run_content",
    "run_ingest",
    "run_learn",
    "run_prepare",
    "run_privacy",
    "run_publish",
    "run_segment",
    "run_visuals",
    "stage",
]

log = logging.getLogger(__name__)

# tests/unit/test_publish.py imports the scanner's builder from here by its old name.
_pii_scanner = pii_scanner


def run_prepare(
    settings: Settings, store: Store, *, edition: date, run: str, client: Any = None
) -> dict[str, Any]:
    """Check the night's inputs as ``matinale check`` does, then record their checksums.

    With a link service (``links.public_base_url``) and an S3 ``client``, reserve the run's
    short-code stem in the link state and write ``links.json`` (:mod:`matinale.links.short`).

    Every area of :func:`matinale.preflight.check_all` runs (under a second once imported),
    but for reading the whole supporter export: ingest reads it next and reports its rows.
    An error stops the night here (non-retryable: ``Readiness.failure``), every finding
    named as the check names it; warnings are logged.
    """
    from matinale.preflight import check_all

    readiness = check_all(settings, edition, read_supporters=False)
    for warning in readiness.warnings():
        log.warning("Pre-flight: %s", warning)
    failure = readiness.failure()
    if failure is not None:
        raise failure
    supporters = newest_supporter_file(settings.inbox)
    brief = brief_path(settings.inbox, edition)
    ctx = RunContext(
        edition=edition, run=run, supporters_file=str(supporters), brief_file=str(brief)
    )
    store.put_json(f"{ctx.prefix}/inputs.json", input_checksums(settings, ctx))
    if client is not None and settings.link_service.public_base_url:
        reserve_short_links(settings, store, ctx, client)
    log.info(
        "Edition %s, run %s: supporters %s, brief %s", edition, run, supporters.name, brief.name
    )
    return ctx.to_xcom()


# Columns with a value per person: written without a Parquet dictionary (see put_frame).
_UNIQUE_COLUMNS = ("supporter_id", "email")


def run_ingest(settings: Settings, store: Store, ctx: RunContext) -> dict[str, Any]:
    """Read, check, suppress and deduplicate the supporters; stop the night on a broken file.

    Writes ``private/valid.parquet``, ``private/quarantine.csv`` (masked, formula-safe) and
    ``ingest.json`` (the accounting: counts only) under the run's prefix. A file-level error
    or more than ``privacy.max_quarantine_share`` of rows quarantined raises ``NightError``
    after the report is written, so nothing is published and the data team can see why.
    """
    from matinale.ingest import IngestError, ingest_supporters
    from matinale.privacy import SuppressionError, load_suppression

    try:
        suppression = load_suppression(settings.inbox / "suppression")
        result = ingest_supporters(
            Path(ctx.supporters_file), reference_date=ctx.edition, suppression=suppression
        )
    except (IngestError, SuppressionError) as exc:
        store.put_json(f"{ctx.prefix}/ingest.json", {"error": str(exc)})
        raise NightError(
            f"Supporter file rejected, the night stops before publishing: {exc}"
        ) from exc
    stop = result.stop_reason(settings.max_quarantine_share)
    summary = {
        **result.summary(),
        "max_quarantine_share": settings.max_quarantine_share,
        "error": stop,
    }
    store.put_bytes(f"{ctx.prefix}/private/quarantine.csv", result.quarantine_csv())
    store.put_json(f"{ctx.prefix}/ingest.json", summary)
    counts = {**result.counts, "repaired": result.repaired}
    log.info("Ingest of %s: %s", Path(ctx.supporters_file).name, json.dumps(counts))
    if result.reasons:
        log.info(
            "Quarantine reasons (report in %s/private/quarantine.csv): %s",
            ctx.prefix,
            json.dumps(result.reasons),
        )
    if stop:
        raise NightError(stop)
    store.put_frame(f"{ctx.prefix}/private/valid.parquet", result.valid, plain=_UNIQUE_COLUMNS)
    return counts


def run_privacy(settings: Settings, store: Store, ctx: RunContext) -> dict[str, Any]:
    from matinale.privacy import SPLIT_COLUMNS, compliance_counts, split_for_segmentation

    valid = store.get_frame(f"{ctx.prefix}/private/valid.parquet", columns=SPLIT_COLUMNS)
    split = split_for_segmentation(valid)
    store.put_frame(f"{ctx.prefix}/private/features.parquet", split.features, plain=_UNIQUE_COLUMNS)
    store.put_frame(f"{ctx.prefix}/private/contacts.parquet", split.contacts, plain=_UNIQUE_COLUMNS)
    pii_scanner(settings, store, ctx, build_from=(valid, split.contacts))  # hashed once a night
    compliance = {
        "minors_excluded": split.minors,
        "adults": len(split.features),
        **compliance_counts(valid),
    }
    store.put_json(f"{ctx.prefix}/compliance.json", compliance)
    log.info(
        "Privacy: %d adults kept for segmentation, %d minors left out",
        len(split.features),
        split.minors,
    )
    return {"adults": len(split.features), "minors_excluded": split.minors}


def run_segment(settings: Settings, store: Store, ctx: RunContext) -> dict[str, Any]:
    """Segment tonight's adults; keep ids stable through the state stored outside the run prefix.

    Writes (run prefix): ``segments.json`` (public list + staff report), ``segments_report.md``,
    ``private/assignments.parquet`` and ``private/territories.parquet``; then, last, the
    identity state at ``segment.STATE_KEY`` so that a failed night never moves it.
    """
    from matinale.segment import (
        STATE_KEY,
        assignment_drift,
        load_definitions,
        render_report,
        segment_supporters,
    )
    from matinale.store import StoreError

    definitions = load_definitions(settings.segments_dir)
    features = store.get_frame(f"{ctx.prefix}/private/features.parquet")
    state = store.get_json(STATE_KEY) if store.exists(STATE_KEY) else None
    compliance_key = f"{ctx.prefix}/compliance.json"
    minors = (
        int(store.get_json(compliance_key).get("minors_excluded", 0))
        if store.exists(compliance_key)
        else 0
    )
    from matinale.territories import night as territories_night

    places = territories_night.prepare(
        features,
        settings.segments_dir,
        definitions.profiles.territories,
        settings.min_segment_size,
        [p.id for p in definitions.territories],
    )
    result = segment_supporters(
        features,
        definitions.bands,
        definitions.profiles,
        territories=[*definitions.territories, *places.packs],
        state=state,
        edition=ctx.edition,
        run=ctx.run,
        min_segment_size=settings.min_segment_size,
        minors_excluded=minors,
    )
    assignments_key = f"{ctx.prefix}/private/assignments.parquet"
    drift = result.report["drift"]
    previous_key = drift.get("base_assignments")
    if previous_key:
        try:
            drift.update(assignment_drift(store.get_frame(previous_key), result.assignments))
        except StoreError:
            drift["note"] = (
                "affectations de la veille introuvables (purgées ?) : part des personnes déplacées non calculée"
            )
    store.put_frame(assignments_key, result.assignments)
    store.put_frame(f"{ctx.prefix}/private/territories.parquet", result.memberships)
    store.put_json(
        f"{ctx.prefix}/segments.json",
        {"segments": [s.to_json() for s in result.segments], "report": result.report},
    )
    store.put_bytes(
        f"{ctx.prefix}/segments_report.md",
        render_report(
            result.segments, result.report, interests=definitions.profiles.interests
        ).encode("utf-8"),
    )
    shown = territories_night.publish(
        store, ctx.bundle, places, title="Territoires prioritaires de la nuit"
    )
    if result.state is not None:
        result.state["current"]["assignments"] = assignments_key
        store.put_json(STATE_KEY, result.state)
    main = [s for s in result.segments if s.kind == "main"]
    log.info(
        "Segments: %d main, %d territorial, k=%d (%s)",
        len(main),
        len(result.segments) - len(main),
        result.report["model"]["k"],
        ", ".join(f"{s.id}≈{s.size}" for s in result.segments),
    )
    summary: dict[str, Any] = {
        "segments": len(result.segments),
        "main": len(main),
        "territorial": len(result.segments) - len(main),
        "adults": result.report["segmented"],
        "minors_excluded": result.report["minors_excluded"],
        "k": result.report["model"]["k"],
    }
    summary["territories"] = shown
    if "moved_share" in drift:
        summary["moved_share"] = drift["moved_share"]
    return summary


def run_bundle(
    settings: Settings, store: Store, ctx: RunContext, only: list[str] | None = None
) -> dict[str, Any]:
    """Previews, packs, pages (relative links), compliance.json and the manifest.

    ``only`` (the Param ``segments``) limits the bundle to the segments a partial run made.
    """
    from matinale.bundle import build_bundle
    from matinale.content import load_brief

    brief = load_brief(Path(ctx.brief_file), ctx.edition)
    summary = build_bundle(
        store,
        ctx.bundle,
        edition=ctx.edition,
        run=ctx.run,
        segments=[s for s in segments_of(store, ctx) if not only or s.id in only],
        brief=brief,
        campaign=settings.campaign,
        inputs=store.get_json(f"{ctx.prefix}/inputs.json"),
        compliance=compliance_summary(store, ctx),
        zone=settings.clocks.campaign_tz,
        templates_dir=settings.templates_dir,
        # With a link service, it builds each pack on request: the cards are stored once.
        packs="served" if settings.link_service.public_base_url else "stored",
    )
    log.info(
        "Bundle: %d files, %.1f MB, heaviest page %.0f KB",
        summary["files"],
        summary["bytes"] / 1e6,
        summary["page_bytes_max"] / 1e3,
    )
    return summary


# -- the night, in order -------------------------------------------------------------------------

# Task ids of the nightly DAG, defined once: a stage's task id is its name.
WAIT_FOR_BRIEF = "wait_for_brief"
PREPARE = "prepare"
INGEST = "ingest"
PRIVACY = "privacy"
SEGMENT = "segment"
LEARN = "learn"
PLAN = "plan"
CONTENT = "content"
VISUALS = "visuals"
CONTACT_SHEET = "contact_sheet"
BUNDLE = "bundle"
CHECKS = "checks"
GATE = "gate"
APPROVAL = "approval"
PUBLISH = "publish"
RECORD = "record"


@dataclass(frozen=True)
class Stage:
    """One stage of the night: its task id, its plain function, and what the function takes.

    ``takes`` names the function's arguments after ``settings`` and ``store``, passed by
    name: ``ctx`` (the run's ``RunContext``), ``edition`` and ``run`` (who a new run is),
    ``batch`` (the segments of one mapped task), ``only`` (the Param ``segments``),
    ``skip_visuals`` (the Param), ``client`` (an S3 client, to publish) and ``links_db``
    (the SQLAlchemy URL of the Airflow connection ``matinale_links_db``, or None: the
    environment's, else SQLite under ``var/``).
    """

    name: str
    function: Callable[..., dict[str, Any]]
    takes: tuple[str, ...] = ("ctx",)
    # False: a NightError fails the task at once, without retries (a broken file stays broken).
    retry: bool = True

    @property
    def mapped(self) -> bool:
        """Mapped over batches of segments: one task instance per batch."""
        return "batch" in self.takes


STAGES: tuple[Stage, ...] = (
    Stage(PREPARE, run_prepare, takes=("edition", "run", "client")),
    Stage(INGEST, run_ingest, retry=False),
    Stage(PRIVACY, run_privacy),
    Stage(SEGMENT, run_segment),
    Stage(LEARN, run_learn, takes=("ctx", "links_db")),
    Stage(CONTENT, run_content, takes=("ctx", "batch")),
    Stage(VISUALS, run_visuals, takes=("ctx", "batch", "skip_visuals")),
    Stage(CONTACT_SHEET, run_contact_sheet),
    Stage(BUNDLE, run_bundle, takes=("ctx", "only")),
    Stage(CHECKS, run_checks),
    Stage(PUBLISH, run_publish, takes=("ctx", "client")),
)

#: Every task of the nightly DAG in night order: the stages and the tasks that steer them
#: (the brief sensor, the batch plan, the publication gate, staff approval, the status record).
TASKS: tuple[str, ...] = (
    WAIT_FOR_BRIEF,
    PREPARE,
    INGEST,
    PRIVACY,
    SEGMENT,
    LEARN,
    PLAN,
    CONTENT,
    VISUALS,
    CONTACT_SHEET,
    BUNDLE,
    CHECKS,
    GATE,
    APPROVAL,
    PUBLISH,
    RECORD,
)

_BY_NAME = {s.name: s for s in STAGES}


def stage(name: str) -> Stage:
    """The stage whose task id is ``name``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a stage of the night ({', '.join(_BY_NAME)})") from None


def call_stage(which: Stage, settings: Settings, store: Store, **inputs: Any) -> dict[str, Any]:
    """Run a stage with the inputs it takes (``Stage.takes``), picked by name from ``inputs``."""
    missing = [name for name in which.takes if name not in inputs]
    if missing:
        raise TypeError(f"stage {which.name} needs {', '.join(missing)}")
    return which.function(settings, store, **{name: inputs[name] for name in which.takes})
