"""Pre-publish checks: nothing reaches S3 unless every one of them passes.

Four checks, each counted in ``compliance.json`` and each finding named precisely
(file, field, value, what to do):

- **pii** (``pii``): e-mail addresses and French phone numbers anywhere in the text; any
  supporter id of 6 characters or more; any supporter's full name (first + last, either
  order). The scanner is built from the private supporter data but keeps only keyed 64-bit
  hashes of the normalised ids and names (the key is random per night and kept only with
  the hashes, in the run's private reference file), so it holds no copy of the data and
  can be logged without leaking it. Values
  it reports are masked. ``privacy.pii_allowlist`` in campaign.yaml lists the candidate,
  spokespeople and the campaign's own addresses that may appear.
- **links** (``links``): every absolute link is https on an allowed domain
  (``links.allowed_domains``), a share endpoint (the share links of
  content_templates/channels.yaml: pages only), or the
  bundle's own presigned link; relative links stay inside the run and point at a file of
  the bundle.
- **sizes** (``sizes``): every file is under its kind's limit (``limits`` in campaign.yaml),
  a served pack (built by the link service, ``served_packs``) by its members' bytes.
- **manifest** (``schema``): every file is listed with the right size and sha256, nothing is
  missing or extra, and the manifest and compliance files match their JSON Schemas.

``reference`` keeps the scanner's hashed reference as a file, built once a night by
privacy and loaded by checks and publish. ``stage`` runs them all (``check_bundle``) and fingerprints a pass (``checks_fingerprint``);
``report`` holds the findings and counts; ``texts`` walks the files into strings.
"""

from matinale.checks.pii import PiiScanner, normalise_name, normalise_phone
from matinale.checks.reference import (
    PII_REFERENCE_VERSION,
    PiiReferenceError,
    dump_reference,
    load_reference,
)
from matinale.checks.report import CheckReport, ChecksFailed, Finding, Sha256s
from matinale.checks.schema import check_manifest, load_schema, schema_problems
from matinale.checks.sizes import (
    DEFAULT_LIMITS,
    PACK,
    PACK_MODES,
    PACKED_KINDS,
    limits_from,
    served_packs,
)
from matinale.checks.stage import CHECKS, CHECKS_VERSION, check_bundle, checks_fingerprint
from matinale.checks.texts import ParsedTexts, safe_member_name

__all__ = [
    "CHECKS",
    "CHECKS_VERSION",
    "DEFAULT_LIMITS",
    "PACK",
    "PACKED_KINDS",
    "PACK_MODES",
    "PII_REFERENCE_VERSION",
    "ParsedTexts",
    "CheckReport",
    "ChecksFailed",
    "Finding",
    "PiiReferenceError",
    "PiiScanner",
    "Sha256s",
    "check_bundle",
    "check_manifest",
    "checks_fingerprint",
    "dump_reference",
    "limits_from",
    "load_reference",
    "load_schema",
    "normalise_name",
    "normalise_phone",
    "safe_member_name",
    "schema_problems",
    "served_packs",
]
