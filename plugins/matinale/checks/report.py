"""What the checks found: findings, the report compliance.json counts, the failure error.

Also ``Sha256s``, the per-stage memo of file digests the manifest check and the manifest
rebuild share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matinale.errors import MatinaleError

__all__ = ["CheckReport", "ChecksFailed", "Finding", "Sha256s"]

_MAX_LISTED = 25


class ChecksFailed(MatinaleError, RuntimeError):
    """At least one pre-publish check failed: nothing was published."""

    def __init__(self, report: CheckReport) -> None:
        self.report = report
        # The same name or link often appears in posts, page and pack: show each problem once,
        # where it first appears (source data first), with how many other places repeat it.
        groups: dict[tuple[str, str, str], list[Finding]] = {}
        for finding in report.findings:
            groups.setdefault((finding.check, finding.value, finding.problem), []).append(finding)
        lines = []
        for same in list(groups.values())[:_MAX_LISTED]:
            others = f" [and {len(same) - 1} other places]" if len(same) > 1 else ""
            lines.append(f"{same[0]}{others}")
        more = len(groups) - len(lines)
        if more > 0:
            lines.append(f"… and {more} more problems")
        counts = ", ".join(f"{name}: {report.counts[name]['findings']}" for name in report.counts)
        super().__init__(
            f"pre-publish checks failed ({counts}); nothing was published, the pointers still "
            "name the previous run. Fix the brief, templates or allowlist and rerun:\n  "
            + "\n  ".join(lines)
        )


@dataclass(frozen=True)
class Finding:
    """One problem, precise enough to fix without opening the file: file, field, value."""

    check: str
    file: str
    field: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.file}: {self.field}: {self.problem} ({self.value})"


@dataclass
class CheckReport:
    """Counts per check (for compliance.json) and the findings (for the error message)."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings

    def count(self, check: str, name: str, amount: int = 1) -> None:
        bucket = self.counts.setdefault(check, {"findings": 0})
        bucket[name] = bucket.get(name, 0) + amount

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)
        self.count(finding.check, "findings")

    def summary(self) -> dict[str, Any]:
        """What was checked and how many findings: counts only, never a value."""
        return {
            "passed": self.passed,
            "checks": {name: dict(sorted(c.items())) for name, c in sorted(self.counts.items())},
        }

    def raise_for_findings(self) -> None:
        if self.findings:
            raise ChecksFailed(self)


class Sha256s:
    """SHA-256 (hex) of bytes objects, each hashed once per stage.

    A digest is reused only for the very same object (kept here, so its id cannot be given
    to another object), never for other bytes, even equal ones: a stage that checks the
    files, then rebuilds the manifest of the same objects, reads each gigabyte once.
    """

    def __init__(self) -> None:
        self._known: dict[int, tuple[bytes, str]] = {}

    def __call__(self, data: bytes) -> str:
        import hashlib

        known = self._known.get(id(data))
        if known is not None and known[0] is data:
            return known[1]
        digest = hashlib.sha256(data).hexdigest()
        self._known[id(data)] = (data, digest)
        return digest
