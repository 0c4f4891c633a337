"""Every check over a bundle (``check_bundle``) and the fingerprint of a pass
(``checks_fingerprint``) that lets publishing skip rescanning unchanged files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from matinale.checks.links import _check_links
from matinale.checks.pii import PiiScanner, _check_pii
from matinale.checks.report import CheckReport, Sha256s
from matinale.checks.schema import _check_manifest
from matinale.checks.sizes import DEFAULT_LIMITS, _check_sizes, served_packs
from matinale.checks.texts import ParsedTexts, _texts

__all__ = ["CHECKS", "CHECKS_VERSION", "check_bundle", "checks_fingerprint"]

CHECKS = ("pii", "links", "sizes", "manifest")


#: Bumped whenever what the PII or link checks find changes: a fingerprint taken by another
#: version of the checks is never trusted.
CHECKS_VERSION = 2


def checks_fingerprint(
    files: Mapping[str, str],
    *,
    scanner: PiiScanner,
    allowed_domains: Iterable[str],
    limits: Mapping[str, int] | None = None,
) -> str:
    """SHA-256 (hex) naming what a pass of the checks covered: every file (path → sha256) and
    the settings the checks judged them by (allowed domains, limits, the PII allowlist and
    the size of the PII reference, the checks' version).

    The checks stage records it in compliance.json; publishing trusts that pass only for the
    files whose bytes still have those digests, and only if the fingerprint it computes from
    the verified manifest and its own settings is the same. Holds no personal data: the
    allowlist is the campaign's own, the reference is counted, never listed.
    """
    import hashlib

    settings = {
        "version": CHECKS_VERSION,
        "domains": sorted(d.lower() for d in allowed_domains),
        "limits": dict(sorted((limits or DEFAULT_LIMITS).items())),
        "allowlist": [
            sorted(scanner.allowed_emails),
            sorted(scanner.allowed_phones),
            sorted(scanner.allowed_names),
        ],
        "reference": dict(sorted(scanner.stats.items())),
        "name_words": scanner.name_words,
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8"))
    for path, sha256 in sorted(files.items()):
        digest.update(f"\n{path}\t{sha256}".encode())
    return digest.hexdigest()


def check_bundle(
    files: Mapping[str, bytes],
    manifest: Mapping[str, Any],
    *,
    scanner: PiiScanner,
    allowed_domains: Iterable[str],
    limits: Mapping[str, int] | None = None,
    own_link: Callable[[str], bool] = lambda url: False,
    passed: Mapping[str, str] | None = None,
    sha256: Sha256s | None = None,
    templates_dir: Path | None = None,
    parsed: ParsedTexts | None = None,
) -> CheckReport:
    """Run every check over the bundle's files (paths relative to the run, manifest excluded).

    ``own_link`` says whether an absolute URL is one of the bundle's own presigned links.
    ``passed`` maps paths to the sha256 of bytes that already passed the PII and link checks
    with the same settings (see ``checks_fingerprint``): a file whose bytes still have that
    sha256 (computed here, by the manifest check) is not scanned again; the manifest and
    size checks always cover every file. ``sha256`` hashes each file once for this check and
    what the caller does next with the same objects (rebuilding the manifest).
    ``parsed`` keeps each text file's strings (and JSON) for a caller that reads them next.
    Returns the report; call ``raise_for_findings()`` to block publishing on any finding.
    """
    report = CheckReport()
    kinds = {
        entry["path"]: entry.get("kind", "other")
        for entry in manifest.get("files", [])
        if isinstance(entry, dict) and "path" in entry
    }
    domains = tuple(d.lower() for d in allowed_domains)
    digests = _check_manifest(files, manifest, report, sha256 or Sha256s())
    packs = served_packs(manifest)
    _check_sizes(files, kinds, limits or DEFAULT_LIMITS, report, packs)
    unchanged = frozenset(
        path
        for path, digest in (passed or {}).items()
        if path in files and digests.get(path) == digest
    )
    texts = list(_texts(files, report, skip=unchanged))
    parsed = parsed if parsed is not None else ParsedTexts()
    _check_links(
        texts,
        parsed,
        # A served pack is a link target too: the link service builds it from these files.
        files.keys() | packs.keys() if packs else files,
        kinds,
        report,
        domains=domains,
        own=own_link,
        templates_dir=templates_dir,
    )
    _check_pii(texts, parsed, scanner, report)
    if passed is not None:
        for check in ("links", "pii"):
            report.count(check, "files_unchanged_since_checks", len(unchanged))
    return report
