"""Storage limitation (GDPR art. 5-1-e): delete per-person files once they are not needed.

What is per-person, by convention of the work store layout:

- ``runs/<edition>/<run>/private/`` in the work store: valid rows, quarantine, features,
  contacts, assignments — everything a stage writes about individuals goes under its run's
  ``private/`` folder;
- the delivery files publish writes to the private bucket,
  ``delivery/<edition>/<run>/delivery.csv`` (their ``.json`` counts and pointers stay);
- the supporter exports in ``inbox/supporters/`` (and, if configured, the suppression
  lists in ``inbox/suppression/``).

Two rules, from ``retention`` in campaign.yaml:

1. a run's private folder is deleted once its edition is more than ``private_outputs_days``
   old (Paris dates); older supporter exports go too, the newest one is kept for tonight;
2. from ``campaign_end`` + ``after_end_days`` on, every per-person file goes, the newest
   export included. Suppression lists are kept (they prove objections were honoured)
   unless ``purge_suppression_after_end`` is true.

Aggregated run files (segment sizes, manifests, status records) hold no personal data and
are not touched. Published bundles hold none either; with the S3 client, the bundle bucket
gets its own two rules (``matinale.publish.expiry``): editions older than
``published_editions_days`` go (never the one ``latest.json`` names), and so do runs no
pointer ever named (a failed publish that could not clean up). Counts only in the report and
the log. ``matinale retention [--dry-run]``, the ``matinale_retention`` DAG and ``make up``
(once at start) all call :func:`purge`.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from matinale.s3types import S3Client
from matinale.settings import Settings
from matinale.store import Store

__all__ = ["PRIVATE_FOLDER", "private_prefixes", "purge"]

log = logging.getLogger(__name__)

PRIVATE_FOLDER = "private"
_RUN_PRIVATE = re.compile(r"^runs/(\d{4}-\d{2}-\d{2})/([^/]+)/" + PRIVATE_FOLDER + "/")
_DELIVERY = re.compile(r"^delivery/(\d{4}-\d{2}-\d{2})/[^/]+/[^/]+\.csv$")


def private_prefixes(store: Store) -> dict[str, tuple[date, int]]:
    """``runs/<edition>/<run>/private`` → (edition, number of files), for every run."""
    found: dict[str, tuple[date, int]] = {}
    for key in store.list("runs"):
        match = _RUN_PRIVATE.match(key)
        if not match:
            continue
        prefix = key[: match.end() - 1]
        try:
            edition = date.fromisoformat(match.group(1))
        except ValueError:
            log.warning("Retention: %s does not name an edition date; left alone", prefix)
            continue
        count = found.get(prefix, (edition, 0))[1]
        found[prefix] = (edition, count + 1)
    return found


def _inbox_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.is_file()), key=lambda p: (p.stat().st_mtime, p.name)
    )


def _expired_deliveries(
    client: S3Client, bucket: str, *, campaign_over: bool, keep_from: date
) -> list[str]:
    keys: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix="delivery/"):
        for item in page.get("Contents", []):
            match = _DELIVERY.match(item["Key"])
            if match and (campaign_over or date.fromisoformat(match.group(1)) < keep_from):
                keys.append(item["Key"])
    return keys


def purge(
    store: Store,
    settings: Settings,
    *,
    today: date,
    dry_run: bool = False,
    client: S3Client | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Apply the rules on ``today`` (a Paris date); return counts of what was (or would be) deleted.

    ``client`` (boto3) reaches the delivery files in the private bucket and the bundle
    bucket; without it they are not looked at (a local demo with no S3). ``now`` (default:
    the clock) is when never-promoted runs' age counts from.
    """
    policy = settings.retention
    purge_all_from = policy.purge_all_from
    campaign_over = purge_all_from is not None and today >= purge_all_from
    keep_from = today - timedelta(days=policy.private_outputs_days)

    runs = private_prefixes(store)
    expired = {
        prefix: info for prefix, info in runs.items() if campaign_over or info[0] < keep_from
    }
    deleted_files = 0
    for prefix, (_edition, count) in sorted(expired.items()):
        deleted_files += count if dry_run else store.delete_prefix(prefix)

    deliveries: list[str] = []
    if client is not None:
        deliveries = _expired_deliveries(
            client, settings.private_bucket, campaign_over=campaign_over, keep_from=keep_from
        )
        for start in range(0, len(deliveries), 1000):
            if not dry_run:
                chunk = deliveries[start : start + 1000]
                client.delete_objects(
                    Bucket=settings.private_bucket,
                    Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                )

    inbox_deleted = 0
    exports = _inbox_files(settings.inbox / "supporters")
    newest = exports[-1] if exports else None
    cutoff = datetime.combine(keep_from, datetime.min.time(), tzinfo=settings.clocks.campaign_tz)
    doomed = [
        p
        for p in exports
        if campaign_over
        or (p != newest and datetime.fromtimestamp(p.stat().st_mtime, UTC) < cutoff)
    ]
    if campaign_over and policy.purge_suppression_after_end:
        doomed += _inbox_files(settings.inbox / "suppression")
    for path in doomed:
        if not dry_run:
            path.unlink()
        inbox_deleted += 1

    bundles: dict[str, Any] = {}
    if client is not None:
        from matinale.publish.expiry import expire_bundles

        bundles = expire_bundles(
            client,
            settings.bundle_bucket,
            today=today,
            keep_days=policy.published_editions_days,
            now=now or datetime.now(UTC),
            dry_run=dry_run,
        )

    report = {
        "today": today.isoformat(),
        "rule": "campaign_end" if campaign_over else "age",
        "keep_editions_from": None if campaign_over else keep_from.isoformat(),
        "runs_with_private_files": len(runs),
        "runs_purged": len(expired),
        "files_deleted": deleted_files,
        "delivery_files_deleted": len(deliveries),
        "inbox_files_deleted": inbox_deleted,
        **bundles,
        "dry_run": dry_run,
    }
    verb = "would delete" if dry_run else "deleted"
    log.info(
        "Retention (%s rule, %s): %s %d private file(s) in %d of %d run(s), %d delivery file(s) and %d inbox file(s)",
        report["rule"],
        f"campaign ended, purge from {purge_all_from}"
        if campaign_over
        else f"keeping editions from {keep_from}",
        verb,
        deleted_files,
        len(expired),
        len(runs),
        len(deliveries),
        inbox_deleted,
    )
    if bundles:
        log.info(
            "Retention (bundle bucket, keeping editions from %s): %s %d edition(s) (%d object(s)) "
            "and %d never-promoted run(s) (%d object(s))%s",
            bundles["keep_published_from"] or "any date",
            verb,
            bundles["editions_deleted"],
            bundles["edition_objects_deleted"],
            bundles["unpromoted_runs_deleted"],
            bundles["unpromoted_objects_deleted"],
            f"; skipped: {bundles['bundle_skipped']}" if bundles["bundle_skipped"] else "",
        )
    return report
