"""The publish stage: check a built bundle again, upload it, then move the pointers.

Readers only ever follow ``latest.json`` → ``editions/<date>/current.json`` → a run prefix,
so nobody sees half a bundle: until the pointers move, the previous run is served.
``publish_bundle`` says step by step what is checked again and why that is enough.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from matinale.bundle import (
    COMPLIANCE,
    MANIFEST,
    PARIS,
    content_type,
    read_bundle_files,
    rebuild_manifest,
    render_pages,
    validate_compliance,
    write_manifest,
)
from matinale.checks import (
    DEFAULT_LIMITS,
    CheckReport,
    PiiScanner,
    Sha256s,
    check_bundle,
    check_manifest,
    checks_fingerprint,
)
from matinale.links.codes import OVERVIEW
from matinale.publish.delivery import DELIVERY, delivery_key
from matinale.publish.delivery_stream import Audience, deliver_in_background
from matinale.publish.links import LinkService, ServiceLinks, run_table
from matinale.publish.moves import PointerMoveError
from matinale.publish.pointers import _was_promoted, current_key, edition_prefix, promote
from matinale.publish.presign import Presigner
from matinale.publish.s3 import (
    PublishError,
    _s3_failure,
    check_access,
    delete_keys,
    list_keys,
    read_pointer,
)
from matinale.publish.sending import DeliveryPlan
from matinale.publish.upload import RunUpload
from matinale.s3types import S3Client
from matinale.store import Store

if TYPE_CHECKING:
    from concurrent.futures import Future

    import pandas as pd

    from matinale.settings import Campaign

__all__ = ["PublishConfig", "publish_bundle"]

log = logging.getLogger(__name__)


def _now() -> datetime:
    """The publication's instant (a test freezes it here)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class PublishConfig:
    """Where and how to publish; built from Settings by ``matinale.night``."""

    bucket: str
    campaign: Campaign
    private_bucket: str | None = None
    expiry: timedelta = timedelta(hours=48)
    allowed_domains: tuple[str, ...] = ()
    limits: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    zone: ZoneInfo = PARIS
    actor: str = "matinale"
    #: Where phones reach the bundle bucket, if not at the client's endpoint (MATINALE_S3_PUBLIC_URL).
    public_url: str | None = None
    #: content_templates/ (channels.yaml: the page's channels and share links).
    templates_dir: Path | None = None
    #: The link service (links.public_base_url): stable /p/ links instead of presigned ones.
    links: LinkService | None = None
    #: send_at and the message budget of the delivery file (issue 18); None: neither.
    delivery_plan: DeliveryPlan | None = None


def _passed_before(
    files: Mapping[str, bytes],
    manifest: Mapping[str, Any],
    config: PublishConfig,
    scanner: PiiScanner,
) -> dict[str, str] | None:
    """The files (path → sha256) a passed bundle-stage check covered, if it still holds.

    ``manifest`` was just verified against ``files`` (every size and sha256, nothing missing
    or extra). compliance.json records the checks stage's pass and its fingerprint of the
    files it checked and of its settings; when the fingerprint of the same files and of
    this publish's settings is the same, those files (all but compliance.json) need no new
    PII or link scan. Otherwise (no such pass, a file or a setting changed since): None,
    and every file is scanned again.
    """
    try:
        checks = json.loads(files[COMPLIANCE]).get("checks") or {}
    except (KeyError, ValueError, AttributeError):
        return None
    if (
        checks.get("stage") != "bundle"
        or checks.get("passed") is not True
        or not isinstance(checks.get("fingerprint"), str)
    ):
        return None
    listed = {
        entry["path"]: entry["sha256"] for entry in manifest["files"] if entry["path"] != COMPLIANCE
    }
    if (
        checks_fingerprint(
            listed, scanner=scanner, allowed_domains=config.allowed_domains, limits=config.limits
        )
        != checks["fingerprint"]
    ):
        log.info(
            "The checks stage's pass does not cover these files or settings: every file is scanned again"
        )
        return None
    return listed


def publish_bundle(
    client: S3Client,
    store: Store,
    prefix: str,
    *,
    edition: date,
    run: str,
    config: PublishConfig,
    scanner: PiiScanner,
    audience: Audience
    | tuple[pd.DataFrame, pd.DataFrame]
    | tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]
    | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Publish the bundle built under ``prefix`` in the work store as ``editions/<date>/<run>/``.

    ``audience`` is the private inputs of the delivery file (``delivery_stream.Audience``,
    read in batches, or frames ``(contacts, assignments[, memberships])``; memberships: who
    lives in which territorial pack's territory).
    ``progress(step, done, total)`` is called after each upload and each verification.

    What is checked again, and why that is enough:

    - Every file of the work store is hashed once and compared with the manifest (sizes,
      SHA-256, nothing missing or extra): a file changed after the checks stage, without
      rebuilding the manifest, stops the publish here.
    - The PII and link scans run again on every file publishing writes: the pages (rendered
      again with presigned links) and compliance.json. Every other file is published with
      the very bytes the manifest lists. They are not scanned again when compliance.json
      records a passed checks stage whose fingerprint (``checks.checks_fingerprint``: each
      file's path and SHA-256, the allowed domains, the limits, the PII allowlist and the
      size of the PII reference) is the one computed here from the verified manifest and
      this publish's settings: those exact bytes passed those exact checks. A file changed
      since (even with the manifest rebuilt to match), a changed setting or a bundle the
      checks stage never passed changes the fingerprint: then every file is scanned again.
      The fingerprint guards against mistakes and stale files, not against someone who can
      rewrite the work store at will (they could rewrite the bundle stage's output too).
    - The manifest check (sizes, SHA-256, file list, schemas) always covers every file, and
      the final manifest and compliance.json are validated before anything is uploaded.
    - Each upload carries the manifest's SHA-256 (``x-amz-checksum-sha256``): the server
      refuses a body that does not match and echoes the checksum it verified. The manifest is
      uploaded last; then one listing of the run checks every object's presence, size and
      ETag against its upload's answer, before any pointer moves. Objects whose upload was not
      confirmed with the checksum (a server that ignores it) are read back and compared with
      the manifest, as every object used to be.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = config.bucket
    target = edition_prefix(edition, run)
    check_access(
        client, *(b for b in (bucket, config.private_bucket if audience is not None else None) if b)
    )

    current = read_pointer(client, bucket, current_key(edition))
    if current and current.get("run") == run:
        log.info(
            "Run %s is already promoted for %s: nothing re-uploaded (idempotent retry)",
            run,
            edition,
        )
        promoted = promote(
            client,
            bucket,
            edition,
            run,
            event="publish-retry",
            actor=config.actor,
            private_bucket=config.private_bucket,
        )
        return {
            "bucket": bucket,
            "prefix": f"{target}/",
            "files": None,
            "already_promoted": True,
            **_links(
                client,
                bucket,
                target,
                config,
                read_pointer(client, bucket, f"{target}/{MANIFEST}") or {},
            ),
            "latest_moved": promoted["latest_moved"],
        }

    if _was_promoted(client, bucket, edition, run):
        raise PublishError(
            f"run {run} of {edition} was promoted before and another run has replaced it since: its objects are not "
            f"rewritten. To serve it again: matinale rollback --to {edition}/{run}"
        )

    manifest = json.loads(store.get_bytes(f"{prefix}/{MANIFEST}"))
    files = read_bundle_files(store, prefix)
    sha256 = Sha256s()  # every file object hashed once, whatever checks or rebuilds it
    before = check_manifest(files, manifest, sha256=sha256)
    if not before.passed:
        raise PublishError(
            "the bundle in the work store does not match its manifest (checksum or file list); rebuild it:\n  "
            + "\n  ".join(str(f) for f in before.findings[:10])
        )
    if manifest.get("packs") == "served" and config.links is None:
        raise PublishError(
            "this bundle's packs are built on request by the link service, and no link service "
            "is configured (links.public_base_url): the pages' download button would lead "
            "nowhere. Configure the link service, or rebuild the bundle without it"
        )
    passed = _passed_before(files, manifest, config, scanner)

    published_at = _now()
    presign = Presigner(client, bucket, target, config.expiry, public_url=config.public_url)
    segment_ids = [str(s["id"]) for s in manifest["segments"]]
    service = (
        ServiceLinks.ensure(config.links, client, segment_ids) if config.links is not None else None
    )
    files.update(
        render_pages(
            files,
            manifest,
            campaign=config.campaign,
            zone=config.zone,
            published_at=published_at,
            linker=service.linker if service is not None else lambda _dir: presign,
            templates_dir=config.templates_dir,
            beacon_origin=config.links.base if config.links is not None else None,
        )
    )

    links = {
        s["id"]: service.page(s["id"]) if service is not None else presign(s["page"])
        for s in manifest["segments"]
    }
    checked = rebuild_manifest(manifest, files, digest_of=sha256)
    report: CheckReport = check_bundle(
        files,
        checked,
        scanner=scanner,
        allowed_domains=config.allowed_domains,
        limits=config.limits,
        own_link=service.owns if service is not None else presign.owns,
        passed=passed,
        sha256=sha256,
        templates_dir=config.templates_dir,
    )
    report.raise_for_findings()

    # The delivery file is written on a thread while the bundle uploads: only compliance.json
    # needs its counts, and compliance.json goes up after the other files, just before the
    # manifest. Every other file's bytes are final here (checked above).
    delivering: Future[tuple[dict[str, Any], int]] | None = None
    if audience is not None and config.private_bucket:
        plan = config.delivery_plan
        hooks = (
            plan.hooks(
                client,
                config.private_bucket,
                edition=edition,
                segments=list(links),
                zone=config.zone,
                published_at=published_at,
            )
            if plan is not None
            else []
        )
        delivering = deliver_in_background(
            audience, links, (client, config.private_bucket, edition, run), hooks=hooks
        )
    delivery_counts: dict[str, Any] | None = None
    delivery_bytes = 0
    uploads = RunUpload(client, bucket, target)
    early = [entry for entry in checked["files"] if entry["path"] != COMPLIANCE]
    doing = "registering the link table in"
    try:
        try:
            if config.links is not None:
                # Before anything is uploaded: a short link works the moment anyone can see it.
                table, cells = run_table(files, segment_ids, config.links.base)
                config.links.state(client).register_run(
                    edition, run, table, cells=cells, allowed_domains=config.allowed_domains
                )
            doing = "uploading to"
            uploads.upload(early, files, progress)
            if delivering is not None:
                doing = "writing the delivery file to"
                delivery_counts, delivery_bytes = delivering.result()
            final, manifest_bytes = _final_manifest(
                files, manifest, config, report, delivery_counts, published_at, sha256, early
            )
            entries = final["files"]
            manifest_item = {
                "path": MANIFEST,
                "bytes": len(manifest_bytes),
                "sha256": sha256(manifest_bytes),
                "content_type": content_type(MANIFEST),
            }
            doing = "uploading to"
            (compliance_entry,) = (e for e in entries if e["path"] == COMPLIANCE)
            uploads.upload([compliance_entry], files, None)
            uploads.upload([manifest_item], {MANIFEST: manifest_bytes}, None)  # last
            doing = "reading back from"
            uploads.verify([*entries, manifest_item], progress)
        finally:
            if delivering is not None:  # done before a failed run's objects are removed
                wait([delivering])
    except (BotoCoreError, ClientError) as exc:
        failure = _s3_failure(client, bucket, doing, exc)
        raise PublishError(
            f"{failure}. Run {run} was not promoted: the pointers still name the previous run"
            f"{_discard(client, config, edition, run)}; rerun to publish"
        ) from exc
    except PublishError as exc:
        raise PublishError(f"{exc}{_discard(client, config, edition, run)}") from exc
    except BaseException:
        # The delivery file or the final manifest failed after uploads began.
        log.error("Run %s was not promoted%s", run, _discard(client, config, edition, run))
        raise
    try:
        promoted = promote(
            client, bucket, edition, run, actor=config.actor, private_bucket=config.private_bucket
        )
    except PointerMoveError as exc:
        if not exc.unpromoted:
            raise
        raise PointerMoveError(
            f"{exc}{_discard(client, config, edition, run)}", unpromoted=True
        ) from exc.__cause__

    log.info(
        "Published %d files under s3://%s/%s/ (checks: %s)",
        len(entries) + 1,
        bucket,
        target,
        json.dumps(report.summary()["checks"]),
    )
    return {
        "bucket": bucket,
        "prefix": f"{target}/",
        "files": len(entries) + 1,
        "bytes": sum(e["bytes"] for e in entries) + len(manifest_bytes),
        "page_bytes_max": max((e["bytes"] for e in entries if e["kind"] == "page"), default=0),
        "delivery": delivery_counts
        and {
            "key": delivery_key(edition, run),
            "rows": delivery_counts["rows"],
            "bytes": delivery_bytes,
            "by_channel": delivery_counts["by_channel"],
        },
        "latest_moved": promoted["latest_moved"],
        **_links(client, bucket, target, config, final, service),
    }


def _final_manifest(
    files: dict[str, bytes],
    manifest: Mapping[str, Any],
    config: PublishConfig,
    report: CheckReport,
    delivery_counts: dict[str, Any] | None,
    published_at: datetime,
    sha256: Sha256s,
    uploaded: list[dict[str, Any]],
) -> tuple[dict[str, Any], bytes]:
    """compliance.json with the checks, the delivery counts and the link counts (written
    into ``files``); the final manifest, checked against every file, and its bytes.

    ``uploaded`` went up before the delivery counts were known: each must be listed in the
    final manifest exactly as it was uploaded."""
    compliance = json.loads(files[COMPLIANCE])
    compliance["checks"] = {"stage": "publish", **report.summary()}
    compliance["delivery"] = delivery_counts
    if config.links is not None:
        compliance["link_counts"] = config.links.compliance()
    validate_compliance(compliance)
    files[COMPLIANCE] = write_manifest(compliance)
    final = rebuild_manifest(
        manifest,
        files,
        digest_of=sha256,
        published_at=published_at.isoformat(timespec="seconds"),
        link_expiry_hours=max(1, int(config.expiry.total_seconds() // 3600)),
    )
    check_manifest(files, final, sha256=sha256).raise_for_findings()
    listed = {entry["path"]: entry for entry in final["files"]}
    moved = [entry["path"] for entry in uploaded if listed.get(entry["path"]) != entry]
    if moved:
        raise PublishError(
            f"{len(moved)} file(s) changed while the bundle uploaded ({', '.join(moved[:5])}); "
            "nothing promoted, rerun"
        )
    return final, write_manifest(final)


def _discard(client: S3Client, config: PublishConfig, edition: date, run: str) -> str:
    """Delete what a failed publish wrote for a run no pointer names; a clause saying so.

    Its objects under ``editions/<date>/<run>/`` and its delivery files. When S3 refuses (it
    is down), they stay: ``matinale retention`` removes runs that were never promoted.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    places = [(config.bucket, f"{edition_prefix(edition, run)}/")]
    if config.private_bucket:
        places.append((config.private_bucket, f"{DELIVERY}/{edition.isoformat()}/{run}/"))
    removed = 0
    try:
        for bucket, prefix in places:
            removed += delete_keys(client, bucket, list_keys(client, bucket, prefix))
    except (BotoCoreError, ClientError, PublishError) as exc:
        log.warning("Could not remove the objects of unpromoted run %s: %s", run, exc)
        return (
            f" (its objects could not be removed, {type(exc).__name__}: "
            "`matinale retention` removes runs never promoted)"
        )
    log.info("Removed the %d object(s) of unpromoted run %s", removed, run)
    return f" (its {removed} uploaded object(s) were removed)"


def _links(
    client: S3Client,
    bucket: str,
    target: str,
    config: PublishConfig,
    manifest: Mapping[str, Any],
    service: ServiceLinks | None = None,
) -> dict[str, Any]:
    """Links to the overview and one segment page (for logs and `make up`): the service's
    stable ones when there is a link service, else fresh presigned ones."""
    segments = manifest.get("segments") or []
    if config.links is not None:
        if service is None:  # a retry of a promoted run: read (or make) the tokens
            service = ServiceLinks.ensure(config.links, client, [str(s["id"]) for s in segments])
        return {
            "overview_url": service.page(OVERVIEW),
            "sample_page_url": service.page(str(segments[0]["id"])) if segments else None,
        }
    presign = Presigner(client, bucket, target, config.expiry, public_url=config.public_url)
    return {
        "overview_url": presign("index.html"),
        "sample_page_url": presign(segments[0]["page"]) if segments else None,
    }
