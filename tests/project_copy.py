"""A throwaway copy of the project's editable files, for tests that change them."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_project(tmp_path: Path) -> Path:
    """``tmp_path/home`` with campaign.yaml, segments/ and content_templates/ (fonts linked,
    not copied: they are large and never edited by a test)."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "campaign.yaml", home / "campaign.yaml")
    shutil.copytree(ROOT / "segments", home / "segments")
    templates = ROOT / "content_templates"
    shutil.copytree(templates, home / "content_templates", ignore=shutil.ignore_patterns("fonts"))
    (home / "content_templates" / "fonts").symlink_to(templates / "fonts")
    return home
