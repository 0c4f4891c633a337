"""A channel is one block of channels.yaml and one template: nothing else lists channels.

Telegram is added to a copy of content_templates/ (its block in channels.yaml and
posts/telegram.j2 only) and to the copied campaign.yaml's channel list; the real content,
bundle and checks stages then run on a small sample. Any module still holding its own list
of channels (limits, labels, page channels, card formats, share endpoints) fails here.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from bundle_samples import card_jpeg
from markupsafe import escape

from matinale.content import load_brief
from matinale.night import RunContext, run_bundle, run_checks, run_content
from matinale.settings import SettingsError, load_settings
from matinale.store import LocalStore

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "unit" / "content" / "content_golden"
EDITION = date(2026, 11, 24)

TELEGRAM = """\
  telegram:
    name: Telegram
    label: Telegram (canaux et groupes)
    kind: social
    consent: consent_social
    platform: {limit: 4096}
    limit: 4096
    page: {order: 5, card: square}
    share: {order: 4, url: "https://t.me/share/url?url={link}&text={text}"}
"""
TEMPLATE = """\
{#- Telegram: pasted by activists into their channels and groups. -#}
**{{ theme.title }}**

{{ opener }} {{ theme.claim }}
{% for fact in facts %}
• {{ fact.text }} {{ fact.citation }}
{% endfor %}

{{ call }}
{{ link }}
"""
PEOPLE = pd.DataFrame(
    {
        "supporter_id": ["S0001234", "s0009999"],
        "first_name": ["Hélène", "Jean-Pierre"],
        "last_name": ["Dupont", "Le Gall"],
        "email": ["helene.dupont@example.org", ""],
    }
)


def _home(tmp_path: Path) -> Path:
    """A project copy with Telegram: channels.yaml, posts/telegram.j2 and campaign.yaml only."""
    home = tmp_path / "home"
    templates = home / "content_templates"
    shutil.copytree(
        ROOT / "content_templates", templates, ignore=shutil.ignore_patterns("fonts", "cards")
    )
    channels = templates / "channels.yaml"
    text = channels.read_text(encoding="utf-8")
    assert "\n\n# A post over its limit" in text
    channels.write_text(
        text.replace("\n\n# A post over its limit", f"\n{TELEGRAM}\n# A post over its limit"),
        encoding="utf-8",
    )
    (templates / "posts" / "telegram.j2").write_text(TEMPLATE, encoding="utf-8")
    campaign = (ROOT / "campaign.yaml").read_text(encoding="utf-8")
    listed = "channels: [x, facebook, instagram, whatsapp, sms, email]"
    assert listed in campaign
    (home / "campaign.yaml").write_text(
        campaign.replace(listed, "channels: [x, telegram, whatsapp, sms]"), encoding="utf-8"
    )
    return home


def test_telegram_is_yaml_and_one_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _home(tmp_path)
    monkeypatch.setenv("MATINALE_HOME", str(home))
    monkeypatch.delenv("MATINALE_CAMPAIGN_FILE", raising=False)  # this home's own campaign.yaml
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    settings = load_settings()
    assert settings.channels == ("x", "telegram", "whatsapp", "sms")
    assert settings.templates_dir == home / "content_templates"

    store = LocalStore(tmp_path / "work")
    ctx = RunContext(
        edition=EDITION,
        run="20261124T000000Z-tele",
        supporters_file="-",
        brief_file=str(GOLDEN / "brief.yaml"),
    )
    segments = json.loads((GOLDEN / "segments.json").read_text(encoding="utf-8"))["segments"][:2]
    store.put_json(f"{ctx.prefix}/segments.json", {"segments": segments})
    ids = [segment["id"] for segment in segments]

    # content: Telegram posts, counted and fitted like any channel.
    run_content(settings, store, ctx, ids)
    posts = json.loads(store.get_bytes(f"{ctx.bundle}/{ids[0]}/posts.json"))["posts"]
    telegram = [post for post in posts if post["channel"] == "telegram"]
    assert telegram and all(post["length"] <= 4096 for post in telegram)
    assert all("utm_medium=telegram" in post["link"] for post in telegram)
    order = list(dict.fromkeys(post["channel"] for post in posts))
    assert order == ["x", "telegram", "whatsapp", "sms"]  # campaign.yaml's order
    markdown = store.get_bytes(f"{ctx.bundle}/{ids[0]}/posts.md").decode("utf-8")
    assert "### Telegram · variante 1" in markdown

    # visuals (stand-in): one square and one landscape card per theme.
    brief = load_brief(GOLDEN / "brief.yaml", EDITION, allowed_domains=settings.allowed_domains)
    for segment in ids:
        cards = []
        for theme in brief.themes:
            for fmt in ("square", "landscape"):
                name = f"cards/{theme.id}-{fmt}.jpg"
                store.put_bytes(f"{ctx.bundle}/{segment}/{name}", card_jpeg(theme.id, fmt, segment))
                cards.append({"file": name, "theme": theme.id, "format": fmt, "alt": theme.title})
        store.put_json(f"{ctx.bundle}/{segment}/cards.json", {"segment": segment, "cards": cards})
    store.put_json(f"{ctx.prefix}/inputs.json", {"campaign.yaml": "0" * 64, "code_version": "test"})

    # bundle: Telegram on the page, with its label, its card and its share link.
    run_bundle(settings, store, ctx)
    page = store.get_bytes(f"{ctx.bundle}/{ids[0]}/index.html").decode("utf-8")
    assert ">Telegram (canaux et groupes)</h3>" in page
    theme = brief.themes[0].id
    block = page.split(f'id="post-{theme}-telegram"', 1)[1].split("</article>", 1)[0]
    shown = next(post for post in telegram if post["theme"] == theme)
    assert str(escape(shown["text"])) in block
    assert 'data-modele="https://t.me/share/url?url={link}&amp;text={text}"' in page
    assert ">Telegram</a></p>" in page  # last of the share links
    assert "WhatsApp, X, Facebook ou Telegram." in page
    # Page order: the registry's (WhatsApp first), not campaign.yaml's.
    assert page.index(f'id="post-{theme}-whatsapp"') < page.index(f'id="post-{theme}-x"')
    assert page.index(f'id="post-{theme}-x"') < page.index(f'id="post-{theme}-telegram"')
    assert f'id="post-{theme}-sms"' not in page  # direct messages are not shared

    # checks: the Telegram share link is a share endpoint; nothing else to report.
    store.put_frame(f"{ctx.prefix}/private/valid.parquet", PEOPLE)
    assert run_checks(settings, store, ctx) == {"links": 0, "manifest": 0, "pii": 0, "sizes": 0}


def test_campaign_channels_are_the_registrys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path)
    monkeypatch.setenv("MATINALE_HOME", str(home))
    monkeypatch.delenv("MATINALE_CAMPAIGN_FILE", raising=False)  # this home's own campaign.yaml
    (home / "campaign.yaml").write_text(
        (home / "campaign.yaml")
        .read_text(encoding="utf-8")
        .replace("[x, telegram, whatsapp, sms]", "[x, tiktok]"),
        encoding="utf-8",
    )
    with pytest.raises(
        SettingsError,
        match=r"campaign\.yaml:\d+: content\.channels\[1\]: unknown channel 'tiktok'.*telegram",
    ):
        load_settings()


def test_every_consent_column_is_a_supporter_file_column() -> None:
    from matinale.content import channels
    from matinale.ingest import CONSENT_FIELDS

    used = {channel.consent for channel in channels(ROOT / "content_templates")}
    assert used <= set(CONSENT_FIELDS), used - set(CONSENT_FIELDS)
