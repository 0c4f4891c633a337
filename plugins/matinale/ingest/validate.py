"""Validate the rows read and sort every one into exactly one bucket, decided in this order:

1. **quarantined**: some value is invalid; the quarantine report lists every problem
   (file, line, column, masked value, reason, hint);
2. **suppressed**: the person's e-mail or phone is on the suppression list, or a duplicate
   of them is (checked right after normalisation, before deduplication);
3. **merged**: a duplicate (same supporter_id, normalised e-mail or phone, transitively) of
   an earlier row; the earliest row survives, empty fields filled from its duplicates, and
   every consent is the most restrictive one found (an opt-out anywhere is an opt-out,
   including on a quarantined duplicate);
4. **valid**.

So ``rows_read = valid + quarantined + duplicates_merged + suppressed``. The hot path is
columnar (pyarrow.compute and numpy, per distinct value where a column repeats itself);
Python only runs per value for ``phonenumbers`` leftovers, SHA-256 suppression digests and
the quarantined cells.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matinale.contacts import SMS_REASONS, normalise_emails, normalise_phones
from matinale.ingest.duplicates import _duplicate_groups, _key_codes, _merge_duplicates
from matinale.ingest.read import RawSupporters
from matinale.ingest.report import IngestResult, _Problems, _quarantine_frame
from matinale.ingest.schema import (
    BOOLEAN_FIELDS,
    CONSENT_FIELDS,
    COUNT_FIELDS,
    DATE_FIELDS,
    FIELDS,
    MAX_AGE,
    MIN_AGE,
)
from matinale.ingest.values import (
    _ages,
    _bools,
    _clean,
    _Dates,
    _is_empty,
    _Location,
    _no_dates,
    _normalise_interests,
    _parse_booleans,
    _parse_counts,
    _parse_dates,
    _resolve_location,
)
from matinale.privacy import SuppressionList, compliance_counts

__all__ = ["validate_supporters"]

_BUCKETS = ("valid", "quarantined", "suppressed", "merged")
_STRING_TYPES = {
    pa.string(): pd.StringDtype("pyarrow", na_value=np.nan),
    pa.large_string(): pd.StringDtype("pyarrow", na_value=np.nan),
}


def _in_parallel(jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run independent column checks on two threads: Arrow kernels release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def validate_supporters(
    raw: RawSupporters, *, reference_date: date, suppression: SuppressionList | None = None
) -> IngestResult:
    """Check and normalise every value, then sort every row into one bucket."""
    rows = len(raw)
    cols = raw.columns
    problems = _Problems(rows)
    repairs: Counter[str] = Counter()
    problems.add("", "wrong_field_count", raw.ragged)

    # A column the file does not have is empty everywhere: skip its checks.
    present = set(raw.present)
    none = np.zeros(rows, dtype=bool)
    no_count = (np.zeros(rows, dtype=np.int64), ~none, none)
    age_pattern = r"(?i)^(?P<n>\d{1,3})(?:[.,]0+)?\s*(?:ans?)?$"
    count_pattern = r"^(?P<n>\d{1,9})(?:[.,]0+)?$"

    def identity() -> tuple[pa.Array, np.ndarray]:
        supporter_id = _clean(cols["supporter_id"])
        return supporter_id, _key_codes(supporter_id)

    def contact(normalise: Callable[[pa.Array], Any], name: str) -> tuple[Any, np.ndarray]:
        result = normalise(cols[name])
        return result, _key_codes(result.values)

    jobs: dict[str, Callable[[], Any]] = {
        "email": lambda: contact(normalise_emails, "email"),
        "id": identity,
        "location": lambda: _resolve_location(cols["postal_code"], cols["insee_com"]),
        "phone": lambda: contact(normalise_phones, "phone"),
        "interests": lambda: _normalise_interests(cols["interests"]),
    }
    for name in DATE_FIELDS:
        jobs[name] = (
            partial(_parse_dates, cols[name], reference_date)
            if name in present
            else (lambda: _no_dates(rows))
        )
    jobs["age"] = (
        (lambda: _parse_counts(cols["age"], age_pattern))
        if "age" in present
        else (lambda: no_count)
    )
    for name in COUNT_FIELDS:
        jobs[name] = (
            partial(_parse_counts, cols[name], count_pattern)
            if name in present
            else (lambda: no_count)
        )
    for name in BOOLEAN_FIELDS:
        jobs[name] = (
            partial(_parse_booleans, cols[name]) if name in present else (lambda: (none, none))
        )
    done = _in_parallel(jobs)

    supporter_id, id_codes = done["id"]
    problems.add("supporter_id", "missing_supporter_id", _is_empty(supporter_id))
    problems.add(
        "supporter_id",
        "mangled_supporter_id",
        _bools(pc.match_substring_regex(supporter_id, r"^\d+(?:[.,]\d+)?[eE]\+?\d+$")),
    )

    birth: _Dates = done["birth_date"]
    stated, age_empty, age_unreadable = done["age"]
    has_birth = ~birth.empty
    problems.add("birth_date", "unreadable_date", birth.unreadable)
    problems.add("birth_date", "impossible_date", birth.impossible)
    problems.add("age", "unreadable_age", ~has_birth & age_unreadable)
    problems.add("age", "missing_age", ~has_birth & age_empty)
    ages = _ages(birth, stated, reference_date)
    known_age = birth.ok | (~has_birth & ~age_empty & ~age_unreadable)
    out_of_range = known_age & ((ages < MIN_AGE) | (ages > MAX_AGE))
    problems.add("birth_date", "age_out_of_range", out_of_range & has_birth)
    problems.add("age", "age_out_of_range", out_of_range & ~has_birth)

    email, email_codes = done["email"]
    problems.add("email", "invalid_email", ~email.ok)
    phone, phone_codes = done["phone"]
    problems.add("phone", "invalid_phone", ~phone.ok)
    repairs["phone_leading_zero"] += int(phone.repaired.sum())
    # A readable number that cannot get an SMS (landline, special rate, extension) keeps the
    # row (the e-mail still reaches them; the number still matches duplicates and the
    # suppression list) but is quarantined for SMS: listed in the report, no SMS consent.
    sms_problems = _Problems(rows)
    no_sms = np.zeros(rows, dtype=bool)
    if phone.sms is not None and "phone" in present:
        for reason in SMS_REASONS:
            mask = _bools(pc.equal(phone.sms, reason))
            sms_problems.add("phone", reason, mask)
            no_sms |= mask

    location: _Location = done["location"]
    for (column, reason), mask in location.problems.items():
        problems.add(column, reason, mask)
    repairs.update(location.repairs)

    booleans: dict[str, np.ndarray] = {}
    for name in BOOLEAN_FIELDS:
        booleans[name], unreadable = done[name]
        problems.add(name, "unreadable_boolean", unreadable)
    counts: dict[str, np.ndarray] = {}
    for name in COUNT_FIELDS:
        counts[name], _, unreadable = done[name]
        problems.add(name, "unreadable_count", unreadable)
    dates = {name: done[name] for name in ("consent_date", "joined_on")}
    for name, parsed in dates.items():
        problems.add(name, "unreadable_date", parsed.unreadable)
        problems.add(name, "impossible_date", parsed.impossible)

    # Buckets, in order: quarantined, suppressed, merged, valid.
    quarantined = problems.any_row()
    readable = ~raw.ragged
    groups = _duplicate_groups(
        [
            (id_codes, readable & ~_is_empty(supporter_id)),
            (email_codes, readable & ~_is_empty(email.values)),
            (phone_codes, readable & ~_is_empty(phone.values)),
        ],
        rows,
    )
    on_list = (suppression or SuppressionList()).matches(
        email.values, phone.values, supporter_id
    ) & readable
    group_on_list = np.bincount(groups, weights=on_list, minlength=rows) > 0
    suppressed = ~quarantined & group_on_list[groups]
    remaining = ~quarantined & ~suppressed
    if groups[-1] == rows - 1 and np.array_equal(groups, np.arange(rows)):
        survivors = remaining  # nobody shares a key: the common case
    else:
        candidates = np.flatnonzero(remaining)
        _, first = np.unique(groups[candidates], return_index=True)
        survivors = np.zeros(rows, dtype=bool)
        survivors[candidates[first]] = True
    merged = remaining & ~survivors

    # An opt-out anywhere in a group (a quarantined twin included) is an opt-out.
    consents = {}
    for name in CONSENT_FIELDS:
        refusals = np.bincount(groups, weights=~booleans[name], minlength=rows)
        consents[name] = booleans[name] & (refusals[groups] == 0)
    consents["consent_sms"] &= ~no_sms

    keep = np.flatnonzero(survivors | merged)
    text = pa.table(
        {
            "supporter_id": supporter_id,
            "first_name": pc.utf8_trim_whitespace(cols["first_name"]),
            "last_name": pc.utf8_trim_whitespace(cols["last_name"]),
            "email": email.values,
            "phone": phone.values,
            "birth_date": birth.iso,
            "consent_date": dates["consent_date"].iso,
            "joined_on": dates["joined_on"].iso,
            "legal_basis": pc.utf8_lower(pc.utf8_trim_whitespace(cols["legal_basis"])),
            "interests": done["interests"],
            "postal_code": location.postal,
            "insee_com": location.insee,
            "insee_candidates": location.candidates,
        }
    )
    if keep.size != rows:
        text = text.take(pa.array(keep))
    frame = text.to_pandas(types_mapper=_STRING_TYPES.get)
    frame["age"] = ages[keep].astype(np.int64)
    frame["commune_ambiguous"] = location.ambiguous[keep]
    for name in BOOLEAN_FIELDS:
        frame[name] = (consents[name] if name in consents else booleans[name])[keep]
    for name in COUNT_FIELDS:
        frame[name] = counts[name][keep].astype(np.int64)
    if merged.any():
        frame = _merge_duplicates(frame, groups[keep], merged[keep])
    valid = frame.loc[survivors[keep]].reset_index(drop=True)
    # Every field in its order, the commune look-up's two columns after the code it resolved.
    ordered = [
        column
        for name in FIELDS
        for column in (
            (name, "commune_ambiguous", "insee_candidates") if name == "insee_com" else (name,)
        )
    ]
    valid = valid[ordered]

    bucket = np.select([quarantined, suppressed, merged], [1, 2, 3], default=0)
    sms_only = no_sms & ~quarantined
    problems.found.extend(
        (column, reason, mask & ~quarantined) for column, reason, mask in sms_problems.found
    )
    quarantine = _quarantine_frame(raw, problems)
    accounting = {
        "rows_read": rows,
        "valid": int(survivors.sum()),
        "quarantined": int(quarantined.sum()),
        "duplicates_merged": int(merged.sum()),
        "suppressed": int(suppressed.sum()),
    }
    reasons = quarantine["reason"].value_counts().to_dict() if len(quarantine) else {}
    by_column = (
        quarantine["column"].replace("", "(ligne)").value_counts().to_dict()
        if len(quarantine)
        else {}
    )
    suppression_info = {
        "entries": len(suppression) if suppression else 0,
        "files": len(suppression.files) if suppression else 0,
        "matched_rows": int((on_list & ~quarantined).sum()),
        "suppressed_rows": accounting["suppressed"],
    }
    info = {
        "source": raw.source,
        "format": raw.format,
        "encoding": raw.encoding,
        **({"encoding_lines": dict(raw.encoding_lines)} if raw.encoding_lines else {}),
        "delimiter": raw.delimiter,
        "columns": list(raw.present),
        "ignored_columns": list(raw.ignored_columns),
        "blank_rows": raw.blank_rows,
        "reference_date": reference_date.isoformat(),
        "minors": int((valid["age"] < 18).sum()),
        "ambiguous_communes": int(valid["commune_ambiguous"].sum()),
        "problems_by_column": {str(k): int(v) for k, v in by_column.items()},
        "suppression": suppression_info,
        "sms_quarantined": int(sms_only.sum()),
        "consent": compliance_counts(valid),
    }
    return IngestResult(
        valid=valid,
        quarantine=quarantine,
        counts=accounting,
        reasons={str(k): int(v) for k, v in reasons.items()},
        repairs={k: int(v) for k, v in sorted(repairs.items()) if v},
        rows=pd.DataFrame(
            {
                "line": raw.lines,
                "bucket": pd.Categorical.from_codes(bucket, categories=list(_BUCKETS)),
            }
        ),
        info=info,
    )
