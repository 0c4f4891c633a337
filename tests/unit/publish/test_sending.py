"""When direct messages go out and how many a person gets (issue 18 items 3 and 4):
``send_at`` in Paris time with its offset, never before publication nor in the silence,
right across the DST changes; the 7-day message budget from the promoted delivery files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from matinale.publish.sending import messages_sent, send_time, send_times, within_budget

PARIS = ZoneInfo("Europe/Paris")
EARLY = datetime(2026, 1, 1, tzinfo=UTC)  # published long before any send time below


@dataclass(frozen=True)
class Window:
    starts: datetime
    ends: datetime


def _at(day: date, hhmm: str, **options: Any) -> str | None:
    return send_time(
        day, hhmm, zone=PARIS, published_at=options.pop("published_at", EARLY), **options
    )


def test_send_at_is_paris_time_with_its_offset_in_winter_and_summer() -> None:
    assert _at(date(2026, 11, 24), "07:30") == "2026-11-24T07:30+01:00"
    assert _at(date(2027, 6, 1), "18:00") == "2027-06-01T18:00+02:00"


def test_send_at_is_right_across_the_dst_changes() -> None:
    # 2027-03-28: clocks jump from 02:00 to 03:00, 02:30 does not exist.
    assert _at(date(2027, 3, 28), "02:30") == "2027-03-28T03:30+02:00"
    assert _at(date(2027, 3, 28), "07:30") == "2027-03-28T07:30+02:00"
    assert _at(date(2027, 3, 27), "07:30") == "2027-03-27T07:30+01:00"
    # 2026-10-25: 02:30 happens twice; the first one (summer time) is meant.
    assert _at(date(2026, 10, 25), "02:30") == "2026-10-25T02:30+02:00"
    assert _at(date(2026, 10, 25), "07:30") == "2026-10-25T07:30+01:00"


def test_send_at_is_never_before_the_publication() -> None:
    late = datetime(2026, 11, 24, 6, 45, 10, tzinfo=UTC)  # 07:45:10 in Paris
    assert _at(date(2026, 11, 24), "07:30", published_at=late) == "2026-11-24T07:46+01:00"
    assert _at(date(2026, 11, 24), "18:00", published_at=late) == "2026-11-24T18:00+01:00"


def test_send_at_is_never_inside_the_silence() -> None:
    # An overseas territory's silence starting on Friday 06:00 Paris time.
    window = Window(
        datetime(2027, 4, 9, 6, 0, tzinfo=PARIS), datetime(2027, 4, 10, 20, 0, tzinfo=PARIS)
    )
    assert _at(date(2027, 4, 9), "07:30", windows=[window]) is None
    assert _at(date(2027, 4, 8), "07:30", windows=[window]) == "2027-04-08T07:30+02:00"


def test_each_segment_gets_its_learned_hour_else_the_default() -> None:
    learned = {"segments": {"65plus-p01": {"send_hour": "18:00"}, "18-24-p02": {}}}
    times = send_times(
        ["65plus-p01", "18-24-p02", "t-75056"],
        learned,
        day=date(2026, 11, 24),
        default="07:30",
        zone=PARIS,
        published_at=EARLY,
    )
    assert times == {
        "65plus-p01": "2026-11-24T18:00+01:00",
        "18-24-p02": "2026-11-24T07:30+01:00",
        "t-75056": "2026-11-24T07:30+01:00",
    }
    assert set(
        send_times(
            ["a"], None, day=date(2026, 11, 24), default="09:15", zone=PARIS, published_at=EARLY
        ).values()
    ) == {"2026-11-24T09:15+01:00"}


def test_the_budget_drops_exactly_the_messages_over_it() -> None:
    rows = pd.DataFrame(
        {
            "supporter_id": ["A", "A", "B", "B", "C", "D"],
            "channel": ["sms", "email", "sms", "email", "sms", "email"],
        }
    )
    sent = {"A": 3, "B": 2, "C": 0, "D": 7}
    kept, held = within_budget(rows, sent, limit=3)
    # A and D are full; B has room for one (e-mail before SMS); C for all.
    assert kept.values.tolist() == [["B", "email"], ["C", "sms"]]
    assert held == {"rows": 4, "people": 3}
    everyone, none = within_budget(rows, {}, limit=3)
    assert len(everyone) == len(rows) and none == {"rows": 0, "people": 0}
    nobody, all_held = within_budget(rows, {}, limit=0)
    assert len(nobody) == 0 and all_held == {"rows": 6, "people": 4}


def _deliver(
    client: Any,
    bucket: str,
    day: str,
    run: str,
    rows: list[tuple[str, str]],
    *,
    promoted: bool = True,
) -> None:
    """A previous edition's delivery file (supporter_id, channel), promoted unless told not."""
    key = f"delivery/{day}/{run}/delivery.csv"
    body = "supporter_id,channel\n" + "".join(f"{who},{channel}\n" for who, channel in rows)
    client.put_object(Bucket=bucket, Key=key, Body=body.encode())
    if promoted:
        pointer = {"edition": day, "run": run, "delivery": key}
        client.put_object(
            Bucket=bucket, Key=f"delivery/{day}/current.json", Body=json.dumps(pointer).encode()
        )


@pytest.mark.s3
def test_messages_sent_reads_the_promoted_delivery_files_of_the_six_days_before(
    s3_server: Any, s3_buckets: dict[str, str]
) -> None:
    client = s3_server.client()
    bucket = s3_buckets["private"]

    def delivered(day: str, run: str, people: list[str], promoted: bool = True) -> None:
        _deliver(client, bucket, day, run, [(p, "sms") for p in people], promoted=promoted)

    delivered("2026-11-17", "r0", ["A"] * 5)  # 7 days before: outside the window
    delivered("2026-11-18", "r1", ["A", "B"])
    delivered("2026-11-20", "r2", ["A", "0042"])  # an id that reads as a number stays text
    delivered("2026-11-21", "r3", ["A", "B"])
    delivered("2026-11-21", "r3b", ["A", "B", "C"], promoted=False)  # a run never promoted
    delivered("2026-11-24", "r4", ["A"] * 4)  # tonight's own edition: not history
    sent, found = messages_sent(client, bucket, date(2026, 11, 24))
    assert found == ["2026-11-18", "2026-11-20", "2026-11-21"]
    assert sent == {"A": 3, "B": 2, "0042": 1}


@pytest.mark.s3
def test_the_plan_times_each_row_and_keeps_the_budget(
    s3_server: Any, s3_buckets: dict[str, str]
) -> None:
    from matinale.publish.sending import DeliveryPlan

    client = s3_server.client()
    bucket = s3_buckets["private"]
    _deliver(client, bucket, "2026-11-23", "r1", [("A", "sms"), ("A", "email"), ("A", "sms")])
    plan = DeliveryPlan(learned={"segments": {"65plus-p01": {"send_hour": "18:00"}}})
    hooks = plan.hooks(
        client,
        bucket,
        edition=date(2026, 11, 24),
        segments=["65plus-p01", "18-24-p01"],
        zone=PARIS,
        published_at=EARLY,
    )
    rows = pd.DataFrame(
        {
            "supporter_id": ["A", "B", "B"],
            "channel": ["email", "email", "sms"],
            "segment": ["65plus-p01", "18-24-p01", "18-24-p01"],
        }
    )
    left_out: dict[str, int] = {}
    for hook in hooks:
        rows = hook(rows, left_out)
    assert rows.values.tolist() == [
        ["B", "email", "18-24-p01", "2026-11-24T07:30+01:00"],
        ["B", "sms", "18-24-p01", "2026-11-24T07:30+01:00"],
    ]
    assert left_out == {"silence": 0, "over_budget": 1, "over_budget_people": 1}
