"""The learner (issue 18, item 2): what it learns from count rows, and what it refuses to."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from matinale.learn import learn, read_counts, recent_editions
from matinale.learn.learner import CountRow, band_of
from matinale.links.counts import Counts, make_engine, migrate

ANGLES = ["devoir-civique", "familles", "quotidien"]
SEGMENT = "65plus-p01"
THEME = "sante"


def _eligible(segment: str, theme: str) -> list[str]:
    return ANGLES


def _cell(
    angle: str, shown: int, shared: int, *, day: str = "2027-01-04", segment: str = SEGMENT
) -> list[CountRow]:
    """One angle's exposures and shares on ``day`` (its own edition), shares half copies."""
    hour = f"{day}T08:00+01:00"
    rows = [CountRow(hour, day, segment, THEME, "whatsapp", angle, "variant_shown", shown)]
    if shared:
        rows.append(CountRow(hour, day, segment, THEME, "whatsapp", angle, "copy", shared // 2))
        rows.append(
            CountRow(hour, day, segment, THEME, "whatsapp", angle, "share", shared - shared // 2)
        )
    return rows


def _learn(rows: list[CountRow], **options: object) -> dict:
    segments = options.pop("segments", {SEGMENT: "65plus"})
    return learn(
        rows,
        segments=segments,  # type: ignore[arg-type]
        themes=[THEME],
        eligible=_eligible,
        edition="2027-02-01",
        **options,  # type: ignore[arg-type]
    )


def _theme(document: dict, segment: str = SEGMENT) -> dict:
    return document["segments"][segment]["themes"][THEME]


def test_band_of_reads_segment_ids_and_territorial_packs() -> None:
    assert band_of("65plus-p03") == "65plus"
    assert band_of("18-24-p12") == "18-24"
    assert band_of("t-29") == "territory"


def test_converges_to_the_angle_that_gets_shared() -> None:
    """Protects: the weights follow the share rate (2 % vs 5 % over 2,000 exposures each)."""
    rows = _cell("devoir-civique", 2000, 40) + _cell("familles", 2000, 100)
    rows += _cell("quotidien", 2000, 40)
    entry = _theme(_learn(rows, seed=7))
    assert entry["leading"] == "familles"
    assert entry["weights"]["familles"] > 0.9
    assert sum(entry["weights"].values()) == pytest.approx(1.0)
    assert min(entry["weights"].values()) >= 0.05 / 3 - 1e-12  # the exploration floor
    best = entry["posterior"]["familles"]
    assert (best["shares"], best["exposures"], best["source"]) == (100, 2000, "segment")
    assert best["low"] < 0.05 < best["high"]
    assert best["low"] > entry["posterior"]["quotidien"]["high"]


def test_uniform_weights_and_default_hour_without_counts() -> None:
    """Protects: a first night (no counts) keeps today's even variants and 07:30."""
    document = _learn([], seed=3)
    entry = _theme(document)
    assert entry["weights"] == {angle: 1 / 3 for angle in ANGLES}
    assert entry["leading"] == "devoir-civique"  # the rule's angle, listed first
    assert {p["source"] for p in entry["posterior"].values()} == {"prior"}
    segment = document["segments"][SEGMENT]
    assert (segment["send_hour"], segment["send_hour_source"]) == ("07:30", "default")
    assert segment["channels"] == []
    assert document["skipped"] == {"under_floor": 0, "silence_days": 0}


def test_cells_under_the_floor_teach_nothing() -> None:
    """Protects the k-anonymity floor: 40 exposures (< 50) with every one shared move nothing,
    and their counts are not shown."""
    rows = _cell("familles", 40, 40) + _cell("quotidien", 40, 0)
    document = _learn(rows, k_min=50, seed=1)
    entry = _theme(document)
    assert entry["weights"] == {angle: 1 / 3 for angle in ANGLES}
    assert entry["posterior"]["familles"]["exposures"] == 0
    assert entry["posterior"]["familles"]["shares"] == 0
    assert document["skipped"]["under_floor"] == 2
    moved = _theme(_learn(rows, k_min=40, seed=1))  # the same counts at a lower floor do teach
    assert moved["weights"]["familles"] > 0.5


def test_thin_segments_pool_their_band_then_the_floor_applies() -> None:
    """Protects the pooling: two segments of a band with 30 exposures each are under the
    floor alone but their band (60) is not, and a third segment of the band, with no counts
    of its own, starts from what the band learnt."""
    segments = {"65plus-p01": "65plus", "65plus-p02": "65plus", "65plus-p03": "65plus"}
    rows = []
    for segment in ("65plus-p01", "65plus-p02"):
        rows += _cell("familles", 30, 12, segment=segment)
        rows += _cell("quotidien", 30, 0, segment=segment)
        rows += _cell("devoir-civique", 30, 0, segment=segment)
    document = _learn(rows, segments=segments, k_min=50, seed=2)
    for segment in segments:
        entry = _theme(document, segment)
        assert entry["posterior"]["familles"]["source"] == "band"
        assert entry["posterior"]["familles"]["exposures"] == 0  # its own cell is not shown
        assert entry["leading"] == "familles"
    assert document["skipped"]["under_floor"] == 6


def test_silence_days_teach_nothing() -> None:
    """Protects: counts of a day inside the electoral silence freeze learning: the weights
    stay those learnt without them (while the same rows outside the silence do move them)."""
    before = _cell("familles", 500, 20) + _cell("quotidien", 500, 15)
    before += _cell("devoir-civique", 500, 10)
    eve = _cell("devoir-civique", 5000, 900, day="2027-01-09")
    silent = lambda day: day == date(2027, 1, 9)  # noqa: E731
    frozen = _learn(before + eve, silent=silent, seed=5)
    assert _theme(frozen)["weights"] == _theme(_learn(before, seed=5))["weights"]
    assert frozen["skipped"]["silence_days"] == 1
    assert _theme(_learn(before + eve, seed=5))["leading"] == "devoir-civique"


def test_same_counts_and_seed_give_the_same_weights() -> None:
    """Protects reproducibility: row order does not matter, the seed does."""
    rows = _cell("familles", 300, 12) + _cell("quotidien", 300, 10)
    rows += _cell("devoir-civique", 300, 9)
    shuffled = rows[:]
    random.Random(4).shuffle(shuffled)
    first = _learn(rows, seed=11)
    assert _learn(shuffled, seed=11) == first
    assert _theme(_learn(rows, seed=12))["weights"] != _theme(first)["weights"]


def test_previews_never_enter_the_posterior() -> None:
    """Protects: link previews are reported but never counted as shares, and copies and
    shares beyond the exposures are capped (the posterior stays proper)."""
    rows = _cell("familles", 200, 10) + _cell("quotidien", 200, 10)
    rows += _cell("devoir-civique", 200, 10)
    previews = [
        CountRow(
            "2027-01-04T09:00+01:00",
            "2027-01-04",
            SEGMENT,
            THEME,
            "whatsapp",
            "familles",
            "preview",
            5000,
        )
    ]
    plain, with_previews = _learn(rows, seed=9), _learn(rows + previews, seed=9)
    assert _theme(with_previews)["weights"] == _theme(plain)["weights"]
    familles = _theme(with_previews)["posterior"]["familles"]
    assert familles["previews"] == 5000
    assert familles["mean"] == _theme(plain)["posterior"]["familles"]["mean"]
    overshared = _theme(_learn(_cell("familles", 60, 400), seed=9))["posterior"]["familles"]
    assert (overshared["shares"], overshared["exposures"]) == (60, 60)
    assert 0 < overshared["low"] <= overshared["mean"] <= overshared["high"] <= 1


def test_send_hour_and_channels_follow_the_band() -> None:
    """Protects: the send hour is the band's busiest Paris hour of opens and clicks, and the
    page's channel order follows the share rate."""
    rows = []
    for hour, opens in ((7, 30), (19, 80), (21, 10)):
        stamp = f"2027-01-04T{hour:02d}:00+01:00"
        rows.append(CountRow(stamp, "2027-01-04", "65plus-p02", "", "", "", "open", opens))
    for channel, shared in (("whatsapp", 5), ("facebook", 40), ("x", 15)):
        rows.append(
            CountRow(
                "2027-01-04T08:00+01:00",
                "2027-01-04",
                SEGMENT,
                THEME,
                channel,
                "familles",
                "variant_shown",
                400,
            )
        )
        rows.append(
            CountRow(
                "2027-01-04T08:00+01:00",
                "2027-01-04",
                SEGMENT,
                THEME,
                channel,
                "familles",
                "share",
                shared,
            )
        )
    document = _learn(rows, seed=1)
    segment = document["segments"][SEGMENT]
    assert (segment["send_hour"], segment["send_hour_source"]) == ("19:00", "band")
    assert document["bands"]["65plus"]["hours"][19] == 80
    assert segment["channels"] == ["facebook", "x", "whatsapp"]


def test_counts_written_by_the_service_writer_read_back(tmp_path: Path) -> None:
    """Protects the reader: the rows the link service's writer stores in SQLite are the ones
    learnt, from the N most recent editions before tonight's only."""
    engine = make_engine(f"sqlite:///{tmp_path / 'links.db'}")
    migrate(engine)
    rows = []
    for day in ("2027-01-02", "2027-01-03", "2027-01-04", "2027-02-01"):
        rows += _cell("familles", 300, 30, day=day) + _cell("quotidien", 300, 3, day=day)
    for row in rows:
        moment = datetime.fromisoformat(row.hour).astimezone(UTC)
        writer = Counts(engine, clock=lambda moment=moment: moment)
        writer.add(row.edition, row.segment, row.event, (row.theme, row.channel, row.angle), row.n)
        writer.flush()
    editions = recent_editions(engine, "2027-02-01", 2)
    assert editions == ["2027-01-03", "2027-01-04"]
    read = read_counts(engine, editions)
    assert sorted(read) == sorted(tuple(r) for r in rows if r.edition in editions)
    document = _learn(read, editions=editions, seed=4)
    assert document["editions_read"] == editions
    assert _theme(document)["posterior"]["familles"]["exposures"] == 600
    engine.dispose()


def test_the_night_learns_from_its_database_with_the_campaign_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects the night's entry point: the counts database named by the environment, the
    campaign's ``learn:`` settings, its electoral silence (the eve of 2027-04-11 and the day
    itself teach nothing) and framing.yaml's eligible angles."""
    from matinale.content.rules import load_rules
    from matinale.learn import eligible_from_rules, learn_from_database, silence_days
    from matinale.settings import load_settings

    root = Path(__file__).resolve().parents[3]
    monkeypatch.setenv("MATINALE_HOME", str(root))
    monkeypatch.setenv("MATINALE_LINKS_DB_URL", f"sqlite:///{tmp_path / 'links.db'}")
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(
        (root / "campaign.yaml").read_text(encoding="utf-8")
        + "\nelections:\n  days:\n    - {date: 2027-04-11, name: Premier tour, round: 1}\n",
        encoding="utf-8",
    )
    settings = load_settings(campaign)
    silent = silence_days(settings)
    assert [silent(date(2027, 4, d)) for d in (9, 10, 11, 12)] == [False, True, True, False]
    engine = make_engine(f"sqlite:///{tmp_path / 'links.db'}")
    migrate(engine)
    rows = _cell("familles", 400, 40, day="2027-04-09") + _cell(
        "quotidien", 400, 4, day="2027-04-09"
    )
    eve = CountRow(
        "2027-04-10T09:00+02:00",
        "2027-04-09",
        SEGMENT,
        THEME,
        "whatsapp",
        "quotidien",
        "share",
        300,
    )
    for row in [*rows, eve]:
        moment = datetime.fromisoformat(row.hour).astimezone(UTC)
        writer = Counts(engine, clock=lambda moment=moment: moment)
        writer.add(row.edition, row.segment, row.event, (row.theme, row.channel, row.angle), row.n)
        writer.flush()
    segments = {SEGMENT: "65plus"}
    eligible = eligible_from_rules(load_rules(root / "content_templates"), segments)
    assert "familles" in eligible(SEGMENT, THEME) and "quotidien" in eligible(SEGMENT, THEME)
    document = learn_from_database(
        settings, segments=segments, themes=[THEME], eligible=eligible, edition="2027-04-12", seed=1
    )
    assert document["editions_read"] == ["2027-04-09"]
    assert document["skipped"]["silence_days"] == 1
    assert (document["floor"], document["k_min"]) == (
        settings.learning.exploration_floor,
        settings.learning.min_exposures,
    )
    entry = _theme(document)
    assert entry["leading"] == "familles"
    assert entry["posterior"]["quotidien"]["shares"] == 4  # the eve's 300 shares left out
    engine.dispose()
