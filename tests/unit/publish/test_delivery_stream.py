"""The delivery file written as a stream (issue 21 item 2): read in row batches, joined and
laid out per batch, merged segment by segment, its bytes are today's for the same inputs."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from matinale.publish.delivery import _delivery_csv, delivery_rows

#: sha256 of the delivery file the in-memory implementation (before streaming) wrote for
#: ``_sample()``: pins today's bytes, whatever implementation writes them now.
TODAY_SHA256 = "f8e747e0edbd6ce23041a7aa481fe2e60a39789b1f90be2424c3e63392a2aa04"


def _sample(people: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Contacts, assignments, memberships and links with every case the file handles:
    invalid and missing addresses, phones to normalise, formula-like cells, duplicate and
    unassigned contacts, territorial assignments and memberships that overlap, segments
    without a page, people only in a territorial pack."""
    rng = np.random.default_rng(21)
    ids = [f"S{n:07d}" for n in rng.permutation(people)]
    emails = np.array(
        [f"P{n}@Example.org" for n in range(people)], dtype=object
    )  # upper case: lowered
    kinds = rng.integers(0, 10, people)
    emails[kinds == 0] = ""
    emails[kinds == 1] = None
    emails[kinds == 2] = "not-an-address"
    emails[kinds == 3] = "=cmd@evil.example"  # valid address, formula start: quoted with '
    emails[kinds == 4] = '  "q,uote"@x.fr '
    phones = np.array([f"06{n:08d}" for n in range(people)], dtype=object)
    pkinds = rng.integers(0, 8, people)
    phones[pkinds == 0] = ""
    phones[pkinds == 1] = " "
    phones[pkinds == 2] = "+33 6 12 34 56 78"
    phones[pkinds == 3] = "12"
    contacts = pd.DataFrame(
        {
            "supporter_id": ids,
            "first_name": "Zoé",
            "email": emails,
            "phone": phones,
            "consent_email": rng.random(people) < 0.8,
            "consent_sms": rng.random(people) < 0.5,
        }
    )
    contacts = pd.concat([contacts, contacts.iloc[:7]], ignore_index=True)  # duplicates
    segments = [f"{band}-p{p:02d}" for band in ("18-24", "65plus", "=x") for p in range(4)]
    packs = ["t-75056", "t-75120", "t-69123", "t-13055"]
    main = rng.choice(segments, people)
    assigned = pd.DataFrame({"supporter_id": ids, "segment_id": main})
    assigned = assigned[rng.random(people) > 0.03]  # some contacts have no segment
    territorial = pd.DataFrame(
        {"supporter_id": rng.choice(ids, people // 3), "segment_id": rng.choice(packs, people // 3)}
    )
    only_pack = pd.DataFrame({"supporter_id": ["S9999999"], "segment_id": ["t-75120"]})
    extra = pd.DataFrame(
        {
            "supporter_id": ["S9999999"],
            "first_name": "Lou",
            "email": "lou@x.fr",
            "phone": "0611111111",
            "consent_email": True,
            "consent_sms": True,
        }
    )
    contacts = pd.concat([contacts, extra], ignore_index=True)
    assignments = pd.concat(
        [territorial.iloc[: people // 6], assigned, territorial.iloc[people // 6 :], only_pack],
        ignore_index=True,
    )
    memberships = pd.DataFrame(
        {"supporter_id": rng.choice(ids, people // 4), "pack_id": rng.choice(packs, people // 4)}
    )
    links = {s: f"https://l.example/p/{i:04d}" for i, s in enumerate(segments[:-2] + packs[:3])}
    return contacts, assignments, memberships, links


def test_today_bytes_are_pinned() -> None:
    contacts, assignments, memberships, links = _sample()
    rows, _ = delivery_rows(contacts, assignments, links, memberships)
    body = _delivery_csv(rows)
    assert hashlib.sha256(body).hexdigest() == TODAY_SHA256
