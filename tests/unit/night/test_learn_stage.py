"""The night's ``learn`` stage and what the content stage does with ``learned.json`` (issue 18
items 2 and 3): counts in a real SQLite database (written by the link service's writer)
change the leading angle of direct messages, each variant's page weight and the channel
order; with no counts nothing changes but the uniform weights."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from segment_samples import SENIORS

from matinale.learn.learner import CountRow
from matinale.links.counts import Counts, make_engine, migrate
from matinale.night import RunContext, run_content, run_learn
from matinale.settings import Delivery, Settings, load_settings
from matinale.store import LocalStore

ROOT = Path(__file__).resolve().parents[3]
EDITION = date(2026, 11, 24)


@pytest.fixture(scope="module")
def settings() -> Settings:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MATINALE_HOME", str(ROOT))
        return load_settings()


def _run(tmp_path: Path) -> tuple[LocalStore, RunContext]:
    text = (ROOT / "tests/unit/content/brief_v1.yaml").read_text(encoding="utf-8")
    brief = tmp_path / "2026-11-24.yaml"
    brief.write_text(text, encoding="utf-8")
    store = LocalStore(tmp_path / "work")
    ctx = RunContext(
        edition=EDITION,
        run="20261124T000000Z-abcd",
        supporters_file="unused.csv",
        brief_file=str(brief),
    )
    store.put_json(f"{ctx.prefix}/segments.json", {"segments": [SENIORS], "report": {}})
    return store, ctx


def _write(db_url: str, rows: list[CountRow]) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    for row in rows:
        moment = datetime.fromisoformat(row.hour).astimezone(UTC)
        writer = Counts(engine, clock=lambda moment=moment: moment)
        writer.add(row.edition, row.segment, row.event, (row.theme, row.channel, row.angle), row.n)
        writer.flush()
    engine.dispose()


def _morning(day: str, angle: str, shown: int, shared: int, channel: str = "whatsapp") -> list:
    hour = f"{day}T18:00+01:00"  # the band opens its messages at 18:00
    seg = SENIORS["id"]
    return [
        CountRow(hour, day, seg, "sante", channel, angle, "variant_shown", shown),
        CountRow(hour, day, seg, "sante", channel, angle, "share", shared),
        CountRow(hour, day, seg, "", "", "", "open", shown),
    ]


def test_without_counts_the_rules_angle_leads_and_weights_are_even(
    settings: Settings, tmp_path: Path
) -> None:
    store, ctx = _run(tmp_path)
    summary = run_learn(settings, store, ctx, f"sqlite:///{tmp_path / 'empty.db'}")
    assert summary["editions_read"] == 0 and summary["cells_with_counts"] == 0
    learned = store.get_json(f"{ctx.prefix}/learned.json")
    sante = learned["segments"]["65plus-p01"]["themes"]["sante"]
    assert sante["leading"] == "devoir-civique"  # the segment's own angle (framing.yaml rules)
    assert list(sante["weights"].values()) == pytest.approx([0.25] * 4)
    assert learned["segments"]["65plus-p01"]["send_hour"] == "07:30"
    # The campaign's own default send time, not the learner's.
    later = replace(settings, delivery=Delivery(send_time="08:15"))
    run_learn(later, store, ctx, f"sqlite:///{tmp_path / 'empty.db'}")
    assert (
        store.get_json(f"{ctx.prefix}/learned.json")["segments"]["65plus-p01"]["send_hour"]
        == "08:15"
    )
    run_learn(settings, store, ctx, f"sqlite:///{tmp_path / 'empty.db'}")
    run_content(settings, store, ctx, ["65plus-p01"])
    posts = store.get_json(f"{ctx.bundle}/65plus-p01/posts.json")
    assert "channel_order" not in posts
    sms = [p for p in posts["posts"] if p["channel"] == "sms" and p["theme"] == "sante"]
    assert sms[0]["angle"] == "devoir-civique"


def test_counts_change_the_leading_angle_the_weights_and_the_channel_order(
    settings: Settings, tmp_path: Path
) -> None:
    store, ctx = _run(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'links.db'}"
    rows = []
    for day in ("2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"):
        rows += _morning(day, "familles", 400, 60) + _morning(day, "devoir-civique", 400, 4)
        rows += _morning(day, "quotidien", 400, 6, channel="facebook")
    _write(db_url, rows)
    summary = run_learn(settings, store, ctx, db_url)
    assert summary["editions_read"] == 4 and summary["leads_changed"] == 1
    learned = store.get_json(f"{ctx.prefix}/learned.json")
    entry = learned["segments"]["65plus-p01"]
    sante = entry["themes"]["sante"]
    assert sante["leading"] == "familles"
    assert sante["weights"]["familles"] > 0.5
    assert entry["channels"][0] == "whatsapp"
    assert entry["send_hour"] == "18:00"

    run_content(settings, store, ctx, ["65plus-p01"])
    posts = store.get_json(f"{ctx.bundle}/65plus-p01/posts.json")
    assert posts["channel_order"][0] == "whatsapp"
    on_sante = [p for p in posts["posts"] if p["theme"] == "sante"]
    # Direct messages are sent once: their first variant makes the leading angle.
    for channel in ("sms", "email"):
        first = next(p for p in on_sante if p["channel"] == channel and p["variant"] == 1)
        assert first["angle"] == "familles", channel
    # Every variant carries its angle's weight tonight, for the page to draw from.
    for post in on_sante:
        assert post["weight"] == pytest.approx(sante["weights"][post["angle"]], abs=1e-6)
    # Seeded by the edition: the same counts give the same document.
    again = tmp_path / "again"
    again.mkdir()
    store2, ctx2 = _run(again)
    run_learn(settings, store2, ctx2, db_url)
    assert store2.get_json(f"{ctx2.prefix}/learned.json") == learned
