"""The private delivery file: one row per consenting supporter and channel with the link
to their segment's page and, for those who live in a territorial pack's territory, that
pack's link too; written as CSV with Arrow kernels to the private bucket."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

from matinale.checks import normalise_phone
from matinale.publish.s3 import _put_json
from matinale.s3types import S3Client

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "DELIVERY",
    "DELIVERY_COLUMNS",
    "DeliveryCounts",
    "RowHook",
    "SupporterPages",
    "batch_rows",
    "csv_body",
    "csv_header",
    "csv_lines",
    "delivery_key",
    "delivery_rows",
    "supporter_pages",
    "with_links",
    "write_delivery",
]

DELIVERY = "delivery"
DELIVERY_COLUMNS = (
    "supporter_id",
    "channel",
    "address",
    "segment",
    "link",
    "territory",
    "territory_link",
    "send_at",  # when to send (issue 18): Paris time with its offset, matinale.publish.sending
)
#: Territorial packs (hand-written or automatic) are the segments with this prefix.
TERRITORY_PREFIX = "t-"
#: The characters Python's ``\s`` matches in text, written out: a pattern using ``\s`` makes
#: pandas run Python's ``re`` row by row (RE2's ``\s`` is narrower), while this class runs
#: in Arrow and means the same (tests/unit/publish pins it against ``\s``).
_SPACE = "\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_EMAIL = re.compile(f"^[^@{_SPACE},;]+@[^@{_SPACE},;]+\\.[A-Za-z]{{2,}}$")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
#: First characters that make a spreadsheet read a cell as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: str) -> str:
    """Neutralise spreadsheet formulas (= + - @) except in an E.164 phone, which is data."""
    if value[:1] in _FORMULA_STARTS and not _E164.match(value):
        return "'" + value
    return value


#: A step on each batch of delivery rows (columns ``supporter_id``, ``channel``, ``address``,
#: ``segment``, ``territory``; only people with a page): it may add a column (named in
#: ``DELIVERY_COLUMNS``) or drop rows, counting what it drops in ``left_out`` (its second
#: argument, the file's counts of what was left out). Row-local: the file is built batch by
#: batch, so a hook sees a batch, never the whole file.
RowHook = Callable[["pd.DataFrame", dict[str, int]], "pd.DataFrame"]


def delivery_rows(
    contacts: pd.DataFrame,
    assignments: pd.DataFrame,
    links: Mapping[str, str],
    memberships: pd.DataFrame | None = None,
    *,
    hooks: Sequence[RowHook] = (),
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per consenting supporter and channel (SMS, e-mail): channel, address, segment,
    link to that segment's page and, for a supporter in a territorial pack with a page, that
    pack (``territory``) and its link (``territory_link``; both empty otherwise). The
    consent rules are the row's: no row, no territorial link either. ``memberships`` is the
    segment stage's ``private/territories.parquet`` (``supporter_id``, ``pack_id``); rows of
    ``assignments`` naming a territorial pack count as memberships too. Counts per channel
    and segment, and of what was left out.

    In memory, for tests and small runs; the night writes the same file as a stream
    (``delivery_stream``) with the same steps batch by batch."""
    counter = DeliveryCounts()
    rows = batch_rows(contacts, supporter_pages(assignments, memberships, links), counter, hooks)
    rows = rows.sort_values(["segment", "channel", "supporter_id"], kind="stable").reset_index(
        drop=True
    )
    return with_links(rows, links), counter.as_dict()


@dataclass(frozen=True)
class SupporterPages:
    """Each assigned supporter's main segment and territory (``""`` when none) in ``by_id``,
    indexed by ``supporter_id`` (unique: its hash table is built once and looked up for every
    batch of contacts); ``pages``: the segments with a page tonight."""

    by_id: pd.DataFrame
    pages: list[str]


def supporter_pages(
    assignments: pd.DataFrame, memberships: pd.DataFrame | None, pages: Iterable[str]
) -> SupporterPages:
    """Who gets which page: see ``SupporterPages``; ``pages``, the segments with one."""
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
    if territorial.any() or every["supporter_id"].duplicated().any():
        main = (
            every.assign(_territorial=territorial)
            .sort_values(["supporter_id", "_territorial"], kind="stable")
            .drop_duplicates("supporter_id")[["supporter_id", "segment"]]
        )
    else:  # one plain segment each (the usual night): nothing to choose
        main = every
    with_page = list(pages)
    main = main.merge(_territory_of(packs, with_page), on="supporter_id", how="left")
    by_id = main.assign(territory=main["territory"].fillna("").astype(str))
    return SupporterPages(by_id.set_index("supporter_id"), with_page)


def batch_rows(
    contacts: pd.DataFrame,
    pages: SupporterPages,
    counter: DeliveryCounts,
    hooks: Sequence[RowHook] = (),
) -> pd.DataFrame:
    """The delivery rows of a batch of contacts (in the contacts' order, e-mail rows first),
    without their links: only people with a page, each hook applied; counted."""
    import pandas as pd

    ids = contacts["supporter_id"].astype(str)
    found = pages.by_id.index.get_indexer(ids)
    assigned = found >= 0
    matched = pages.by_id.iloc[found[assigned]]
    people = contacts[assigned].reset_index(drop=True)
    people = people.assign(  # positional: the arrays as they are, no conversion
        supporter_id=ids[assigned].array,
        segment=matched["segment"].array,
        territory=matched["territory"].array,
    )
    frames = []
    skipped = counter.left_out
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
                    "territory": consenting["territory"].astype(str),
                }
            )[valid.to_numpy()]
        )
    rows = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=[c for c in DELIVERY_COLUMNS if not c.endswith("link")])
    )
    has_page = rows["segment"].isin(pages.pages)
    skipped["no_page"] += int((~has_page).sum())
    rows = rows[has_page].reset_index(drop=True)
    for hook in hooks:
        rows = hook(rows, skipped)
    counter.add(rows)
    return rows


def with_links(rows: pd.DataFrame, links: Mapping[str, str]) -> pd.DataFrame:
    """``rows`` with their ``link`` and ``territory_link``, in the file's column order."""
    rows = rows.assign(
        link=rows["segment"].map(links), territory_link=rows["territory"].map(links).fillna("")
    )
    if "send_at" not in rows:  # no delivery plan (a publish outside the night): no time said
        rows = rows.assign(send_at="")
    return rows[list(DELIVERY_COLUMNS)]


class DeliveryCounts:
    """The delivery file's counts (rows per channel, segment and territory; what was left
    out), added up batch by batch."""

    def __init__(self) -> None:
        self.rows = 0
        self.by_channel: Counter[str] = Counter()
        self.by_segment: Counter[str] = Counter()
        self.by_territory: Counter[str] = Counter()
        self.left_out = {"no_page": 0, "invalid_address": 0}

    def add(self, rows: pd.DataFrame) -> None:
        self.rows += len(rows)
        for counter, column in (
            (self.by_channel, "channel"),
            (self.by_segment, "segment"),
            (self.by_territory, "territory"),
        ):
            counter.update({str(k): int(v) for k, v in rows[column].value_counts().items()})
        self.by_territory.pop("", None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "by_channel": dict(sorted(self.by_channel.items())),
            "by_segment": dict(sorted(self.by_segment.items())),
            "by_territory": dict(sorted(self.by_territory.items())),
            "left_out": dict(self.left_out),
        }


def _territory_of(territorial: pd.DataFrame, pages: list[str]) -> pd.DataFrame:
    """``supporter_id`` → ``territory``: the territorial pack with a page a supporter belongs
    to; the most local one (fewest members) when packs overlap (Paris and its 20th), then
    the first by id."""
    with_page = territorial[territorial["segment"].isin(pages)]
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
    module writes it (minimal quoting, ``\\n`` line ends)."""
    if not len(rows):
        return csv_header()
    return csv_header() + csv_body(csv_lines(rows))


def csv_header() -> bytes:
    """The delivery file's first line."""
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(DELIVERY_COLUMNS)
    return header.getvalue().encode("utf-8")


def csv_lines(rows: pd.DataFrame) -> pa.Array:
    """Each row of ``rows`` (``DELIVERY_COLUMNS``) as its CSV line, ``\\n`` included
    (``_csv_cell`` on every cell, quoted as Python's ``csv`` module quotes it).

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
    lines = pc.binary_join_element_wise(*cells, pa.scalar(",", text))
    # Each line + "\n".
    return pc.binary_join_element_wise(lines, pa.scalar("", text), pa.scalar("\n", text))


def csv_body(lines: pa.Array) -> bytes:
    """The bytes of ``csv_lines`` (or a ``take`` of them), one after the other."""
    import pyarrow as pa

    if not len(lines):
        return b""
    # No line is null and each ends with \n: the array's data buffer, between its first and
    # last offsets, is the file's body.
    _, offsets, data = lines.buffers()
    bounds = pa.Array.from_buffers(pa.int64(), len(lines) + 1, [None, offsets], offset=lines.offset)
    return data[bounds[0].as_py() : bounds[-1].as_py()].to_pybytes()


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
