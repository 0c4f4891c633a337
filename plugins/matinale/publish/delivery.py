"""The private delivery file: one row per consenting supporter and channel with the link
to their segment's page and, for those who live in a territorial pack's territory, that
pack's link too; written as CSV with Arrow kernels to the private bucket."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

from matinale.checks import normalise_phone
from matinale.publish.s3 import _put_json
from matinale.s3types import S3Client

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DELIVERY", "DELIVERY_COLUMNS", "delivery_key", "delivery_rows", "write_delivery"]

DELIVERY = "delivery"
DELIVERY_COLUMNS = (
    "supporter_id",
    "channel",
    "address",
    "segment",
    "link",
    "territory",
    "territory_link",
)
#: Territorial packs (hand-written or automatic) are the segments with this prefix.
TERRITORY_PREFIX = "t-"
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[A-Za-z]{2,}$")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
#: First characters that make a spreadsheet read a cell as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: str) -> str:
    """Neutralise spreadsheet formulas (= + - @) except in an E.164 phone, which is data."""
    if value[:1] in _FORMULA_STARTS and not _E164.match(value):
        return "'" + value
    return value


def delivery_rows(
    contacts: pd.DataFrame,
    assignments: pd.DataFrame,
    links: Mapping[str, str],
    memberships: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per consenting supporter and channel (SMS, e-mail): channel, address, segment,
    link to that segment's page and, for a supporter in a territorial pack with a page, that
    pack (``territory``) and its link (``territory_link``; both empty otherwise). The
    consent rules are the row's: no row, no territorial link either. ``memberships`` is the
    segment stage's ``private/territories.parquet`` (``supporter_id``, ``pack_id``); rows of
    ``assignments`` naming a territorial pack count as memberships too. Counts per channel
    and segment, and of what was left out."""
    import pandas as pd

    segment_column = "segment_id" if "segment_id" in assignments else "segment"
    every = assignments[["supporter_id", segment_column]].rename(
        columns={segment_column: "segment"}
    )
    every = every.assign(
        segment=every["segment"].astype(str), supporter_id=every["supporter_id"].astype(str)
    )
    territorial = every["segment"].str.startswith(TERRITORY_PREFIX)
    packs = every[territorial]
    if memberships is not None and len(memberships):
        packs = pd.concat(
            [
                packs,
                pd.DataFrame(
                    {
                        "supporter_id": memberships["supporter_id"].astype(str),
                        "segment": memberships["pack_id"].astype(str),
                    }
                ),
            ],
            ignore_index=True,
        ).drop_duplicates()
    # One main segment per person: territorial packs overlap and are not the main page
    # (unless a person has nothing else).
    main = (
        every.assign(_territorial=territorial)
        .sort_values(["supporter_id", "_territorial"], kind="stable")
        .drop_duplicates("supporter_id")[["supporter_id", "segment"]]
    )
    people = contacts.assign(supporter_id=contacts["supporter_id"].astype(str)).merge(
        main, on="supporter_id", how="inner"
    )
    people = people.merge(_territory_of(packs, links), on="supporter_id", how="left")
    frames = []
    skipped = {"no_page": 0, "invalid_address": 0}
    for channel, address_column, consent_column in (
        ("email", "email", "consent_email"),
        ("sms", "phone", "consent_sms"),
    ):
        if address_column not in people or consent_column not in people:
            continue
        consenting = people[
            people[consent_column].astype(bool)
            & (people[address_column].astype(str).str.strip() != "")
        ]
        address = consenting[address_column].astype(str).str.strip()
        if channel == "email":
            address = address.str.lower()
            valid = address.str.match(_EMAIL.pattern)
        else:
            address = address.map(normalise_phone)
            valid = address.str.match(_E164.pattern)
        skipped["invalid_address"] += int((~valid).sum())
        frames.append(
            pd.DataFrame(
                {
                    "supporter_id": consenting["supporter_id"].astype(str),
                    "channel": channel,
                    "address": address,
                    "segment": consenting["segment"].astype(str),
                    "territory": consenting["territory"].fillna("").astype(str),
                }
            )[valid.to_numpy()]
        )
    rows = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=[c for c in DELIVERY_COLUMNS if not c.endswith("link")])
    )
    has_page = rows["segment"].isin(list(links))
    skipped["no_page"] = int((~has_page).sum())
    rows = rows[has_page].copy()
    rows["link"] = rows["segment"].map(links)
    rows["territory_link"] = rows["territory"].map(links).fillna("")
    rows = rows.sort_values(["segment", "channel", "supporter_id"], kind="stable").reset_index(
        drop=True
    )
    counts = {
        "rows": len(rows),
        "by_channel": {
            str(k): int(v) for k, v in rows["channel"].value_counts().sort_index().items()
        },
        "by_segment": {
            str(k): int(v) for k, v in rows["segment"].value_counts().sort_index().items()
        },
        "by_territory": {
            str(k): int(v)
            for k, v in rows.loc[rows["territory"] != "", "territory"]
            .value_counts()
            .sort_index()
            .items()
        },
        "left_out": skipped,
    }
    return rows[list(DELIVERY_COLUMNS)], counts


def _territory_of(territorial: pd.DataFrame, links: Mapping[str, str]) -> pd.DataFrame:
    """``supporter_id`` → ``territory``: the territorial pack with a page a supporter belongs
    to; the most local one (fewest members) when packs overlap (Paris and its 20th), then
    the first by id."""
    with_page = territorial[territorial["segment"].isin(list(links))]
    size = with_page["segment"].map(with_page["segment"].value_counts())
    chosen = (
        with_page.assign(_size=size)
        .sort_values(["supporter_id", "_size", "segment"], kind="stable")
        .drop_duplicates("supporter_id")
    )
    return chosen[["supporter_id", "segment"]].rename(columns={"segment": "territory"})


@cache
def _quoted_characters() -> str:
    """The characters that make Python's csv writer (minimal quoting, ``\\n`` line ends) quote
    a field, asked of the writer itself: they differ between Python versions (``\\r``)."""
    found = ""
    for char in ',"\n\r\t ;':
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(["a" + char, "b"])
        if out.getvalue().startswith('"'):
            found += char
    return found


def _delivery_csv(rows: pd.DataFrame) -> bytes:
    """The delivery file: ``_csv_cell`` on every cell, in CSV exactly as Python's ``csv``
    module writes it (minimal quoting, ``\\n`` line ends).

    Columnar with Arrow, over each column's distinct values, rather than row by row through
    Python's csv writer (several times slower at a million rows; the bench has the figures).
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    quote = pa.scalar('"', text)
    needs_quotes = "[" + re.escape(_quoted_characters()) + "]"
    cells = []
    for column in DELIVERY_COLUMNS:
        # Each distinct value is written once (links and segments repeat for a million rows),
        # as str() gives it (missing ones included), then laid out by the rows' codes.
        series = rows[column]
        if series.isna().any():  # factorize would merge None and NaN, which str() tells apart
            series = series.map(str)
        codes, uniques = pd.factorize(series, use_na_sentinel=False)
        if isinstance(uniques.dtype, pd.StringDtype):  # already text (Arrow-backed in pandas 3)
            values = pa.array(uniques).cast(text)
        else:
            values = pa.array([str(value) for value in uniques], type=text)
        formula = pc.is_in(
            pc.utf8_slice_codeunits(values, 0, 1), value_set=pa.array(_FORMULA_STARTS, type=text)
        )
        # An E.164 phone is data, not a formula (re.match's $ also accepts one final newline).
        phone = pc.match_substring_regex(values, _E164.pattern.removesuffix("$") + r"\n?$")
        values = pc.if_else(
            pc.and_(formula, pc.invert(phone)),
            pc.binary_join_element_wise(pa.scalar("'", text), values, pa.scalar("", text)),
            values,
        )
        quoted = pc.binary_join_element_wise(
            quote, pc.replace_substring(values, '"', '""'), quote, pa.scalar("", text)
        )
        cells.append(
            pc.if_else(pc.match_substring_regex(values, needs_quotes), quoted, values).take(
                pa.array(codes)
            )
        )
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(DELIVERY_COLUMNS)
    if not len(rows):
        return header.getvalue().encode("utf-8")
    lines = pc.binary_join_element_wise(*cells, pa.scalar(",", text))
    # Each line + "\n".
    lines = pc.binary_join_element_wise(lines, pa.scalar("", text), pa.scalar("\n", text))
    # No line is null and each ends with \n: the array's data buffer, between its first and
    # last offsets, is the file's body.
    _, offsets, data = lines.buffers()
    bounds = pa.Array.from_buffers(pa.int64(), len(lines) + 1, [None, offsets], offset=lines.offset)
    body = data[bounds[0].as_py() : bounds[-1].as_py()].to_pybytes()
    return header.getvalue().encode("utf-8") + body


def delivery_key(edition: date, run: str) -> str:
    return f"{DELIVERY}/{edition.isoformat()}/{run}/delivery.csv"


def write_delivery(
    client: S3Client,
    bucket: str,
    edition: date,
    run: str,
    rows: pd.DataFrame,
    counts: Mapping[str, Any] | None,
) -> int:
    """The delivery file and its counts, in the private bucket under the run's own key;
    returns the file's size in bytes."""
    body = _delivery_csv(rows)
    client.put_object(
        Bucket=bucket,
        Key=delivery_key(edition, run),
        Body=body,
        ContentType="text/csv; charset=utf-8",
    )
    _put_json(
        client,
        bucket,
        delivery_key(edition, run).replace(".csv", ".json"),
        {"edition": edition.isoformat(), "run": run, **(counts or {})},
    )
    return len(body)
