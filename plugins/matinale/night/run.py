"""One run of the night: who it is, where its files live, what it read.

``RunContext`` is the run's identity, passed between tasks through XCom as a small dict;
``make_store`` is the work store every stage reads and writes under ``runs/<edition>/<run>/``;
``input_checksums`` is the identity card ``prepare`` records (every input's SHA-256 and the
code's version). The readers at the end give later stages what earlier ones left in the run
(its segments, the counts for compliance.json, the PII reference privacy hashed once
for checks and publish).
Nothing here imports Airflow.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matinale.errors import MatinaleError
from matinale.s3types import S3Client
from matinale.segment import Segment
from matinale.settings import Settings
from matinale.store import LocalStore, S3Store, Store

if TYPE_CHECKING:
    import pandas as pd

    from matinale.checks import PiiScanner
    from matinale.links.short import ShortLinks

RUN_LINKS = "links.json"
"""The run's short-link key (work store, run prefix): written by prepare, read by content,
visuals and publish."""

__all__ = [
    "NightError",
    "RunContext",
    "brief_path",
    "compliance_summary",
    "git_output",
    "input_checksums",
    "make_store",
    "newest_supporter_file",
    "PII_REFERENCE",
    "pii_scanner",
    "reserve_short_links",
    "segments_of",
    "short_links",
    "write_pii_reference",
]

log = logging.getLogger(__name__)


class NightError(MatinaleError, RuntimeError):
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
        return {
            "edition": self.edition.isoformat(),
            "run": self.run,
            "supporters_file": self.supporters_file,
            "brief_file": self.brief_file,
        }

    @classmethod
    def from_xcom(cls, value: dict[str, str]) -> RunContext:
        return cls(
            edition=date.fromisoformat(value["edition"]),
            run=value["run"],
            supporters_file=value["supporters_file"],
            brief_file=value["brief_file"],
        )


def make_store(settings: Settings, client: S3Client | None = None) -> Store:
    """The configured work store: a local folder, or the private bucket's ``work/`` prefix.

    Every stage's process makes one, before it reads or writes a frame: Arrow's allocator
    is chosen here (``matinale.arrowpool``).
    """
    from matinale.arrowpool import use_night_pool

    use_night_pool()
    if settings.work_store == "s3":
        if client is None:
            raise NightError(
                "MATINALE_WORK_STORE=s3 needs an S3 client (the aws_default connection)"
            )
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
    return given or git_output(home, "rev-parse", "HEAD", timeout=5) or "unknown"


def git_output(folder: Path, *args: str, timeout: float = 10) -> str:
    """What ``git -C folder args…`` prints, stripped; '' when git is missing or fails."""
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def input_checksums(settings: Settings, ctx: RunContext) -> dict[str, str]:
    files = [Path(ctx.supporters_file), Path(ctx.brief_file), settings.campaign_file]
    for folder in (settings.segments_dir, settings.templates_dir):
        files.extend(
            p
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix in {".yaml", ".j2", ".yml"}
        )
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
    candidates = [
        p for p in folder.glob("*") if p.suffix.lower() in {".csv", ".parquet"} and p.is_file()
    ]
    if not candidates:
        raise NightError(
            f"{folder}: no supporter file (*.csv or *.parquet); drop the CRM export there"
        )
    return max(candidates, key=lambda p: (p.stat().st_mtime, p.name))


def brief_path(inbox: Path, edition: date) -> Path:
    return inbox / "briefs" / f"{edition.isoformat()}.yaml"


def segments_of(store: Store, ctx: RunContext) -> list[Segment]:
    """The segments ``segment`` wrote for this run (``segments.json``)."""
    return [Segment.from_json(s) for s in store.get_json(f"{ctx.prefix}/segments.json")["segments"]]


#: Private supporter data the PII scanner is built from (hashed, never copied).
_PII_SOURCES = ("private/valid.parquet", "private/contacts.parquet")
#: The night's PII reference (keyed hashes only, see ``matinale.checks.reference``): written
#: by privacy from the frames it holds, loaded by checks and publish.
PII_REFERENCE = "private/pii-reference.bin"


def _counts_only(value: Any) -> Any:
    """Numbers and maps of numbers: what may enter compliance.json (never a person)."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        kept = {str(k): _counts_only(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None}
    return None


def compliance_summary(store: Store, ctx: RunContext) -> dict[str, Any]:
    """Counts from ingest, privacy and segmentation for compliance.json."""
    counts: dict[str, Any] = {}
    if store.exists(f"{ctx.prefix}/compliance.json"):
        counts.update(_counts_only(store.get_json(f"{ctx.prefix}/compliance.json")) or {})
    if store.exists(f"{ctx.prefix}/ingest.json"):
        counts["ingest"] = _counts_only(store.get_json(f"{ctx.prefix}/ingest.json")) or {}
    if store.exists(f"{ctx.prefix}/segments.json"):
        segments = store.get_json(f"{ctx.prefix}/segments.json")
        counts["segments"] = {
            "count": len(segments.get("segments", [])),
            **(_counts_only(segments.get("report") or {}) or {}),
        }
    return counts


def write_pii_reference(
    store: Store, ctx: RunContext, valid: pd.DataFrame, contacts: pd.DataFrame
) -> None:
    """Hash the supporters once for the night and keep the reference in the run.

    ``valid`` and ``contacts`` are the frames of ``_PII_SOURCES`` as privacy holds them;
    only the id and name columns are read. The contacts are rows of ``valid`` (privacy's
    split), so they add no id or name: only their count to the people the reference was
    made from, as building from both files counts them. Writing again (a retried stage)
    replaces the whole file: a new key with its own hashes.
    """
    from matinale.checks import PiiScanner, dump_reference

    columns = [c for c in ("supporter_id", "first_name", "last_name") if c in valid]
    scanner = PiiScanner.from_frames([valid[columns]])
    scanner.stats["people"] += len(contacts)
    store.put_bytes(f"{ctx.prefix}/{PII_REFERENCE}", dump_reference(scanner))


def pii_scanner(
    settings: Settings,
    store: Store,
    ctx: RunContext,
    *,
    build_from: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> PiiScanner:
    """The PII scanner of this run: the reference privacy wrote (keyed hashes), loaded with
    the campaign's allowlist; rebuilt from the private supporter files (and written for the
    next stage) when that file is missing or unusable (another version, cut short).

    ``build_from`` (privacy: its valid rows and contacts) builds the reference from those
    frames and writes it first (``write_pii_reference``), once a night.
    """
    from matinale.checks import PiiReferenceError, PiiScanner, dump_reference, load_reference

    reference = f"{ctx.prefix}/{PII_REFERENCE}"
    if build_from is not None:
        write_pii_reference(store, ctx, *build_from)
    if store.exists(reference):
        try:
            return load_reference(store.get_bytes(reference), settings.pii_allowlist)
        except PiiReferenceError as exc:
            log.warning("%s: %s; rebuilding it from the private supporter files", reference, exc)
    keys = [f"{ctx.prefix}/{name}" for name in _PII_SOURCES]
    if not any(store.exists(key) for key in keys):
        raise NightError(
            f"cannot scan for personal data: none of {', '.join(keys)} is in the work store; rerun ingest and privacy"
        )
    scanner = PiiScanner.from_store(store, keys, settings.pii_allowlist)
    store.put_bytes(reference, dump_reference(scanner))
    return scanner


def reserve_short_links(settings: Settings, store: Store, ctx: RunContext, client: S3Client) -> str:
    """Reserve the run's short-code stem in the link state and write ``links.json`` (kept as
    it is when a retry of ``prepare`` finds it: codes printed by then stay valid)."""
    from matinale.links.short import RunLinks
    from matinale.links.state import LinkState

    base = settings.link_service.public_base_url
    key = f"{ctx.prefix}/{RUN_LINKS}"
    state = LinkState(
        client, settings.link_service.state_bucket, settings.link_service.state_prefix
    )
    stem = state.reserve_stem(ctx.edition, ctx.run)
    if store.exists(key):
        kept = RunLinks.from_json(store.get_json(key))
        if (kept.stem, kept.base) == (stem, base):
            return stem
    store.put_json(key, RunLinks.new(base, stem).to_json())
    return stem


def short_links(
    store: Store,
    ctx: RunContext,
    themes: Sequence[str],
    channels: Sequence[str] = (),
    angles: Sequence[str] = (),
) -> ShortLinks | None:
    """This run's short links (:mod:`matinale.links.short`), or None when it has none."""
    from matinale.links.short import RunLinks, ShortLinks

    key = f"{ctx.prefix}/{RUN_LINKS}"
    if not store.exists(key):
        return None
    segments = [s.id for s in segments_of(store, ctx)]
    return ShortLinks(
        RunLinks.from_json(store.get_json(key)), segments, themes, channels, sorted(angles)
    )
