"""The night's stages as plain functions over the work store.

Each function is one Airflow task's body: it reads what the previous stage left in the
work store, writes its own files under the run's prefix, and returns a small summary for
XCom. Nothing here imports Airflow, so every stage runs and is tested as a function.
Every stage writes only under ``runs/<edition>/<run>/``: a retry overwrites its own files
and never touches a promoted edition.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import subprocess
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from matinale.settings import Settings
from matinale.store import LocalStore, S3Store, Store

__all__ = [
    "NightError",
    "RunContext",
    "make_store",
    "plan_batches",
    "publish_config",
    "run_bundle",
    "run_checks",
    "run_contact_sheet",
    "run_content",
    "run_ingest",
    "run_prepare",
    "run_privacy",
    "run_publish",
    "run_segment",
    "run_visuals",
]

log = logging.getLogger(__name__)


class NightError(RuntimeError):
    """The night must stop before publishing; the message says why and what to do."""


@dataclass(frozen=True)
class RunContext:
    """Who this run is: passed between tasks through XCom as a small dict."""

    edition: date
    run: str
    supporters_file: str
    brief_file: str

    @property
    def prefix(self) -> str:
        return f"runs/{self.edition.isoformat()}/{self.run}"

    @property
    def bundle(self) -> str:
        return f"{self.prefix}/bundle"

    def to_xcom(self) -> dict[str, str]:
        return {"edition": self.edition.isoformat(), "run": self.run, "supporters_file": self.supporters_file, "brief_file": self.brief_file}

    @classmethod
    def from_xcom(cls, value: dict[str, str]) -> RunContext:
        return cls(
            edition=date.fromisoformat(value["edition"]),
            run=value["run"],
            supporters_file=value["supporters_file"],
            brief_file=value["brief_file"],
        )


def make_store(settings: Settings, client: Any = None) -> Store:
    """The configured work store: a local folder, or the private bucket's ``work/`` prefix."""
    if settings.work_store == "s3":
        if client is None:
            raise NightError("MATINALE_WORK_STORE=s3 needs an S3 client (the aws_default connection)")
        return S3Store(client, settings.private_bucket, "work")
    return LocalStore(settings.work_dir)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _code_version(home: Path) -> str:
    """The code's version: ``MATINALE_CODE_VERSION`` (set by the image build), else git's commit."""
    given = os.environ.get("MATINALE_CODE_VERSION", "").strip()
    if given:
        return given
    try:
        out = subprocess.run(["git", "-C", str(home), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _input_checksums(settings: Settings, ctx: RunContext) -> dict[str, str]:
    files = [Path(ctx.supporters_file), Path(ctx.brief_file), settings.campaign_file]
    for folder in (settings.segments_dir, settings.templates_dir):
        files.extend(p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in {".yaml", ".j2", ".yml"})
    checksums = {}
    for path in files:
        try:
            name = path.relative_to(settings.home).as_posix()
        except ValueError:
            name = f"inbox/{path.parent.name}/{path.name}"
        if path == settings.campaign_file:
            name = "campaign.yaml"  # by its role: MATINALE_CAMPAIGN_FILE may name any path
        checksums[name] = _sha256_file(path)
    checksums["code_version"] = _code_version(settings.home)
    return checksums


def newest_supporter_file(inbox: Path) -> Path:
    folder = inbox / "supporters"
    candidates = [p for p in folder.glob("*") if p.suffix.lower() in {".csv", ".parquet"} and p.is_file()]
    if not candidates:
        raise NightError(f"{folder}: no supporter file (*.csv or *.parquet); drop the CRM export there")
    return max(candidates, key=lambda p: (p.stat().st_mtime, p.name))


def brief_path(inbox: Path, edition: date) -> Path:
    return inbox / "briefs" / f"{edition.isoformat()}.yaml"


def run_prepare(settings: Settings, store: Store, *, edition: date, run: str) -> dict[str, Any]:
    """Find the night's inputs and record their checksums: the run's identity card."""
    from matinale.content import load_brief

    supporters = newest_supporter_file(settings.inbox)
    brief = brief_path(settings.inbox, edition)
    load_brief(brief, edition, allowed_domains=settings.allowed_domains)  # fail early, with the field named
    ctx = RunContext(edition=edition, run=run, supporters_file=str(supporters), brief_file=str(brief))
    store.put_json(f"{ctx.prefix}/inputs.json", _input_checksums(settings, ctx))
    log.info("Edition %s, run %s: supporters %s, brief %s", edition, run, supporters.name, brief.name)
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
        result = ingest_supporters(Path(ctx.supporters_file), reference_date=ctx.edition, suppression=suppression)
    except (IngestError, SuppressionError) as exc:
        store.put_json(f"{ctx.prefix}/ingest.json", {"error": str(exc)})
        raise NightError(f"Supporter file rejected, the night stops before publishing: {exc}") from exc
    stop = result.stop_reason(settings.max_quarantine_share)
    summary = {**result.summary(), "max_quarantine_share": settings.max_quarantine_share, "error": stop}
    store.put_bytes(f"{ctx.prefix}/private/quarantine.csv", result.quarantine_csv())
    store.put_json(f"{ctx.prefix}/ingest.json", summary)
    counts = {**result.counts, "repaired": result.repaired}
    log.info("Ingest of %s: %s", Path(ctx.supporters_file).name, json.dumps(counts))
    if result.reasons:
        log.info("Quarantine reasons (report in %s/private/quarantine.csv): %s", ctx.prefix, json.dumps(result.reasons))
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
    compliance = {"minors_excluded": split.minors, "adults": len(split.features), **compliance_counts(valid)}
    store.put_json(f"{ctx.prefix}/compliance.json", compliance)
    log.info("Privacy: %d adults kept for segmentation, %d minors left out", len(split.features), split.minors)
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
    minors = int(store.get_json(compliance_key).get("minors_excluded", 0)) if store.exists(compliance_key) else 0
    result = segment_supporters(
        features,
        definitions.bands,
        definitions.profiles,
        territories=definitions.territories,
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
            drift["note"] = "affectations de la veille introuvables (purgées ?) : part des personnes déplacées non calculée"
    store.put_frame(assignments_key, result.assignments)
    store.put_frame(f"{ctx.prefix}/private/territories.parquet", result.memberships)
    store.put_json(f"{ctx.prefix}/segments.json", {"segments": result.segments, "report": result.report})
    store.put_bytes(
        f"{ctx.prefix}/segments_report.md",
        render_report(result.segments, result.report, interests=definitions.profiles.interests).encode("utf-8"),
    )
    if result.state is not None:
        result.state["current"]["assignments"] = assignments_key
        store.put_json(STATE_KEY, result.state)
    main = [s for s in result.segments if s["kind"] == "main"]
    log.info(
        "Segments: %d main, %d territorial, k=%d (%s)",
        len(main),
        len(result.segments) - len(main),
        result.report["model"]["k"],
        ", ".join(f"{s['id']}≈{s['size']}" for s in result.segments),
    )
    summary: dict[str, Any] = {
        "segments": len(result.segments),
        "main": len(main),
        "territorial": len(result.segments) - len(main),
        "adults": result.report["segmented"],
        "minors_excluded": result.report["minors_excluded"],
        "k": result.report["model"]["k"],
    }
    if "moved_share" in drift:
        summary["moved_share"] = drift["moved_share"]
    return summary


def _segments(store: Store, ctx: RunContext) -> list[dict[str, Any]]:
    return store.get_json(f"{ctx.prefix}/segments.json")["segments"]


def plan_batches(store: Store, ctx: RunContext, *, per_core: int = 2, cores: int = 2, only: list[str] | None = None) -> list[list[str]]:
    """Split the segments into a few batches per core for dynamic task mapping."""
    ids = [s["id"] for s in _segments(store, ctx) if not only or s["id"] in only]
    if not ids:
        return []
    count = min(len(ids), max(1, per_core * cores))
    size = math.ceil(len(ids) / count)
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def run_content(settings: Settings, store: Store, ctx: RunContext, batch: list[str]) -> dict[str, Any]:
    """Posts of each segment of ``batch``: ``<segment>/posts.json`` and ``posts.md`` in the bundle."""
    from matinale.bundle import french_date
    from matinale.content import PostWriter, load_brief, write_segments

    brief = load_brief(Path(ctx.brief_file), ctx.edition, allowed_domains=settings.allowed_domains)
    writer = PostWriter.from_settings(brief, settings)
    by_id = {s["id"]: s for s in _segments(store, ctx)}
    missing = [s for s in batch if s not in by_id]
    if missing:
        raise NightError(f"segments {missing} are not in segments.json of this run; rerun the segment stage")
    posts = shortened = rejected = fewer = 0
    similarities: list[float] = []
    # Segments render in this process and a pool of others (one per core; MATINALE_CONTENT_WORKERS);
    # a thread stores the files meanwhile, so rendering never waits for the disk or S3.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="matinale-content-store") as storing:
        stored: deque[Future[None]] = deque()
        for files in write_segments(writer, [by_id[s] for s in batch], date_text=french_date(brief.edition)):
            stored.append(storing.submit(store.put_bytes, f"{ctx.bundle}/{files.segment}/posts.json", files.posts_json))
            stored.append(storing.submit(store.put_bytes, f"{ctx.bundle}/{files.segment}/posts.md", files.posts_md))
            while stored and stored[0].done():
                stored.popleft().result()  # a failed write fails the task now
            posts += files.posts
            shortened += files.shortened
            for variants, rejected_here, most in files.similarity:
                rejected += rejected_here
                fewer += variants < settings.variants
                similarities.append(most)
        for future in stored:
            future.result()
    summary = {
        "segments": len(batch),
        "posts": posts,
        "shortened": shortened,
        "variants_rejected_as_similar": rejected,
        "fewer_variants_than_asked": fewer,
        "max_similarity": max(similarities, default=0.0),
    }
    log.info("Content: %s", json.dumps(summary))
    if fewer:
        log.warning(
            "Content: %d theme × channel pairs got fewer than %d variants (too similar to publish apart); "
            "posts.md shows which; add openers or call-to-action intros in content_templates/framing.yaml",
            fewer,
            settings.variants,
        )
    return summary


def _card_fields(settings: Settings, segment: dict[str, Any], theme: Any, brief: Any, edition: date) -> dict[str, str]:
    """What a card says: the theme for everyone, one line for the segment, the legal mention."""
    from matinale.content import tracked_link

    if segment.get("kind") == "territory":
        # The place a territorial pack is for, named as the posts name it.
        territory = segment.get("territory") or {}
        line = str(territory.get("name") or territory.get("label") or segment.get("label") or "")
    else:
        # The staff's line for this segment, else for its age band (the brief's framing).
        line = next((brief.framing[k] for k in (segment["id"], segment.get("band")) if k and k in brief.framing), "")
    return {
        "tagline": line,
        "headline": theme.title,
        "body": theme.key_message,
        "cta": theme.call_to_action,
        "link": tracked_link(theme.link, channel="card", edition=edition, content=segment["id"], allowed_domains=settings.allowed_domains),
        "footer": settings.campaign.legal_mention,
    }


def run_visuals(settings: Settings, store: Store, ctx: RunContext, batch: list[str]) -> dict[str, Any]:
    """Cards of a batch of segments: one per theme × format, their alt texts, a contact strip.

    Writes ``<segment>/cards/<theme>-<format>.jpg``, each theme's page preview
    (``<segment>/previews/``) and ``<segment>/cards.json`` into the run's bundle, and each
    segment's thumbnails into the work store for the contact sheet.
    """
    from matinale.content import load_brief
    from matinale.visuals import (
        CardJob,
        alt_text,
        card_filename,
        contact_strip,
        load_kit,
        render_cards,
        worker_count,
    )

    brief = load_brief(Path(ctx.brief_file), ctx.edition)
    kit = load_kit(settings.templates_dir)  # a brand kit failing its checks stops here
    by_id = {s["id"]: s for s in _segments(store, ctx)}
    unknown = [s for s in batch if s not in by_id]
    if unknown:
        raise NightError(f"segments {unknown} are not in this run's segments.json: rerun the segment stage or fix the 'segments' param")
    jobs = [
        CardJob(segment=segment_id, theme=theme.id, fields=_card_fields(settings, by_id[segment_id], theme, brief, ctx.edition))
        for segment_id in batch
        for theme in brief.themes
    ]
    fields = {(job.segment, job.theme): job.fields for job in jobs}
    entries: dict[str, list[dict[str, Any]]] = {segment_id: [] for segment_id in batch}
    thumbnails: dict[str, list[Any]] = {segment_id: [] for segment_id in batch}
    started = time.perf_counter()
    # Files are written as cards arrive: the parent's uploads overlap the workers' drawing.
    for card in render_cards(jobs, templates_dir=settings.templates_dir):
        name = card_filename(card.theme, card.format, kit)
        store.put_bytes(f"{ctx.bundle}/{card.segment}/{name}", card.data)
        if card.preview is not None:  # the theme's inline preview on the page (bundle uses it)
            store.put_bytes(f"{ctx.bundle}/{card.segment}/previews/{name.rsplit('/', 1)[-1]}", card.preview)
        card_fields = fields[(card.segment, card.theme)]
        entries[card.segment].append(
            {
                "file": name,
                "theme": card.theme,
                "format": card.format,
                "alt": alt_text(card_fields, format=card.format, campaign=settings.campaign.name),
                "link": card_fields["link"],
                "width": card.width,
                "height": card.height,
                "content_type": kit.content_type,
            }
        )
        thumbnails[card.segment].append(card)
    elapsed = time.perf_counter() - started
    for segment_id in batch:
        store.put_json(f"{ctx.bundle}/{segment_id}/cards.json", {"segment": segment_id, "cards": entries[segment_id]})
        store.put_bytes(f"{ctx.prefix}/visuals/{segment_id}.png", contact_strip(thumbnails[segment_id]))
    total = sum(len(cards) for cards in entries.values())
    log.info(
        "Visuals: %d cards for %d segments in %.1f s (%.0f cards/s, %d processes)",
        total, len(batch), elapsed, total / elapsed if elapsed else 0, worker_count(total),
    )
    return {"segments": len(batch), "cards": total}


def run_contact_sheet(settings: Settings, store: Store, ctx: RunContext) -> dict[str, Any]:
    """Staff's contact sheet: every card of the night, small, one row per segment.

    Written as ``contact-sheet.jpg`` in the run's bundle (``contact-sheet-2.jpg``… when a
    long night needs more pages).
    """
    from matinale.bundle import french_date
    from matinale.visuals import contact_sheets

    segments = _segments(store, ctx)
    rows = []
    for segment in segments:
        key = f"{ctx.prefix}/visuals/{segment['id']}.png"
        if store.exists(key):  # a rerun of a few segments draws only those
            rows.append((f"{segment.get('label', segment['id'])}\n{segment['id']}", store.get_bytes(key)))
    if not rows:  # visuals skipped for this run: nothing to show, and nothing wrong
        log.info("Contact sheet: no card was drawn in this run, no sheet written")
        return {"segments": 0, "pages": 0, "files": []}
    title = f"Planche contact — {french_date(ctx.edition)} — {len(rows)} segments"
    pages = contact_sheets(rows, title=title, templates_dir=settings.templates_dir)
    names = ["contact-sheet.jpg", *(f"contact-sheet-{number}.jpg" for number in range(2, len(pages) + 1))]
    for name, data in zip(names, pages, strict=True):
        store.put_bytes(f"{ctx.bundle}/{name}", data)
    log.info("Contact sheet: %d segments on %d page(s)", len(rows), len(pages))
    return {"segments": len(rows), "pages": len(pages), "files": names}


#: Private supporter data the PII scanner is built from (hashed, never copied).
_PII_SOURCES = ("private/valid.parquet", "private/contacts.parquet")


def _counts_only(value: Any) -> Any:
    """Numbers and maps of numbers: what may enter compliance.json (never a person)."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        kept = {str(k): _counts_only(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None}
    return None


def _compliance_counts(store: Store, ctx: RunContext) -> dict[str, Any]:
    """Counts from ingest, privacy and segmentation for compliance.json."""
    counts: dict[str, Any] = {}
    if store.exists(f"{ctx.prefix}/compliance.json"):
        counts.update(_counts_only(store.get_json(f"{ctx.prefix}/compliance.json")) or {})
    if store.exists(f"{ctx.prefix}/ingest.json"):
        counts["ingest"] = _counts_only(store.get_json(f"{ctx.prefix}/ingest.json")) or {}
    if store.exists(f"{ctx.prefix}/segments.json"):
        segments = store.get_json(f"{ctx.prefix}/segments.json")
        counts["segments"] = {"count": len(segments.get("segments", [])), **(_counts_only(segments.get("report") or {}) or {})}
    return counts


def run_bundle(settings: Settings, store: Store, ctx: RunContext, only: list[str] | None = None) -> dict[str, Any]:
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
        segments=[s for s in _segments(store, ctx) if not only or s["id"] in only],
        brief=brief,
        campaign=settings.campaign,
        inputs=store.get_json(f"{ctx.prefix}/inputs.json"),
        compliance=_compliance_counts(store, ctx),
        zone=settings.clocks.campaign_tz,
    )
    log.info("Bundle: %d files, %.1f MB, heaviest page %.0f KB", summary["files"], summary["bytes"] / 1e6, summary["page_bytes_max"] / 1e3)
    return summary


def _pii_scanner(settings: Settings, store: Store, ctx: RunContext) -> Any:
    from matinale.checks import PiiScanner

    keys = [f"{ctx.prefix}/{name}" for name in _PII_SOURCES]
    if not any(store.exists(key) for key in keys):
        raise NightError(f"cannot scan for personal data: none of {', '.join(keys)} is in the work store; rerun ingest and privacy")
    return PiiScanner.from_store(store, keys, settings.pii_allowlist)


def run_checks(settings: Settings, store: Store, ctx: RunContext) -> dict[str, Any]:
    """Pre-publish checks on the built bundle (PII, links, sizes, manifest); records the
    result in compliance.json, with the fingerprint of the files and settings checked.
    Publishing checks again on the exact bytes it uploads (scanning again only the files
    that changed since this pass: see ``publish.publish_bundle``)."""
    from matinale.bundle import (
        COMPLIANCE,
        MANIFEST,
        read_bundle_files,
        rebuild_manifest,
        validate_compliance,
        write_manifest,
    )
    from matinale.checks import ChecksFailed, Sha256s, check_bundle, checks_fingerprint, limits_from

    files = read_bundle_files(store, ctx.bundle)
    manifest = store.get_json(f"{ctx.bundle}/{MANIFEST}")
    sha256 = Sha256s()  # the manifest is rebuilt below from the same objects: hash them once
    scanner = _pii_scanner(settings, store, ctx)
    limits = limits_from(settings.raw)
    report = check_bundle(files, manifest, scanner=scanner, allowed_domains=settings.allowed_domains, limits=limits, sha256=sha256)
    log.info("Checks: %s", json.dumps(report.summary()))
    try:
        report.raise_for_findings()
    except ChecksFailed as exc:
        raise NightError(str(exc)) from exc
    compliance = json.loads(files[COMPLIANCE])
    # What this pass covered, so that publishing can tell which files it need not scan again.
    checked = {path: sha256(data) for path, data in files.items() if path != COMPLIANCE}
    fingerprint = checks_fingerprint(checked, scanner=scanner, allowed_domains=settings.allowed_domains, limits=limits)
    compliance["checks"] = {"stage": "bundle", **report.summary(), "fingerprint": fingerprint}
    validate_compliance(compliance)
    files[COMPLIANCE] = write_manifest(compliance)
    store.put_bytes(f"{ctx.bundle}/{COMPLIANCE}", files[COMPLIANCE])
    store.put_bytes(f"{ctx.bundle}/{MANIFEST}", write_manifest(rebuild_manifest(manifest, files, digest_of=sha256)))
    return {name: counts.get("findings", 0) for name, counts in report.counts.items()}


def publish_config(settings: Settings, actor: str = "matinale") -> Any:
    """Where and how to publish, from the settings."""
    from datetime import timedelta

    from matinale.checks import limits_from
    from matinale.publish import PublishConfig

    return PublishConfig(
        bucket=settings.bundle_bucket,
        private_bucket=settings.private_bucket,
        campaign=settings.campaign,
        expiry=timedelta(hours=settings.presign_expiry_hours),
        allowed_domains=settings.allowed_domains,
        limits=limits_from(settings.raw),
        zone=settings.clocks.campaign_tz,
        actor=actor,
        public_url=settings.public_s3_url,
    )


def run_publish(settings: Settings, store: Store, ctx: RunContext, client: Any) -> dict[str, Any]:
    """Checks on the final bytes, upload, read-back, delivery file, then the pointers."""
    from matinale.checks import ChecksFailed
    from matinale.publish import publish_bundle

    audience = None
    contacts, assignments = f"{ctx.prefix}/private/contacts.parquet", f"{ctx.prefix}/private/assignments.parquet"
    if store.exists(contacts) and store.exists(assignments):
        audience = (store.get_frame(contacts), store.get_frame(assignments))
    else:
        log.warning("No contacts/assignments in the work store: no delivery file for this run")
    try:
        result = publish_bundle(
            client, store, ctx.bundle, edition=ctx.edition, run=ctx.run, config=publish_config(settings), scanner=_pii_scanner(settings, store, ctx), audience=audience
        )
    except ChecksFailed as exc:
        raise NightError(str(exc)) from exc
    # Presigned links are bearer tokens: they stay out of logs and XCom.
    summary = {k: v for k, v in result.items() if not k.endswith("_url")}
    log.info("Published s3://%s/%s (%s files, delivery %s)", result["bucket"], result["prefix"], result["files"], json.dumps((result.get("delivery") or {}).get("by_channel")))
    return summary
