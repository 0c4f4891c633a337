"""``matinale.preflight``: each area of the night's inputs checked by the night's own loaders.

A copy of the project (campaign.yaml, segments/, content_templates/) and an inbox for
edition 2026-11-24; each test breaks one file and the check must name it. Dates and file
times are fixed: nothing reads today's date.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from matinale import night
from matinale.content import BriefError
from matinale.errors import MatinaleError
from matinale.preflight import (
    AREAS,
    ERROR,
    OK,
    WARNING,
    NotReadyError,
    Readiness,
    check_all,
    check_project,
    default_edition,
)
from matinale.settings import load_settings
from matinale.store import LocalStore

EDITION = date(2026, 11, 24)
# 2026-11-23 22:00 UTC: three hours before the night of the 24th starts (01:00 Paris).
FRESH = datetime(2026, 11, 23, 22, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def home(preflight_home: Path) -> Path:
    """The project copy of tests/unit/conftest.py: ready for EDITION until a test breaks it."""
    return preflight_home


def inbox_of(home: Path) -> Path:
    return home.parent / "var" / "inbox"


def edit_file(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` once in ``path``."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}: update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _area(readiness: Readiness, area: str) -> tuple[str, str]:
    check = next(c for c in readiness.checks if c.area == area)
    return check.status, "\n".join(check.messages)


def _only_error(readiness: Readiness, area: str) -> str:
    """The messages of ``area``, which must be the only area in error."""
    assert not readiness.ready
    assert [c.area for c in readiness.checks if c.status == ERROR] == [area], readiness.text()
    return _area(readiness, area)[1]


def test_a_ready_project_is_ready_in_every_area(home: Path) -> None:
    readiness = check_project(EDITION)
    assert readiness.ready, readiness.text()
    assert [c.area for c in readiness.checks] == list(AREAS)
    assert {c.status for c in readiness.checks} == {OK}, readiness.text()
    report = readiness.to_json()
    assert report["edition"] == "2026-11-24" and report["ready"] is True
    assert set(report["checks"][0]) == {"area", "status", "messages"}
    assert "rendered for 18-24-p01 with the edition's brief" in _area(readiness, "templates")[1]
    assert "200 row(s) readable" in _area(readiness, "inbox")[1]
    assert readiness.failure() is None


def test_a_wrong_campaign_value_is_named_with_its_line(home: Path) -> None:
    edit_file(home / "campaign.yaml", "max_quarantine_share: 0.20", "max_quarantine_share: lots")
    readiness = check_project(EDITION)
    message = _only_error(readiness, "campaign")
    lines = (home / "campaign.yaml").read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "max_quarantine_share:" in text)
    assert f"campaign.yaml:{line}: privacy.max_quarantine_share" in message and "lots" in message
    # The other areas wait for campaign.yaml: not checked, said so.
    assert all(c.status == WARNING for c in readiness.checks[1:])


def test_a_wrong_segment_definition_is_named(home: Path) -> None:
    edit_file(home / "segments" / "age_bands.yaml", "min: 25, max: 34", "min: 26, max: 34")
    message = _only_error(check_project(EDITION), "segments")
    assert "age_bands.yaml" in message and "25" in message


def test_a_misspelt_template_field_names_file_line_and_the_field_meant(home: Path) -> None:
    template = home / "content_templates" / "posts" / "x.j2"
    edit_file(template, "{{ theme.key_message }}", "{{ theme.key_mesage }}")
    line = template.read_text(encoding="utf-8").splitlines().index("{{ theme.key_mesage }}") + 1
    message = _only_error(check_project(EDITION), "templates")
    assert f"{template}:{line}: 'theme' has no field 'key_mesage'" in message
    assert "did you mean 'theme.key_message'?" in message


def test_a_low_contrast_brand_colour_is_named(home: Path) -> None:
    edit_file(home / "content_templates" / "brand.yaml", 'text: "#14213D"', 'text: "#DDDDDD"')
    message = _only_error(check_project(EDITION), "cards")
    assert "brand.yaml" in message and "contrast" in message and "'text'" in message


def test_a_framing_key_for_no_age_band_is_an_error_with_its_line(home: Path) -> None:
    brief = inbox_of(home) / "briefs" / f"{EDITION}.yaml"
    edit_file(brief, "  65plus:", "  65-plus:")
    rows = brief.read_text(encoding="utf-8").splitlines()
    line = next(n for n, row in enumerate(rows, start=1) if row.startswith("  65-plus:"))
    message = _only_error(check_project(EDITION), "brief")
    assert f"{brief}:{line}: framing.65-plus: key '65-plus' matches no age band" in message
    assert "did you mean '65plus'?" in message


def test_a_brief_link_on_a_disallowed_domain_is_named(home: Path) -> None:
    brief = inbox_of(home) / "briefs" / f"{EDITION}.yaml"
    edit_file(brief, "https://ensemble-demain.example.org/", "https://evil.example.com/")
    message = _only_error(check_project(EDITION), "brief")
    assert f"{brief}:" in message and "evil.example.com is not in links.allowed_domains" in message


def test_a_missing_brief_is_an_error_and_templates_are_still_rendered(home: Path) -> None:
    (inbox_of(home) / "briefs" / f"{EDITION}.yaml").unlink()
    readiness = check_project(EDITION)
    assert "no brief for this edition" in _only_error(readiness, "brief")
    status, message = _area(readiness, "templates")
    assert status == OK and "with the sample brief" in message


def test_an_unreadable_supporter_file_is_named(home: Path) -> None:
    export = inbox_of(home) / "supporters" / "export.csv"
    export.write_bytes(b"\x00\x01\x02 not a CSV \x00")
    os.utime(export, (FRESH, FRESH))
    message = _only_error(check_project(EDITION), "inbox")
    assert "export.csv" in message and "binary content" in message


def test_no_supporter_file_is_named(home: Path) -> None:
    (inbox_of(home) / "supporters" / "export.csv").unlink()
    assert "no supporter file" in _only_error(check_project(EDITION), "inbox")


def test_a_missing_suppression_folder_is_a_warning_as_the_night_goes_on(home: Path) -> None:
    """The night reads a missing folder as nobody suppressed (load_suppression): not a stop."""
    shutil.rmtree(inbox_of(home) / "suppression")
    readiness = check_project(EDITION)
    assert readiness.ready
    status, message = _area(readiness, "inbox")
    assert status == WARNING and "suppression: not found, so nobody is suppressed" in message


def test_an_old_export_is_a_warning(home: Path) -> None:
    export = inbox_of(home) / "supporters" / "export.csv"
    old = datetime(2026, 11, 20, 12, 0, tzinfo=UTC).timestamp()
    os.utime(export, (old, old))
    readiness = check_project(EDITION)
    assert readiness.ready
    status, message = _area(readiness, "inbox")
    assert status == WARNING and "84 h before the night starts" in message
    assert "2026-11-20 07:00 (America/Montreal)" in message


def test_the_next_edition_by_the_paris_clock() -> None:
    # 17:00 in Montréal is 23:00 in Paris: the next edition is tomorrow morning's.
    assert default_edition(datetime(2026, 11, 23, 22, 0, tzinfo=UTC)) == date(2026, 11, 24)
    # 05:00 Paris, before the 06:30 deadline: this morning's edition.
    assert default_edition(datetime(2026, 11, 24, 4, 0, tzinfo=UTC)) == date(2026, 11, 24)


def test_failure_raises_a_lone_error_as_it_was_and_lists_several(home: Path) -> None:
    settings = load_settings()
    brief = inbox_of(home) / "briefs" / f"{EDITION}.yaml"
    edit_file(brief, "https://ensemble-demain.example.org/", "https://evil.example.com/")
    alone = check_all(settings, EDITION).failure()
    assert isinstance(alone, BriefError) and not alone.retryable
    edit_file(home / "content_templates" / "brand.yaml", 'text: "#14213D"', 'text: "#DDDDDD"')
    several = check_all(settings, EDITION).failure()
    assert isinstance(several, NotReadyError) and not several.retryable
    assert "- brief: " in str(several) and "- cards: " in str(several)


def test_prepare_runs_the_same_checks_and_stops_the_night(home: Path) -> None:
    settings = load_settings()
    store = LocalStore(settings.work_dir)
    edit_file(
        home / "content_templates" / "posts" / "sms.j2", "{{ campaign.name }}", "{{ campaign.nam }}"
    )
    with pytest.raises(MatinaleError) as failed:
        night.run_prepare(settings, store, edition=EDITION, run="r1")
    assert "did you mean 'campaign.name'?" in str(failed.value) and "sms.j2" in str(failed.value)
    assert not failed.value.retryable
    assert not any(settings.work_dir.rglob("inputs.json"))
    # Fixed, the night prepares; the export is left for ingest to read.
    edit_file(
        home / "content_templates" / "posts" / "sms.j2", "{{ campaign.nam }}", "{{ campaign.name }}"
    )
    ctx = night.run_prepare(settings, store, edition=EDITION, run="r1")
    assert ctx["supporters_file"].endswith("export.csv")
