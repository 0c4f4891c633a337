"""Realistic, fictional French supporter files for demos, tests and benchmarks.

The people are invented but the file looks like a real CRM export: real communes and postal
codes drawn in proportion to their population, common French first names by generation and
sex, common surnames, e-mail addresses on the reserved ``example.org``/``example.fr``
domains, phone numbers only from the blocks ARCEP keeps for fiction, dates as ``dd/mm/yyyy``
and every value as text. Generation is vectorised (1M rows in under 3 s here) and
reproducible: the same arguments give the same frame, byte for byte once written.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from matinale.dev.sample_tables import (
    _BLOCK_SIZE,
    _CONSENT_BASIS,
    _EMAIL_DOMAINS,
    _EMPTY_EMAIL_RATE,
    _FIRST_NAMES,
    _INTEREST_WEIGHTS,
    _LAST_NAMES,
    _MEMBERSHIP_BASIS,
    _MOBILE,
    _MOBILE_PREFERENCE,
    _PHONE_RATE,
    _RURAL_AGRICULTURE_BOOST,
    _ZONE_BY_DEPARTEMENT,
    _ZONE_BY_REGION,
    COLUMNS,
    FICTION_PHONE_BLOCKS,
    INTERESTS,
    REFERENCE_DATE,
)
from matinale.geo import communes, communes_by_insee

__all__ = [
    "COLUMNS",
    "FICTION_PHONE_BLOCKS",
    "INTERESTS",
    "REFERENCE_DATE",
    "generate_supporters",
    "write_sample",
    "write_supporters",
]


def _zipf_weights(count: int, shift: float = 3.0) -> np.ndarray:
    # Lists are ordered most frequent first; a shifted Zipf law keeps the head frequent
    # without making the tail vanish.
    weights = 1.0 / (np.arange(count) + shift)
    return weights / weights.sum()


def _ascii_slug(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return folded.replace(" ", "").replace("'", "")


def _padded(values: np.ndarray, width: int) -> pa.Array:
    """Non-negative integers as zero-padded text."""
    return pc.utf8_lpad(pc.cast(pa.array(values, pa.int64()), pa.string()), width, "0")


def _join(*parts: pa.Array, sep: str = "") -> pa.Array:
    # Arrays only: Arrow joins arrays with a separator far faster than it broadcasts a
    # literal given as one of the parts.
    return pc.binary_join_element_wise(*parts, sep)


def _labels(labels: Sequence[str], positions: np.ndarray) -> pa.Array:
    """``labels[i]`` for each ``i`` in ``positions``."""
    return pa.array(labels, pa.string()).take(pa.array(positions, pa.int64()))


def _yes_no(flags: np.ndarray) -> pa.Array:
    return _labels(("non", "oui"), flags.astype(np.int64))


def _replace_at(base: pa.Array, positions: np.ndarray, values: pa.Array) -> pa.Array:
    """``base`` with the items at ``positions`` replaced by ``values``, in order."""
    pointer = np.arange(len(base))
    pointer[positions] = len(base) + np.arange(positions.size)
    return pa.concat_arrays([base, values]).take(pa.array(pointer, pa.int64()))


def _format_dates(days: np.ndarray) -> pa.Array:
    """Days since 1970-01-01 as ``dd/mm/yyyy``."""
    if days.size == 0:
        return pa.array([], pa.string())
    # Format each calendar day in the span once, then look the rows up.
    first = int(days.min())
    stamps = np.arange(first, int(days.max()) + 1).astype("datetime64[D]")
    months = stamps.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (stamps - months).astype(np.int64) + 1
    calendar = _join(_padded(day, 2), _padded(month, 2), _padded(year, 4), sep="/")
    return calendar.take(pa.array(days - first, pa.int64()))


def _repeat_rank(keys: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """For each counted item, how many counted items before it have the same key (else 0)."""
    keys = np.where(counted, keys, -1)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    lengths = np.diff(np.r_[starts, keys.size])
    rank = np.empty_like(keys)
    rank[order] = np.arange(keys.size) - np.repeat(starts, lengths)
    return np.where(counted, rank, 0)


def _epoch_day(day: date) -> int:
    return day.toordinal() - date(1970, 1, 1).toordinal()


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def _draw_ages(rng: np.random.Generator, rows: int) -> np.ndarray:
    # Campaign supporters skew older (retired people join and stay), with a bump of
    # students and young activists around 20-25 and about 2 % minors (16-17).
    ages = np.arange(16, 96)
    adults = np.exp(-0.5 * ((ages - 58) / 17) ** 2) + 0.7 * np.exp(-0.5 * ((ages - 22) / 4) ** 2)
    adults[ages < 18] = 0.0
    weights = adults / adults.sum() * 0.98
    weights[ages < 18] = 0.01
    return rng.choice(ages, size=rows, p=weights / weights.sum())


def _draw_birth_days(rng: np.random.Generator, ages: np.ndarray, reference: date) -> np.ndarray:
    # A person aged a on the reference date was born after the date a + 1 years earlier
    # and on or before the date a years earlier: draw uniformly in that span.
    span_ages = np.arange(ages.max(initial=16) + 1)
    latest = np.array([_epoch_day(_years_before(reference, int(a))) for a in span_ages])
    earliest = np.array([_epoch_day(_years_before(reference, int(a) + 1)) + 1 for a in span_ages])
    length = latest[ages] - earliest[ages] + 1
    return earliest[ages] + (rng.random(ages.size) * length).astype(np.int64)


def _draw_communes(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """Commune positions in ``communes_by_insee()``, their INSEE codes and one postal code each."""
    table = communes_by_insee()
    population = table["population_2021"].to_numpy(np.float64)
    picks = rng.choice(len(table), size=rows, p=population / population.sum())

    full = communes()
    pairs = (
        full.loc[full["commune_type"].isin(("COM", "ARM")), ["insee_com", "code_postal"]]
        .drop_duplicates()
        .sort_values(["insee_com", "code_postal"])
    )
    pair_insee = pairs["insee_com"].to_numpy(str)
    codes = table.index.to_numpy(str)
    start = np.searchsorted(pair_insee, codes, side="left")
    count = np.searchsorted(pair_insee, codes, side="right") - start
    # A commune with several postal codes gets each with equal chance: the tables have no
    # population by postal code.
    chosen = start[picks] + (rng.random(rows) * count[picks]).astype(np.int64)
    postal = pa.array(pairs["code_postal"].to_numpy(str), pa.string()).take(chosen)
    insee = pa.array(codes, pa.string()).take(picks)
    return picks, insee, postal


def _draw_names(
    rng: np.random.Generator, birth_years: np.ndarray
) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """First and last names, with their ASCII slugs for e-mail addresses."""
    rows = birth_years.size
    women = rng.random(rows) < 0.52
    cohort = np.searchsorted([limit for limit, _, _ in _FIRST_NAMES], birth_years)
    table: list[str] = []
    first = np.empty(rows, dtype=np.int64)
    for position, (_, female, male) in enumerate(_FIRST_NAMES):
        for is_woman, names in ((True, female), (False, male)):
            members = np.flatnonzero((cohort == position) & (women == is_woman))
            first[members] = len(table) + rng.choice(
                len(names), size=members.size, p=_zipf_weights(len(names))
            )
            table.extend(names)
    last = rng.choice(len(_LAST_NAMES), size=rows, p=_zipf_weights(len(_LAST_NAMES), shift=8.0))
    return (
        pa.array(table, pa.string()).take(first),
        pa.array(_LAST_NAMES, pa.string()).take(last),
        pa.array([_ascii_slug(n) for n in table], pa.string()).take(first),
        pa.array([_ascii_slug(n) for n in _LAST_NAMES], pa.string()).take(last),
    )


def _draw_emails(
    rng: np.random.Generator, first_slug: pa.Array, last_slug: pa.Array, birth_years: np.ndarray
) -> pa.Array:
    rows = len(first_slug)
    # An address is a name part (letters: jean.martin, jmartin, martin.jean...), optional
    # digits and a domain. Names hold no digits, so two addresses are equal exactly when
    # all three parts are, which lets namesakes be told apart on integers.
    styles: list[tuple[float, Callable[[pa.Array, pa.Array], pa.Array], bool]] = [
        (0.42, lambda first, last: _join(first, last, sep="."), False),
        (0.12, lambda first, last: _join(first, last), False),
        (0.14, lambda first, last: _join(pc.utf8_slice_codeunits(first, 0, 1), last), False),
        (0.16, lambda first, last: _join(first, last, sep="."), True),  # jean.martin72
        (0.09, lambda first, last: _join(last, first, sep="."), False),
        (0.07, lambda first, last: _join(first, last, sep="_"), False),
    ]
    style = rng.choice(len(styles), size=rows, p=[weight for weight, _, _ in styles])
    parts, members = [], []
    for position, (_, build, _) in enumerate(styles):
        in_style = np.flatnonzero(style == position)
        parts.append(build(first_slug.take(in_style), last_slug.take(in_style)))
        members.append(in_style)
    # Back to row order: row members[k][i] is item i of the concatenated parts.
    where = np.empty(rows, dtype=np.int64)
    where[np.concatenate(members)] = np.arange(rows)
    letters = pa.concat_arrays(parts).take(pa.array(where, pa.int64()))
    with_year = np.isin(style, [position for position, (_, _, year) in enumerate(styles) if year])
    digits = np.where(with_year, birth_years % 100, 0)
    length = np.where(with_year, 2, 0)
    domain = rng.integers(0, len(_EMAIL_DOMAINS), size=rows)
    has_email = rng.random(rows) >= _EMPTY_EMAIL_RATE

    # Namesakes get a number, as mail providers make them do: the second jean.martin
    # becomes jean.martin2. A number can meet someone's birth year or another number
    # (jean.martin72): those few draw a longer random number until all are unique.
    name_key = pc.dictionary_encode(letters).indices.to_numpy().astype(np.int64)
    number = _repeat_rank(_email_key(name_key, domain, digits, length), has_email) + 1
    clash = np.flatnonzero(number > 1)
    width = 3
    while clash.size:
        digits[clash] = number[clash]
        length[clash] = _digit_count(number[clash])
        rank = _repeat_rank(_email_key(name_key, domain, digits, length), has_email)
        clash = np.flatnonzero(rank > 0)
        number[clash] = rng.integers(10 ** (width - 1), 10**width, size=clash.size)
        width += 1
    # 10**length + digits, without its leading 1, is the digits zero-padded to length.
    suffix = pc.utf8_slice_codeunits(
        pc.cast(pa.array(10**length + digits, pa.int64()), pa.string()), 1
    )
    address = _join(_join(letters, suffix), _labels(_EMAIL_DOMAINS, domain), sep="@")
    return pc.if_else(pa.array(has_email), address, "")


def _digit_count(numbers: np.ndarray) -> np.ndarray:
    """How many decimal digits each positive integer has (exact, unlike a float log10)."""
    return np.searchsorted(10 ** np.arange(1, 19, dtype=np.int64), numbers, side="right") + 1


def _email_key(
    name_key: np.ndarray, domain: np.ndarray, digits: np.ndarray, length: np.ndarray
) -> np.ndarray:
    # 10**length + digits tells "07" from "7" and both from no digits at all; it stays
    # below 2**40 for any number the loop above can draw.
    return ((name_key * len(_EMAIL_DOMAINS) + domain) << 40) + 10**length + digits


def _draw_phones(rng: np.random.Generator, zones: np.ndarray) -> pa.Array:
    """Fiction-block numbers, none used twice; ``zones`` is each person's landline zone (0: none)."""
    rows = zones.size
    wants = rng.random(rows) < _PHONE_RATE
    wants_mobile = wants & ((rng.random(rows) < _MOBILE_PREFERENCE) | (zones == 0))
    block = np.zeros(rows, dtype=np.int64)

    mobile = rng.permutation(np.flatnonzero(wants_mobile))
    block[mobile[:_BLOCK_SIZE]] = _MOBILE
    # When the mobile block runs out, people fall back to a landline in their zone; when
    # that block runs out too, their phone stays empty, as it does for a quarter of people.
    wants_landline = wants & (block == 0) & (zones > 0)
    for zone in range(1, _MOBILE):
        holders = rng.permutation(np.flatnonzero(wants_landline & (zones == zone)))
        block[holders[:_BLOCK_SIZE]] = zone

    line = np.zeros(rows, dtype=np.int64)
    for zone in FICTION_PHONE_BLOCKS:
        holders = np.flatnonzero(block == zone)
        line[holders] = rng.permutation(_BLOCK_SIZE)[: holders.size]

    # Exports mix the national spaced, compact and international forms.
    holders = np.flatnonzero(block > 0)
    prefixes = [FICTION_PHONE_BLOCKS.get(zone, "") for zone in range(_MOBILE + 1)]
    held = block[holders]
    compact = _labels(prefixes, held)
    spaced = _labels([f"{p[:2]} {p[2:4]} {p[4:6]}" for p in prefixes], held)
    international = _labels([f"+33 {p[1:2]} {p[2:4]} {p[4:6]}" for p in prefixes], held)
    high, low = _padded(line[holders] // 100, 2), _padded(line[holders] % 100, 2)
    formats = [
        _join(spaced, high, low, sep=" "),
        _join(compact, high, low),
        _join(international, high, low, sep=" "),
    ]
    style = rng.choice(len(formats), size=holders.size, p=[0.5, 0.3, 0.2])
    numbers = pc.choose(pa.array(style, pa.int8()), *formats)
    return _replace_at(_labels([""], np.zeros(rows, np.int64)), holders, numbers)


def _landline_zones(commune_rows: np.ndarray) -> np.ndarray:
    table = communes_by_insee()
    by_departement = table["insee_dep"].map(_ZONE_BY_DEPARTEMENT)
    by_region = table["insee_reg"].map(_ZONE_BY_REGION)
    zone = by_departement.fillna(by_region).fillna(0).to_numpy(np.int64)
    return zone[commune_rows]


def _interest_labels() -> list[str]:
    """The label of every bit mask over INTERESTS with one to three bits set ("" otherwise)."""
    labels = []
    for mask in range(1 << len(INTERESTS)):
        names = [name for bit, name in enumerate(INTERESTS) if mask >> bit & 1]
        labels.append("|".join(names) if 1 <= len(names) <= 3 else "")
    return labels


def _draw_interests(rng: np.random.Generator, age_group: np.ndarray, rural: np.ndarray) -> pa.Array:
    rows = age_group.size
    weights = np.repeat(_INTEREST_WEIGHTS, 2, axis=0)  # rows: (age group, rural) pairs
    weights[1::2, INTERESTS.index("agriculture")] *= _RURAL_AGRICULTURE_BOOST
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    profile = age_group * 2 + rural
    count = rng.choice([1, 2, 3], size=rows, p=[0.35, 0.40, 0.25])
    # Successive draws without replacement: each interest in proportion to its weight
    # among those not drawn yet, by redrawing the people whose draw repeats an earlier one.
    chosen = np.full((rows, 3), -1, dtype=np.int64)
    for slot in range(3):
        pending = np.flatnonzero(count > slot)
        while pending.size:
            pick = (cumulative[profile[pending]] < rng.random(pending.size)[:, None]).sum(axis=1)
            pick = np.minimum(pick, len(INTERESTS) - 1)  # guards against rounding at the top
            fresh = (chosen[pending, :slot] != pick[:, None]).all(axis=1)
            chosen[pending[fresh], slot] = pick[fresh]
            pending = pending[~fresh]
    masks = np.where(chosen >= 0, 1 << np.maximum(chosen, 0), 0).sum(axis=1)
    return _labels(_interest_labels(), masks)


def _rate(overall: float, factors: tuple[float, float, float], age_group: np.ndarray) -> np.ndarray:
    """Per-person probabilities varying by age group that average ``overall`` over the sample."""
    relative = np.asarray(factors)[age_group]
    return overall * relative / relative.mean() if relative.size else relative


def _zero_inflated(
    rng: np.random.Generator, zero_rate: np.ndarray, positive: np.ndarray
) -> np.ndarray:
    return np.where(rng.random(zero_rate.size) < zero_rate, 0, positive)


def generate_supporters(
    rows: int = 20_000, seed: int = 42, *, reference_date: date | None = None
) -> pd.DataFrame:
    """A fictional supporter export of ``rows`` people, every column as text.

    The same ``rows``, ``seed`` and ``reference_date`` (default ``REFERENCE_DATE``, a fixed
    day) always give the same frame. Columns are ``COLUMNS``; empty values are empty strings,
    as in an export. About a quarter of people have no phone, and no more than the 60,000
    fiction numbers are ever handed out, so in large samples most phones are empty.
    """
    if rows < 0:
        raise ValueError(f"rows must be zero or more, got {rows}")
    reference = reference_date or REFERENCE_DATE
    today = _epoch_day(reference)
    rng = np.random.default_rng(seed)

    width = max(7, len(str(rows)) + 1)
    numbers = np.sort(rng.choice(10**width - 1, size=rows, replace=False) + 1)
    supporter_id = _join(_labels(["S"], np.zeros(rows, np.int64)), _padded(numbers, width))

    ages = _draw_ages(rng, rows)
    birth = _draw_birth_days(rng, ages, reference)
    birth_years = birth.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    age_group = np.digitize(ages, [30, 60])
    young = age_group == 0

    first_name, last_name, first_slug, last_slug = _draw_names(rng, birth_years)
    email = _draw_emails(rng, first_slug, last_slug, birth_years)
    commune_rows, insee_com, postal_code = _draw_communes(rng, rows)
    phone = _draw_phones(rng, _landline_zones(commune_rows))

    # Most joined recently (the movement grows towards the election), none before 15.
    longest = np.minimum(6 * 365, today - birth - 5479)  # 5,479 days: 15 years and their leap days
    joined = today - (rng.beta(1.0, 1.7, size=rows) * longest).astype(np.int64)
    # Consent is usually given on the sign-up form; the others answered a later request.
    later = rng.random(rows) >= 0.65
    consent = joined + np.where(
        later, (rng.random(rows) * (today - joined + 1)).astype(np.int64), 0
    )

    member = rng.random(rows) < _rate(0.20, (0.7, 1.0, 1.3), age_group)
    events = _zero_inflated(
        rng, np.where(member, 0.30, 0.60), 1 + rng.poisson(np.where(member, 2.5, 1.0))
    )
    shares = _zero_inflated(
        rng,
        np.where(young, 0.45, 0.62),
        np.minimum(999, 1 + rng.lognormal(1.0, 1.1, size=rows).astype(np.int64)),
    )
    density_class = communes_by_insee()["density_class"].to_numpy(object)[commune_rows]
    rural = density_class == "rural"

    columns = {
        "supporter_id": supporter_id,
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "phone": phone,
        "birth_date": _format_dates(birth),
        "postal_code": postal_code,
        "insee_com": insee_com,
        "consent_email": _yes_no(rng.random(rows) < 0.80),
        "consent_sms": _yes_no(rng.random(rows) < 0.55),
        "consent_whatsapp": _yes_no(rng.random(rows) < _rate(0.40, (1.5, 1.0, 0.7), age_group)),
        "consent_social": _yes_no(rng.random(rows) < _rate(0.60, (1.25, 1.0, 0.85), age_group)),
        "consent_date": _format_dates(consent),
        "legal_basis": _labels((_CONSENT_BASIS, _MEMBERSHIP_BASIS), member.astype(np.int64)),
        "joined_on": _format_dates(joined),
        "interests": _draw_interests(rng, age_group, rural),
        "events_attended": pc.cast(pa.array(events, pa.int64()), pa.string()),
        "shares_30d": pc.cast(pa.array(shares, pa.int64()), pa.string()),
        "donor": _yes_no(rng.random(rows) < 0.07 + 0.10 * (ages >= 50) + 0.15 * member),
        "volunteer": _yes_no(rng.random(rows) < 0.14 + 0.05 * young + 0.25 * member),
    }
    return pa.table(columns).to_pandas()


def _as_arrow(df: pd.DataFrame) -> pa.Table:
    # pandas keeps text as Arrow large_string; plain string is what every reader expects.
    table = pa.Table.from_pandas(df, preserve_index=False)
    schema = pa.schema(
        [
            field.with_type(pa.string()) if pa.types.is_large_string(field.type) else field
            for field in table.schema
        ]
    )
    return table.cast(schema)


def write_supporters(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` as CSV or Parquet, chosen by the extension of ``path`` (.csv or .parquet).

    CSV is UTF-8 without BOM, comma-separated, with ``\n`` line ends and every text value
    quoted, as many CRMs export (and as Arrow writes 1M rows in half a second). Parquet
    columns holding text are typed ``string``. Parent folders are created, and the file
    appears complete or not at all (written aside, then renamed), so a reader watching the
    folder never picks up half a file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        found = f"it ends in {path.suffix!r}" if path.suffix else "it has no extension"
        raise ValueError(
            f"cannot write supporters to {path}: {found}; name the file *.csv or *.parquet"
        )
    table = _as_arrow(df)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if suffix == ".csv":
            pa_csv.write_csv(table, partial)
        else:
            pq.write_table(table, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_sample(rows: int, seed: int, out: Path) -> Path:
    """Generate ``rows`` supporters with ``seed`` and write them to ``out`` (.csv or .parquet)."""
    return write_supporters(generate_supporters(rows, seed), out)
