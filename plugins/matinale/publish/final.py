"""The end of a publish: compliance.json with what publish checked and wrote, and the final
manifest, checked against every file before it is uploaded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from matinale.bundle import COMPLIANCE, rebuild_manifest, validate_compliance, write_manifest
from matinale.checks import CheckReport, Sha256s, check_manifest
from matinale.publish.s3 import PublishError

if TYPE_CHECKING:
    from matinale.publish.stage import PublishConfig

__all__ = ["final_manifest"]


def final_manifest(
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
    final manifest with the bytes, checksum and type it was uploaded with."""
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
    sent = ("sha256", "bytes", "content_type")  # what an upload was made of
    moved = [
        entry["path"]
        for entry in uploaded
        if [entry[k] for k in sent] != [listed.get(entry["path"], {}).get(k) for k in sent]
    ]
    if moved:
        raise PublishError(
            f"{len(moved)} file(s) changed while the bundle uploaded ({', '.join(moved[:5])}); "
            "nothing promoted, rerun"
        )
    return final, write_manifest(final)
