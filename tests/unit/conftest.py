"""Fixtures shared by the unit tests of the pre-flight (test_preflight, test_cli_check)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from project_copy import copy_project

from matinale.settings import cached_settings

ROOT = Path(__file__).resolve().parents[2]
EDITION = date(2026, 11, 24)
# 2026-11-23 22:00 UTC: three hours before the night of the 24th starts (01:00 Paris).
FRESH = datetime(2026, 11, 23, 22, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def preflight_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the project a test may break, and a ready inbox for 2026-11-24.

    campaign.yaml, segments/ and content_templates/ (fonts linked) are copied; the inbox
    (``home.parent / "var" / "inbox"``) holds 200 sample supporters written three hours
    before the night, a suppression folder and the sample brief.
    """
    from matinale.dev.sample import write_sample

    home = copy_project(tmp_path)
    inbox = tmp_path / "var" / "inbox"
    supporters = write_sample(200, 7, inbox / "supporters" / "export.csv")
    os.utime(supporters, (FRESH, FRESH))
    (inbox / "suppression").mkdir()
    (inbox / "suppression" / "optouts.txt").write_text("a@example.org\n", encoding="utf-8")
    (inbox / "briefs").mkdir()
    shutil.copy(
        ROOT / "content_templates" / "sample_brief.yaml", inbox / "briefs" / f"{EDITION}.yaml"
    )
    monkeypatch.setenv("MATINALE_HOME", str(home))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("MATINALE_WORK_STORE", "local")
    for name in ("MATINALE_INBOX", "MATINALE_CAMPAIGN_FILE"):
        monkeypatch.delenv(name, raising=False)
    cached_settings.cache_clear()
    yield home
    cached_settings.cache_clear()
