from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from matinale.content import BriefError, load_brief, render_segment_posts, tracked_link
from matinale.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
SEGMENT = {"id": "65plus-p01", "band": "65plus", "label": "65 ans et + · santé", "size": 120}


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    return load_settings()


def _brief(tmp_path: Path, edition: date, mutate=lambda text: text) -> Path:
    text = (ROOT / "content_templates" / "sample_brief.yaml").read_text(encoding="utf-8")
    text = text.replace("edition: 2026-11-24", f"edition: {edition.isoformat()}")
    path = tmp_path / f"{edition.isoformat()}.yaml"
    path.write_text(mutate(text), encoding="utf-8")
    return path


def test_sample_brief_renders_every_channel(settings, tmp_path: Path) -> None:
    brief = load_brief(_brief(tmp_path, date(2026, 11, 24)), date(2026, 11, 24))
    posts = render_segment_posts(SEGMENT, brief, campaign=settings.campaign, channels=settings.channels, templates_dir=settings.templates_dir)
    assert {p["channel"] for p in posts} == set(settings.channels)
    assert len(posts) == len(brief.themes) * len(settings.channels)
    civic = brief.framing["65plus"]
    assert all(civic in p["text"] for p in posts if p["channel"] in {"facebook", "x"})


def test_brief_of_another_day_is_refused(tmp_path: Path) -> None:
    path = _brief(tmp_path, date(2026, 11, 23))
    with pytest.raises(BriefError, match="does not match"):
        load_brief(path, date(2026, 11, 24))


def test_brief_text_is_data_not_template(settings, tmp_path: Path) -> None:
    path = _brief(tmp_path, date(2026, 11, 24), lambda t: t.replace("Un médecin pour chacun", "{{ 7 * 7 }} <script>alert(1)</script>"))
    brief = load_brief(path, date(2026, 11, 24))
    posts = render_segment_posts(SEGMENT, brief, campaign=settings.campaign, channels=("facebook", "email"), templates_dir=settings.templates_dir)
    facebook = next(p for p in posts if p["channel"] == "facebook" and p["theme"] == "sante")
    email = next(p for p in posts if p["channel"] == "email" and p["theme"] == "sante")
    assert "{{ 7 * 7 }}" in facebook["text"] and "49" not in facebook["text"]
    assert "<script>" not in email["html"] and "&lt;script&gt;" in email["html"]


def test_missing_field_is_named(tmp_path: Path) -> None:
    path = _brief(tmp_path, date(2026, 11, 24), lambda t: t.replace('    call_to_action: "Signez la pétition pour des prix justes"\n', ""))
    with pytest.raises(BriefError, match=r"themes\[0\]\.call_to_action"):
        load_brief(path)


def test_tracked_links_carry_no_personal_data() -> None:
    link = tracked_link("https://example.org/p?a=1", channel="x", edition=date(2026, 11, 24), content="65plus-p01-1")
    query = parse_qs(urlsplit(link).query)
    assert query == {"a": ["1"], "utm_source": ["matinale"], "utm_medium": ["x"], "utm_campaign": ["2026-11-24"], "utm_content": ["65plus-p01-1"]}
