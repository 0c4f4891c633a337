"""A copy of the project and a ready inbox for one edition, for the pre-flight tests.

``project_copy`` copies campaign.yaml, segments/ and content_templates/ (fonts linked) so a
test may break any of them, and fills an inbox for :data:`EDITION`: 200 sample supporters
written three hours before the night, a suppression folder and the sample brief.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from matinale.settings import cached_settings

ROOT = Path(__file__).resolve().parents[1]
EDITION = date(2026, 11, 24)
# 2026-11-23 22:00 UTC: three hours before the night of the 24th starts (01:00 Paris).
FRESH = datetime(2026, 11, 23, 22, 0, tzinfo=UTC).timestamp()


def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Yield the copy's home (MATINALE_HOME and MATINALE_VAR point at it meanwhile)."""
    from matinale.dev.sample import write_sample

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "campaign.yaml", home / "campaign.yaml")
    shutil.copytree(ROOT / "segments", home / "segments")
    templates = ROOT / "content_templates"
    shutil.copytree(templates, home / "content_templates", ignore=shutil.ignore_patterns("fonts"))
    (home / "content_templates" / "fonts").symlink_to(templates / "fonts")
    inbox = tmp_path / "var" / "inbox"
    supporters = write_sample(200, 7, inbox / "supporters" / "export.csv")
    os.utime(supporters, (FRESH, FRESH))
    (inbox / "suppression").mkdir()
    (inbox / "suppression" / "optouts.txt").write_text("a@example.org\n", encoding="utf-8")
    (inbox / "briefs").mkdir()
    shutil.copy(templates / "sample_brief.yaml", inbox / "briefs" / f"{EDITION}.yaml")
    monkeypatch.setenv("MATINALE_HOME", str(home))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("MATINALE_WORK_STORE", "local")
    for name in ("MATINALE_INBOX", "MATINALE_CAMPAIGN_FILE"):
        monkeypatch.delenv(name, raising=False)
    cached_settings.cache_clear()
    yield home
    cached_settings.cache_clear()


def edit_file(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` once in ``path``."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}: update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def inbox_of(home: Path) -> Path:
    return home.parent / "var" / "inbox"
