"""When direct messages go out, and how many a person may get (issue 18 items 3 and 4).

``send_times``: each segment's ``send_at`` for the delivery file, Paris local time with its
offset (``2026-11-24T18:00+01:00``): the hour its age band opens most (``learned.json``'s
``send_hour``), else ``delivery.send_time`` (07:30). Never before the publication (then
the next minute after it), never inside an electoral silence window (then no time at all:
those rows are held, and counted), right across the DST changes (a time the clocks skip,
02:30 on the last Sunday of March, is 03:30 summer time; one they repeat is its first).

``messages_sent`` and ``within_budget``: at most ``delivery.max_messages_per_week`` direct
messages per person in any 7 days, counted from the retained private delivery history
(the promoted delivery file of each of the 6 previous editions, ``delivery/<date>/
current.json``). A person over budget tonight loses the rows that do not fit, e-mail kept
before SMS; their count goes to ``delivery.json`` and compliance.json (never who).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from matinale.publish.delivery import RowHook
from matinale.s3types import S3Client

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BUDGET_DAYS",
    "DeliveryPlan",
    "CHANNEL_PREFERENCE",
    "messages_sent",
    "send_time",
    "send_times",
    "within_budget",
]

log = logging.getLogger(__name__)

#: The rolling window of the message budget, tonight included.
BUDGET_DAYS = 7
#: Which of a person's messages is kept first when the budget leaves room for fewer.
CHANNEL_PREFERENCE = ("email", "sms")


class _Window(Protocol):
    """A silence window (``matinale.schedule.Freeze``): from ``starts`` until ``ends``."""

    @property
    def starts(self) -> datetime: ...

    @property
    def ends(self) -> datetime: ...


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def send_time(
    day: date,
    hhmm: str,
    *,
    zone: ZoneInfo,
    published_at: datetime,
    windows: Sequence[_Window] = (),
) -> str | None:
    """``send_at`` on ``day`` at ``hhmm`` local time (module docstring), or None when that
    moment is inside a silence window."""
    wall = datetime.combine(day, _hhmm(hhmm), tzinfo=zone)
    # Through UTC and back: a wall time the clocks skip comes out an hour later, in summer time.
    moment = wall.astimezone(UTC).astimezone(zone)
    if moment < published_at:
        after = published_at.astimezone(zone)
        moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if any(w.starts <= moment < w.ends for w in windows):
        return None
    return moment.isoformat(timespec="minutes")


def send_times(
    segments: Iterable[str],
    learned: Mapping[str, Any] | None,
    *,
    day: date,
    default: str,
    zone: ZoneInfo,
    published_at: datetime,
    windows: Sequence[_Window] = (),
) -> dict[str, str | None]:
    """``send_at`` of each segment: its learned ``send_hour`` (``learned``: learned.json),
    else ``default``."""
    by_segment = (learned or {}).get("segments", {})
    out: dict[str, str | None] = {}
    for segment in segments:
        hhmm = str((by_segment.get(segment) or {}).get("send_hour") or default)
        out[segment] = send_time(day, hhmm, zone=zone, published_at=published_at, windows=windows)
    return out


def _delivery_column(body: bytes, column: str) -> list[str]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        io.BytesIO(body),
        convert_options=pacsv.ConvertOptions(
            include_columns=[column], column_types={column: pa.string()}
        ),
    )
    return [str(v) for v in table.column(column).to_pylist()]


def messages_sent(
    client: S3Client, bucket: str, edition: date, days: int = BUDGET_DAYS
) -> tuple[dict[str, int], list[str]]:
    """Direct messages per supporter id in the ``days - 1`` editions before ``edition`` (their
    promoted delivery files), and the editions found. An edition without a published
    delivery file (no night, a dry run, files past retention) adds nothing."""
    from collections import Counter

    from botocore.exceptions import ClientError

    counted: Counter[str] = Counter()
    found: list[str] = []
    for back in range(days - 1, 0, -1):
        day = (edition - timedelta(days=back)).isoformat()
        try:
            pointer = json.loads(
                client.get_object(Bucket=bucket, Key=f"delivery/{day}/current.json")["Body"].read()
            )
            body = client.get_object(Bucket=bucket, Key=str(pointer["delivery"]))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                continue
            raise
        counted.update(_delivery_column(body, "supporter_id"))
        found.append(day)
    return dict(counted), found


def within_budget(
    rows: pd.DataFrame, sent: Mapping[str, int], limit: int
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows that keep everyone at ``limit`` messages or fewer over the window (``sent``:
    :func:`messages_sent`), a person's rows kept in :data:`CHANNEL_PREFERENCE` order; and
    how many rows and people were held back. ``rows`` needs ``supporter_id`` and
    ``channel``, each person's rows together."""
    if not len(rows):
        return rows, {"rows": 0, "people": 0}
    prior = rows["supporter_id"].map(sent).fillna(0).astype("int64")
    rank = {channel: i for i, channel in enumerate(CHANNEL_PREFERENCE)}
    order = rows["channel"].map(rank).fillna(len(rank)).astype("int64")
    # Each row's place among its person's rows tonight, preferred channel first.
    place = (
        rows.assign(_order=order)
        .sort_values(["supporter_id", "_order"], kind="stable")
        .groupby("supporter_id", sort=False)
        .cumcount()
        .reindex(rows.index)
    )
    keep = (prior + place) < limit
    held = rows.loc[~keep, "supporter_id"]
    return rows[keep.to_numpy()], {"rows": int(len(held)), "people": int(held.nunique())}


@dataclass(frozen=True)
class DeliveryPlan:
    """What publish needs to time and cap tonight's direct messages: the run's learned.json
    (None: every segment at ``send_time``), the silence windows and the budget."""

    learned: Mapping[str, Any] | None = None
    send_time: str = "07:30"
    max_messages_per_week: int = 3
    windows: Sequence[_Window] = ()

    def hooks(
        self,
        client: S3Client,
        private_bucket: str,
        *,
        edition: date,
        segments: Iterable[str],
        zone: ZoneInfo,
        published_at: datetime,
    ) -> list[RowHook]:
        """The delivery file's row hooks: ``send_at`` per row (rows inside a silence held
        back, counted ``silence``), then the message budget (``over_budget`` rows,
        ``over_budget_people``)."""
        times = send_times(
            segments,
            self.learned,
            day=edition,
            default=self.send_time,
            zone=zone,
            published_at=published_at,
            windows=self.windows,
        )
        sent, found = messages_sent(client, private_bucket, edition)
        log.info(
            "Delivery: send_at from %s; budget %d messages in 7 days, history of %d edition(s) "
            "(%s), %d people with messages in it",
            "learned.json" if self.learned else "the default time",
            self.max_messages_per_week,
            len(found),
            ", ".join(found) or "none",
            len(sent),
        )
        limit = self.max_messages_per_week

        def timed(rows: pd.DataFrame, left_out: dict[str, int]) -> pd.DataFrame:
            rows = rows.assign(send_at=rows["segment"].map(times))
            held = rows["send_at"].isna()
            left_out["silence"] = left_out.get("silence", 0) + int(held.sum())
            return rows[~held.to_numpy()].reset_index(drop=True)

        def budget(rows: pd.DataFrame, left_out: dict[str, int]) -> pd.DataFrame:
            kept, held = within_budget(rows, sent, limit)
            left_out["over_budget"] = left_out.get("over_budget", 0) + held["rows"]
            left_out["over_budget_people"] = left_out.get("over_budget_people", 0) + held["people"]
            return kept.reset_index(drop=True)

        return [timed, budget]
