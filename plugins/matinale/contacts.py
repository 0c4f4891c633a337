"""Normalise e-mail addresses and phone numbers, a whole column at a time.

Ingest (to validate, deduplicate) and the suppression list (to match people who objected)
must agree exactly on what "the same address" means, so both use these functions:

- an e-mail is trimmed and lowercased, then checked against a conservative ASCII pattern
  (what campaign sending tools accept);
- a phone becomes E.164. French national numbers (``06 12 34 56 78``, ``+33 (0)6…``,
  ``0033…``, a 9-digit number that lost its leading zero in a spreadsheet) are converted by
  vectorised string operations, overseas départements included (their national prefixes
  ``0590``, ``0690``… dial their own country codes); ``phonenumbers`` (pure Python, ~56 µs a
  number) only reads what that path cannot, once per distinct value.

Nothing here logs or raises with a value in the message: values are personal data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "CONSENT_FIELDS",
    "DOM_PREFIXES",
    "Normalised",
    "SMS_REASONS",
    "empty_strings",
    "normalise_emails",
    "normalise_phones",
]

#: National prefixes of the overseas départements → the country code they dial from abroad
#: (ARCEP numbering plan). They must win over the metropolitan rule: ``02 62`` is Réunion,
#: not north-west France, and ``06 39`` is a Mayotte mobile.
DOM_PREFIXES: dict[str, str] = {
    "0590": "590",
    "0690": "590",
    "0691": "590",  # Guadeloupe, Saint-Martin, Saint-Barthélemy
    "0594": "594",
    "0694": "594",  # Guyane
    "0596": "596",
    "0696": "596",
    "0697": "596",  # Martinique
    "0262": "262",
    "0263": "262",
    "0692": "262",
    "0693": "262",  # La Réunion
    "0269": "262",
    "0639": "262",  # Mayotte
}
# Metropolitan ranges the vectorised path accepts: geographic 01–05, mobiles 06 and 073–079,
# 09 (VoIP). Anything else (08 services, unallocated 070–072, foreign numbers) goes to
# phonenumbers, which knows the allocations.
#: The supporter file's consent columns, one per kind of contact: the one list (ingest reads
#: them, privacy counts them, each channel of content_templates/channels.yaml names one).
CONSENT_FIELDS = ("consent_email", "consent_sms", "consent_whatsapp", "consent_social")

_METRO = r"^0(?:[1-5]|6|7[3-9]|9)\d{8}$"
# Separators people type inside numbers, including the no-break spaces spreadsheets insert.
_PHONE_SEPARATORS = r"[\s.\-/()\x{00a0}\x{202f}]"
_EMAIL = (
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)


#: Why a readable phone number gets no SMS (the ingest report's reason codes): an SMS only
#: reaches a mobile, and an extension cannot be dialled by a text message.
SMS_REASONS = ("phone_landline", "phone_special_rate", "phone_not_mobile", "phone_extension")

# What the E.164 numbers the vectorised path places are. Mobiles: metropolitan 06 and 07,
# and the overseas mobile prefixes of DOM_PREFIXES (Mayotte's 0639 includes ARCEP's fiction
# block 06 39 98, which phonenumbers calls invalid but the samples use). Landlines:
# metropolitan 01–05 and the overseas geographic prefixes. 09 is a line over the internet.
_MOBILE_E164 = (
    r"^\+33[67]\d{8}$|^\+590(?:690|691)\d{6}$|^\+594694\d{6}$|^\+596(?:696|697)\d{6}$"
    r"|^\+262(?:692|693|639)\d{6}$"
)
_LANDLINE_E164 = (
    r"^\+33[1-5]\d{8}$|^\+590590\d{6}$|^\+594594\d{6}$|^\+596596\d{6}$"
    r"|^\+262(?:262|263|269)\d{6}$"
)
_SPECIAL_E164 = r"^\+338\d{8}$"


@dataclass(frozen=True)
class Normalised:
    """A normalised column: ``values`` ("" where empty or unreadable), ``ok`` (False only
    for a non-empty value that could not be read) and ``repaired`` (value was fixed).

    For phones, ``sms`` holds why a readable number cannot get an SMS (one of
    :data:`SMS_REASONS`), "" where it can or where there is no number.
    """

    values: pa.Array
    ok: np.ndarray
    repaired: np.ndarray
    sms: pa.Array | None = None


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def _bools(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def normalise_emails(values: pa.Array | pa.ChunkedArray) -> Normalised:
    """Trimmed, lowercased addresses; ``mailto:`` removed. Empty stays empty (and is ok)."""
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.fill_null(_as_array(values), "")))
    if pc.any(pc.starts_with(text, "mailto:")).as_py():
        text = pc.replace_substring_regex(text, r"^mailto:", "")
    empty = _bools(pc.equal(text, ""))
    well_formed = _bools(pc.match_substring_regex(text, _EMAIL))
    # RFC 5321 caps an address at 254 characters; longer ones are typing accidents.
    short = _bools(pc.less_equal(pc.utf8_length(text), 254))
    ok = empty | (well_formed & short)
    result = pc.if_else(pa.array(ok), text, "")
    return Normalised(values=result, ok=ok, repaired=np.zeros(len(text), dtype=bool))


def _national_to_e164(national: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``0XXXXXXXXX`` → E.164, and which values the vectorised rules could place."""
    prefix = pc.utf8_slice_codeunits(national, 0, 4)
    where = pc.index_in(prefix, value_set=pa.array(list(DOM_PREFIXES)))
    codes = pa.array(list(DOM_PREFIXES.values())).take(pc.fill_null(where, 0))
    is_dom = _bools(pc.is_valid(where)) & _bools(pc.match_substring_regex(national, r"^0\d{9}$"))
    is_metro = ~is_dom & _bools(pc.match_substring_regex(national, _METRO))
    country = pc.if_else(pa.array(is_dom), codes, "33")
    e164 = pc.binary_join_element_wise("+", country, pc.utf8_slice_codeunits(national, 1), "")
    placed = is_dom | is_metro
    return pc.if_else(pa.array(placed), e164, ""), placed


def _phonenumbers_e164(values: list[str]) -> list[tuple[str, str]]:
    """For each value: its E.164 form if phonenumbers reads it as a valid number (French
    default), else "", and why it cannot get an SMS ("" if it can)."""
    import phonenumbers

    kinds = phonenumbers.PhoneNumberType
    reachable = {kinds.MOBILE, kinds.FIXED_LINE_OR_MOBILE}
    reason_by_kind = {
        kinds.FIXED_LINE: "phone_landline",
        kinds.TOLL_FREE: "phone_special_rate",
        kinds.PREMIUM_RATE: "phone_special_rate",
        kinds.SHARED_COST: "phone_special_rate",
    }
    out: list[tuple[str, str]] = []
    for value in values:
        try:
            number = phonenumbers.parse(value, "FR")
        except phonenumbers.NumberParseException:
            out.append(("", ""))
            continue
        if not phonenumbers.is_valid_number(number):
            out.append(("", ""))
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        kind = phonenumbers.number_type(number)
        if number.extension:
            reason = "phone_extension"  # E.164 has no room for it: never dropped silently
        elif kind in reachable:
            reason = ""
        else:
            reason = reason_by_kind.get(kind, "phone_not_mobile")
        out.append((e164, reason))
    return out


def _sms_reasons(e164: pa.Array) -> pa.Array:
    """Why each number placed by the vectorised rules cannot get an SMS ("" if it can)."""
    mobile = pc.match_substring_regex(e164, _MOBILE_E164)
    landline = pc.match_substring_regex(e164, _LANDLINE_E164)
    special = pc.match_substring_regex(e164, _SPECIAL_E164)
    empty = pc.equal(e164, "")
    return pc.case_when(
        pc.make_struct(pc.or_(mobile, empty), landline, special),
        "",
        "phone_landline",
        "phone_special_rate",
        "phone_not_mobile",
    )


def normalise_phones(values: pa.Array | pa.ChunkedArray) -> Normalised:
    """E.164 numbers; ``repaired`` marks 9-digit numbers whose leading 0 was restored."""
    column = pc.fill_null(_as_array(values), "")
    size = len(column)
    # Many people give no phone: work on the filled cells only.
    filled = np.flatnonzero(_bools(pc.greater(pc.utf8_length(column), 0)))
    ok = np.ones(size, dtype=bool)
    repaired = np.zeros(size, dtype=bool)
    if not filled.size:
        return Normalised(values=column, ok=ok, repaired=repaired, sms=column)
    subset = _normalise_filled(column.take(pa.array(filled)) if filled.size != size else column)
    ok[filled] = subset.ok
    repaired[filled] = subset.repaired
    assert subset.sms is not None
    if filled.size == size:
        return Normalised(values=subset.values, ok=ok, repaired=repaired, sms=subset.sms)
    where = _mask_at(size, filled)
    result = pc.replace_with_mask(empty_strings(size), where, subset.values)
    sms = pc.replace_with_mask(empty_strings(size), where, subset.sms)
    return Normalised(values=result, ok=ok, repaired=repaired, sms=sms)


def _normalise_filled(column: pa.Array) -> Normalised:
    raw = pc.utf8_trim_whitespace(column)
    raw = pc.replace_substring_regex(raw, r"^'", "")  # Excel's "keep as text" marker
    # "+33 (0)6…" writes the trunk zero for national callers: it is not part of the number.
    text = pc.replace_substring(raw, "(0)", "")
    text = pc.replace_substring_regex(text, _PHONE_SEPARATORS, "")
    text = pc.replace_substring_regex(text, r"^00", "+")
    empty = _bools(pc.equal(text, ""))
    lost_zero = _bools(pc.match_substring_regex(text, r"^[1-9]\d{8}$"))
    national = pc.replace_substring_regex(text, r"^(?:\+33|33)(\d{9})$", r"0\1")
    national = pc.if_else(pa.array(lost_zero), pc.binary_join_element_wise("0", text, ""), national)
    e164, placed = _national_to_e164(national)

    leftover = np.flatnonzero(~placed & ~empty)
    ok = placed | empty
    sms = _sms_reasons(pc.if_else(pa.array(placed), e164, ""))
    if leftover.size:
        # Once per distinct value: exports repeat the same odd spelling many times.
        odd = pc.dictionary_encode(raw.take(pa.array(leftover)))
        found = _phonenumbers_e164(odd.dictionary.to_pylist())
        read = pa.array([number for number, _ in found], pa.string())
        reasons = pa.array([reason for _, reason in found], pa.string())
        parsed = read.take(odd.indices)
        # phonenumbers reads a French national overseas number as +33: apply the plan.
        parsed_national = pc.replace_substring_regex(parsed, r"^\+33(\d{9})$", r"0\1")
        remapped, dom_placed = _national_to_e164(parsed_national)
        parsed = pc.if_else(pa.array(dom_placed), remapped, parsed)
        ok[leftover] = _bools(pc.not_equal(parsed, ""))
        at = _mask_at(len(e164), leftover)
        e164 = pc.replace_with_mask(e164, at, parsed)
        sms = pc.replace_with_mask(sms, at, reasons.take(odd.indices))
    result = pc.if_else(pa.array(ok), e164, "")
    sms = pc.if_else(pa.array(ok), sms, "")
    return Normalised(values=result, ok=ok, repaired=lost_zero & ok, sms=sms)


def empty_strings(size: int) -> pa.Array:
    """``size`` empty strings, built by Arrow (far cheaper than a numpy object array)."""
    return pa.repeat(pa.scalar("", pa.string()), size)


def _mask_at(size: int, positions: np.ndarray) -> pa.Array:
    mask = np.zeros(size, dtype=bool)
    mask[positions] = True
    return pa.array(mask)
