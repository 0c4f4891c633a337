"""The two clocks: every night of 2026 and 2027, the electoral silence, the CLI table."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from matinale.cli import main
from matinale.schedule import (
    approval_wait,
    deadline_after,
    edition_for,
    freeze_for,
    freeze_windows,
    next_nights,
    night_of,
    publication_decision,
    run_slug,
    schedule_rows,
    two_clocks,
)
from matinale.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
MONTREAL = ZoneInfo("America/Montreal")

# Editions (Paris dates) whose night starts at 20:00 in Montréal instead of 19:00: North
# America has changed clocks and Europe not yet. Taken from the published DST rules (second
# Sunday of March / first Sunday of November in North America, last Sundays of March and
# October in the EU), not from the code under test.
SHORT_OFFSET_WEEKS = [
    (date(2026, 3, 9), date(2026, 3, 29)),
    (date(2026, 10, 26), date(2026, 11, 1)),
    (date(2027, 3, 15), date(2027, 3, 28)),
    (date(2027, 11, 1), date(2027, 11, 7)),
]


def _all_editions() -> list[date]:
    day, last, days = date(2026, 1, 1), date(2027, 12, 31), []
    while day <= last:
        days.append(day)
        day += timedelta(days=1)
    return days


def _short(edition: date) -> bool:
    return any(first <= edition <= last for first, last in SHORT_OFFSET_WEEKS)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    return load_settings(
        ROOT / "campaign.yaml"
    )  # the repo's file, whatever MATINALE_CAMPAIGN_FILE says


@pytest.fixture
def clocks(settings: Settings):
    return settings.clocks


def _campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str) -> Settings:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    path = tmp_path / "campaign.yaml"
    path.write_text(
        (ROOT / "campaign.yaml").read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8"
    )
    return load_settings(path)


ELECTIONS = """
elections:
  polls_close: "20:00"
  days:
    - date: 2027-04-11
      name: Premier tour
      round: 1
      extra_windows:
        - {name: "Outre-mer (Amériques)", date: 2027-04-10, timezone: America/Martinique, polls_close: "19:00"}
    - {date: 2027-04-25, name: Second tour, round: 2, polls_close: "19:00"}
"""


# -- every night of 2026 and 2027 --------------------------------------------------------------


def test_every_night_of_2026_and_2027_is_fixed_in_paris(clocks) -> None:
    for edition in _all_editions():
        night = night_of(edition, clocks)
        start, deadline = night.start.astimezone(PARIS), night.deadline.astimezone(PARIS)
        assert (start.date(), start.time()) == (edition, time(1, 0)), edition
        assert (deadline.date(), deadline.time()) == (edition, time(6, 30)), edition
        assert night.brief_cutoff.astimezone(PARIS).time() == time(1, 30), edition
        # The night serves its own edition from start to just before the deadline.
        assert edition_for(night.start, clocks) == edition
        assert edition_for(night.deadline - timedelta(minutes=1), clocks) == edition
        assert edition_for(night.deadline, clocks) == edition + timedelta(days=1)
        assert deadline_after(night.start.astimezone(UTC), clocks) == night.deadline


def test_team_clock_shifts_exactly_on_the_short_offset_weeks(clocks) -> None:
    for edition in _all_editions():
        night = night_of(edition, clocks)
        start, deadline = night.start.astimezone(MONTREAL), night.deadline.astimezone(MONTREAL)
        expected = time(20, 0) if _short(edition) else time(19, 0)
        assert start.time() == expected, f"{edition}: starts {start:%H:%M} in Montréal"
        assert start.date() == edition - timedelta(days=1), "the Montréal evening is the day before"
        # On the two nights Paris changes clocks, the deadline moves with Paris, not Montréal.
        assert deadline.date() == edition
        assert deadline.time() in {time(0, 30), time(1, 30)}


def test_schedule_rows_flag_exactly_the_offset_changes(settings: Settings) -> None:
    rows = schedule_rows(date(2026, 1, 1), date(2027, 12, 31), settings)
    assert len(rows) == 730
    changes = [row.edition for row in rows if row.offset_changed]
    expected = []
    for first, last in SHORT_OFFSET_WEEKS:
        expected += [first, last + timedelta(days=1)]
    assert changes == expected
    assert all((row.offset_hours == 5) == _short(row.edition) for row in rows)
    assert not any(row.freeze for row in rows), "campaign.yaml declares no vote"


def test_real_night_length_changes_on_paris_dst_nights(clocks) -> None:
    lengths = {}
    for edition in (
        date(2026, 3, 29),
        date(2026, 3, 30),
        date(2026, 10, 25),
        date(2027, 3, 28),
        date(2027, 10, 31),
    ):
        night = night_of(edition, clocks)
        lengths[edition] = night.deadline.astimezone(UTC) - night.start.astimezone(UTC)
    assert lengths[date(2026, 3, 29)] == timedelta(hours=4, minutes=30)
    assert lengths[date(2026, 3, 30)] == timedelta(hours=5, minutes=30)
    assert lengths[date(2026, 10, 25)] == timedelta(hours=6, minutes=30)
    assert lengths[date(2027, 3, 28)] == timedelta(hours=4, minutes=30)
    assert lengths[date(2027, 10, 31)] == timedelta(hours=6, minutes=30)


@pytest.mark.parametrize(
    ("paris", "edition"),
    [
        (datetime(2026, 11, 24, 1, 0, tzinfo=PARIS), date(2026, 11, 24)),  # the scheduled night
        (
            datetime(2026, 11, 24, 6, 29, tzinfo=PARIS),
            date(2026, 11, 24),
        ),  # just before the deadline
        (
            datetime(2026, 11, 24, 6, 30, tzinfo=PARIS),
            date(2026, 11, 25),
        ),  # deadline passed: tomorrow
        (datetime(2026, 11, 23, 23, 50, tzinfo=PARIS), date(2026, 11, 24)),
    ],
)
def test_edition_is_the_paris_morning_served(clocks, paris: datetime, edition: date) -> None:
    assert edition_for(paris, clocks) == edition
    assert edition_for(paris.astimezone(UTC), clocks) == edition


def test_montreal_evening_maps_to_next_paris_morning(clocks) -> None:
    assert edition_for(datetime(2026, 11, 23, 19, 0, tzinfo=MONTREAL), clocks) == date(2026, 11, 24)
    # 00:45 Montréal is already 06:45 Paris: past the deadline, the night works for tomorrow.
    assert edition_for(datetime(2026, 11, 24, 0, 45, tzinfo=MONTREAL), clocks) == date(2026, 11, 25)


def test_naive_datetimes_are_refused(clocks) -> None:
    with pytest.raises(ValueError, match="aware"):
        edition_for(datetime(2026, 11, 24, 1, 0), clocks)


def test_next_nights_start_after_the_instant(clocks) -> None:
    after = datetime(
        2026, 3, 28, 0, 30, tzinfo=MONTREAL
    )  # 05:30 Paris: tonight's night already started
    nights = next_nights(after, 3, clocks)
    assert [n.edition for n in nights] == [date(2026, 3, 29), date(2026, 3, 30), date(2026, 3, 31)]
    assert two_clocks(nights[0].start, clocks) == "01:00 Paris (20:00 Montréal, veille)"
    assert two_clocks(nights[1].start, clocks) == "01:00 Paris (19:00 Montréal, veille)"


def test_run_slug_is_sortable_and_stable() -> None:
    started = datetime(2026, 11, 23, 0, 15, 2, tzinfo=UTC)
    slug = run_slug(started, "scheduled__2026-11-23")
    assert slug.startswith("20261123T001502Z-") and len(slug) == 21
    assert slug == run_slug(started, "scheduled__2026-11-23")
    assert slug != run_slug(started, "manual__2026-11-23")


def test_approval_waits_until_noon_paris_but_at_least_an_hour(clocks) -> None:
    edition = date(2026, 11, 24)
    assert approval_wait(edition, datetime(2026, 11, 24, 2, 0, tzinfo=PARIS), clocks) == timedelta(
        hours=10
    )
    # On the spring-forward night 02:00→03:00 does not exist: real time, not wall time.
    assert approval_wait(
        date(2026, 3, 29), datetime(2026, 3, 29, 1, 30, tzinfo=PARIS), clocks
    ) == timedelta(hours=9, minutes=30)
    assert approval_wait(edition, datetime(2026, 11, 25, 9, 0, tzinfo=PARIS), clocks) == timedelta(
        hours=1
    )


# -- the electoral silence ---------------------------------------------------------------------


def test_silence_runs_from_eve_midnight_paris_until_polls_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _campaign(tmp_path, monkeypatch, ELECTIONS)
    first = settings.elections[0]
    assert (first.round, first.extra_windows[0].zone.key) == (1, "America/Martinique")
    cases = {
        datetime(2027, 4, 10, 0, 0, tzinfo=PARIS): "Premier tour",  # eve, 00:00 Paris
        datetime(2027, 4, 11, 19, 59, tzinfo=PARIS): "Premier tour",
        datetime(2027, 4, 11, 20, 0, tzinfo=PARIS): None,  # polls closed
        datetime(2027, 4, 23, 23, 59, tzinfo=PARIS): None,  # no territory declared for round 2
        datetime(2027, 4, 24, 0, 0, tzinfo=PARIS): "Second tour",
        datetime(2027, 4, 25, 19, 0, tzinfo=PARIS): None,  # this round closes at 19:00
    }
    for instant, name in cases.items():
        window = freeze_for(instant, settings)
        assert (window.election.name if window else None) == name, instant


def test_earlier_territory_extends_the_silence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _campaign(tmp_path, monkeypatch, ELECTIONS)
    territory = [w for w in freeze_windows(settings) if w.territory]
    assert len(territory) == 1
    # Martinique (UTC-4) votes on Saturday: its silence starts Friday 00:00 there = 06:00 Paris.
    assert territory[0].starts == datetime(2027, 4, 9, 6, 0, tzinfo=PARIS)
    assert freeze_for(datetime(2027, 4, 9, 5, 59, tzinfo=PARIS), settings) is None
    window = freeze_for(datetime(2027, 4, 9, 6, 0, tzinfo=PARIS), settings)
    assert window is not None and window.territory == "Outre-mer (Amériques)"
    assert "Outre-mer (Amériques)" in window.reason and "L49" in window.reason


def test_publication_decision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _campaign(tmp_path, monkeypatch, ELECTIONS)

    def decide(
        edition: date, now: datetime, *, explicit: bool = False, dry_run: bool = False
    ) -> str:
        return publication_decision(
            edition, now, settings, explicit=explicit, dry_run=dry_run
        ).status

    night = datetime(2027, 4, 8, 3, 0, tzinfo=PARIS)
    assert decide(date(2027, 4, 8), night) == "publish"
    assert decide(date(2027, 4, 8), night, dry_run=True) == "dry_run"
    # The Saturday and Sunday editions are silent; Monday's is free again.
    assert decide(date(2027, 4, 10), datetime(2027, 4, 10, 3, 0, tzinfo=PARIS)) == "frozen"
    assert decide(date(2027, 4, 11), datetime(2027, 4, 11, 3, 0, tzinfo=PARIS)) == "frozen"
    assert decide(date(2027, 4, 12), datetime(2027, 4, 12, 3, 0, tzinfo=PARIS)) == "publish"
    # Built early on Thursday for the Saturday morning: its morning is silent, so no.
    assert (
        decide(date(2027, 4, 10), datetime(2027, 4, 8, 15, 0, tzinfo=PARIS), explicit=True)
        == "frozen"
    )
    # A rerun chosen by staff during the silence is refused too: the law wins over Params.
    decision = publication_decision(
        date(2027, 4, 8),
        datetime(2027, 4, 10, 9, 0, tzinfo=PARIS),
        settings,
        explicit=True,
        dry_run=False,
    )
    assert (
        not decision.publish
        and "Premier tour" in decision.reason
        and "08/04/2027" in decision.reason
    )
    # A scheduled night stuck past midnight never publishes yesterday's edition; staff may force it.
    assert decide(date(2027, 5, 3), datetime(2027, 5, 4, 0, 10, tzinfo=PARIS)) == "stale"
    assert (
        decide(date(2027, 5, 3), datetime(2027, 5, 4, 0, 10, tzinfo=PARIS), explicit=True)
        == "publish"
    )
    # Late but the same day (09:00 after a 06:30 deadline) still publishes: late beats never.
    assert decide(date(2027, 5, 3), datetime(2027, 5, 3, 9, 0, tzinfo=PARIS)) == "publish"


def test_schedule_rows_flag_freeze_nights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _campaign(tmp_path, monkeypatch, ELECTIONS)
    rows = schedule_rows(date(2027, 4, 8), date(2027, 4, 12), settings)
    assert [row.freeze is not None for row in rows] == [False, True, True, True, False]
    assert (
        rows[1].freeze.territory == "Outre-mer (Amériques)"
    )  # Friday's morning: Martinique is silent


# -- settings of the clocks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('clocks:\n  nightly_start: "02:30"\n', "does not exist on 20.*-03-.* Europe/Paris"),
        (
            'clocks:\n  publish_deadline: "02:30"\n  nightly_start: "01:00"\n  brief_cutoff: "01:30"\n',
            "does not exist",
        ),
        (
            'clocks:\n  nightly_start: "01:45"\n  brief_cutoff: "01:30"\n',
            "nightly_start ≤ brief_cutoff ≤ publish_deadline",
        ),
        ('clocks:\n  approval_closes: "05:00"\n', "approval_closes"),
        ("clocks:\n  team_timezone: America/Montréal\n", "clocks.team_timezone"),
        ("elections:\n  days:\n    - {date: 2027-13-01}\n", r"elections.days\[0\].date"),
        (
            "elections:\n  days:\n    - {date: 2027-04-11, round: premier}\n",
            r"elections.days\[0\].round",
        ),
        (
            "elections:\n  days:\n    - {date: 2027-04-11, extra_windows: [{name: x}]}\n",
            "extra_windows",
        ),
        ("retention:\n  private_outputs_days: 0\n", "retention"),
    ],
)
def test_bad_clock_values_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        _campaign(tmp_path, monkeypatch, extra)


def test_start_before_midnight_belongs_to_the_evening_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _campaign(
        tmp_path, monkeypatch, 'clocks:\n  nightly_start: "23:30"\n  brief_cutoff: "00:15"\n'
    )
    night = night_of(date(2026, 11, 24), settings.clocks)
    assert night.start == datetime(2026, 11, 23, 23, 30, tzinfo=PARIS)
    assert night.brief_cutoff == datetime(2026, 11, 24, 0, 15, tzinfo=PARIS)
    assert edition_for(night.start, settings.clocks) == date(2026, 11, 24)


# -- the command ----------------------------------------------------------------------------


def test_schedule_command_prints_both_zones_and_utc(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    assert main(["schedule", "--from", "2026-03-28", "--to", "2026-03-30"]) == 0
    out = capsys.readouterr().out
    header, _, *lines = out.splitlines()
    for column in (
        "start Paris",
        "start Montréal",
        "start UTC",
        "deadline Paris",
        "deadline Montréal",
        "deadline UTC",
    ):
        assert column in header
    by_edition = {line.split()[1]: line for line in lines if line[:3] in {"Sat", "Sun", "Mon"}}
    assert (
        "03-27 20:00" in by_edition["2026-03-28"]
        and "OFFSET CHANGE" not in by_edition["2026-03-28"]
    )
    assert "night lasts 4h30" in by_edition["2026-03-29"]
    assert (
        "03-29 19:00" in by_edition["2026-03-30"]
        and "OFFSET CHANGE (+6 h)" in by_edition["2026-03-30"]
    )
    assert "3 nights, 1 offset change(s), 0 freeze night(s)" in out


def test_schedule_command_flags_freeze_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(
        (ROOT / "campaign.yaml").read_text(encoding="utf-8") + ELECTIONS, encoding="utf-8"
    )
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_CAMPAIGN_FILE", str(path))
    assert main(["schedule", "--from", "2027-04-09", "--to", "2027-04-12", "--markdown"]) == 0
    out = capsys.readouterr().out
    freeze_lines = [line for line in out.splitlines() if "FREEZE" in line]
    # Friday's morning is silent too: Martinique votes on Saturday, its eve starts 06:00 Paris.
    assert [line.split(" | ")[0] for line in freeze_lines] == [
        "| Fri 2027-04-09",
        "| Sat 2027-04-10",
        "| Sun 2027-04-11",
    ]
    assert "Outre-mer (Amériques)" in freeze_lines[0]
    assert "3 freeze night(s)" in out


def test_schedule_command_refuses_bad_dates(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    assert main(["schedule", "--from", "2026-04-02", "--to", "2026-04-01"]) == 2
    assert "before --from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["schedule", "--from", "24/11/2026"])
