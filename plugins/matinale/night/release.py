"""The night's last stages: the pre-publish checks on the built bundle, then publishing it.

``run_checks`` and ``run_publish`` are stages of ``matinale.night.STAGES`` (re-exported
there). Both scan for personal data with the PII reference privacy wrote (keyed hashes);
publishing checks again on the exact bytes it uploads. Nothing here imports Airflow.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from matinale.night.learning import learned_of
from matinale.night.run import NightError, RunContext, pii_scanner
from matinale.settings import Settings
from matinale.store import Store

__all__ = ["publish_config", "run_checks", "run_publish"]

log = logging.getLogger(__name__)


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
    from matinale.checks import (
        ChecksFailed,
        ParsedTexts,
        Sha256s,
        check_bundle,
        checks_fingerprint,
        limits_from,
    )
    from matinale.content.quality import check_bundle_similarity
    from matinale.publish.links import service_owns

    files = read_bundle_files(store, ctx.bundle)
    manifest = store.get_json(f"{ctx.bundle}/{MANIFEST}")
    sha256 = Sha256s()  # the manifest is rebuilt below from the same objects: hash them once
    scanner = pii_scanner(settings, store, ctx)
    limits = limits_from(settings.raw)
    report = check_bundle(
        files,
        manifest,
        scanner=scanner,
        allowed_domains=settings.allowed_domains,
        limits=limits,
        own_link=service_owns(settings.link_service.public_base_url),
        sha256=sha256,
        templates_dir=settings.templates_dir,
        parsed=(parsed := ParsedTexts()),
    )
    # Issue 23: each age band hears its own posts.
    similar = check_bundle_similarity(
        files, report, max_share=settings.max_close_share, load=parsed.document
    )
    log.info(
        "Checks: %s; social posts closer than 0.7 to another band's: %.1f %% (at most %.0f %%)",
        json.dumps(report.summary()),
        100 * similar["share_other_band"],
        100 * settings.max_close_share,
    )
    try:
        report.raise_for_findings()
    except ChecksFailed as exc:
        raise NightError(str(exc)) from exc
    compliance = json.loads(files[COMPLIANCE])
    # What this pass covered, so that publishing can tell which files it need not scan again.
    checked = {path: sha256(data) for path, data in files.items() if path != COMPLIANCE}
    fingerprint = checks_fingerprint(
        checked, scanner=scanner, allowed_domains=settings.allowed_domains, limits=limits
    )
    compliance["checks"] = {"stage": "bundle", **report.summary(), "fingerprint": fingerprint}
    validate_compliance(compliance)
    files[COMPLIANCE] = write_manifest(compliance)
    store.put_bytes(f"{ctx.bundle}/{COMPLIANCE}", files[COMPLIANCE])
    store.put_bytes(
        f"{ctx.bundle}/{MANIFEST}",
        write_manifest(rebuild_manifest(manifest, files, digest_of=sha256)),
    )
    return {name: counts.get("findings", 0) for name, counts in report.counts.items()}


def publish_config(settings: Settings, actor: str = "matinale") -> Any:
    """Where and how to publish, from the settings."""
    from datetime import timedelta

    from matinale.checks import limits_from
    from matinale.publish import PublishConfig
    from matinale.publish.links import LinkService
    from matinale.publish.sending import DeliveryPlan
    from matinale.schedule import freeze_windows

    service = settings.link_service

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
        templates_dir=settings.templates_dir,
        links=LinkService(
            service.public_base_url,
            service.state_bucket,
            service.state_prefix,
            service.counts_retention_days,
        )
        if service.public_base_url
        else None,
        # Without the run's learned.json (run_publish adds it), every segment at send_time.
        delivery_plan=DeliveryPlan(
            send_time=settings.delivery.send_time,
            max_messages_per_week=settings.delivery.max_messages_per_week,
            windows=tuple(freeze_windows(settings)),
        ),
    )


def _with_learned(config: Any, learned: dict[str, Any] | None) -> Any:
    """The config with the run's learned.json in its delivery plan (its send hours)."""
    from dataclasses import replace

    if config.delivery_plan is None or learned is None:
        return config
    return replace(config, delivery_plan=replace(config.delivery_plan, learned=learned))


def run_publish(settings: Settings, store: Store, ctx: RunContext, client: Any) -> dict[str, Any]:
    """Checks on the final bytes, upload, read-back, delivery file, then the pointers."""
    from matinale.checks import ChecksFailed
    from matinale.publish import publish_bundle

    audience: Any = None
    contacts, assignments = (
        f"{ctx.prefix}/private/contacts.parquet",
        f"{ctx.prefix}/private/assignments.parquet",
    )
    memberships = f"{ctx.prefix}/private/territories.parquet"
    if store.exists(contacts) and store.exists(assignments):
        from matinale.publish.delivery_stream import Audience

        # Read in batches as the delivery file is written: memory flat in the supporters.
        audience = Audience.from_store(
            store, contacts, assignments, memberships if store.exists(memberships) else None
        )
    else:
        log.warning("No contacts/assignments in the work store: no delivery file for this run")
    try:
        result = publish_bundle(
            client,
            store,
            ctx.bundle,
            edition=ctx.edition,
            run=ctx.run,
            config=_with_learned(publish_config(settings), learned_of(store, ctx)),
            scanner=pii_scanner(settings, store, ctx),
            audience=audience,
        )
    except ChecksFailed as exc:
        raise NightError(str(exc)) from exc
    # Presigned links are bearer tokens: they stay out of logs and XCom.
    summary = {k: v for k, v in result.items() if not k.endswith("_url")}
    log.info(
        "Published s3://%s/%s (%s files, delivery %s)",
        result["bucket"],
        result["prefix"],
        result["files"],
        json.dumps((result.get("delivery") or {}).get("by_channel")),
    )
    return summary
