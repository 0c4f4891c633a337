"""The delivery file written as a stream (issue 21 item 2): read in row batches, joined and
laid out per batch, merged segment by segment, its bytes are today's for the same inputs."""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np
import pandas as pd

from matinale.publish import delivery_stream
from matinale.publish.delivery import _delivery_csv, delivery_key, delivery_rows
from matinale.publish.delivery_stream import Audience, spill_delivery
from matinale.store import LocalStore

ON = date(2026, 11, 24)

#: sha256 of the delivery file the in-memory implementation (before streaming) wrote for
#: ``_sample()``: pins today's bytes, whatever implementation writes them now.
# Re-pinned when the file gained its last column, send_at (issue 18; empty without a plan).
TODAY_SHA256 = "4cc658c9b0c4b9d9112fe2b8cc65068c446580d8aeec1783d59cf887d098ce78"


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


class _Bucket:
    """put_object and the multipart calls of an S3 client, in memory."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.parts: dict[str, dict[int, bytes]] = {}
        self.calls: list[str] = []

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: object) -> dict:
        self.calls.append("put_object")
        self.objects[Key] = Body
        return {}

    def create_multipart_upload(self, *, Bucket: str, Key: str, **_: object) -> dict:
        self.calls.append("create_multipart_upload")
        self.parts[Key] = {}
        return {"UploadId": "u1"}

    def upload_part(self, *, Key: str, PartNumber: int, Body: bytes, **_: object) -> dict:
        self.calls.append("upload_part")
        self.parts[Key][PartNumber] = Body
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, *, Key: str, MultipartUpload: dict, **_: object) -> dict:
        self.calls.append("complete_multipart_upload")
        numbers = [part["PartNumber"] for part in MultipartUpload["Parts"]]
        assert numbers == sorted(self.parts[Key]) == list(range(1, len(numbers) + 1))
        parts = self.parts.pop(Key)
        self.objects[Key] = b"".join(parts[n] for n in numbers)
        return {}


def _streamed(audience: Audience, links: dict[str, str], bucket: _Bucket) -> tuple[bytes, dict]:
    delivery = spill_delivery(audience, links)
    try:
        size = delivery.upload(bucket, "private", ON, "run1")  # type: ignore[arg-type]
    finally:
        delivery.close()
    body = bucket.objects[delivery_key(ON, "run1")]
    assert size == len(body)
    return body, delivery.counts


def test_streamed_file_is_todays_bytes_with_batches_that_split_segments(monkeypatch) -> None:
    """Protects item 2's promise: batches of 97 contacts (every segment spread over many
    batches, equal keys across batches) and parts of 4 KiB give the file and the counts the
    in-memory function gives, byte for byte."""
    monkeypatch.setattr(delivery_stream, "PART_BYTES", 4096)
    contacts, assignments, memberships, links = _sample()
    expected_rows, expected_counts = delivery_rows(contacts, assignments, links, memberships)
    bucket = _Bucket()
    body, counts = _streamed(
        Audience.from_frames(contacts, assignments, memberships, batch_rows=97), links, bucket
    )
    assert hashlib.sha256(body).hexdigest() == TODAY_SHA256
    assert body == _delivery_csv(expected_rows)
    assert counts == expected_counts
    assert bucket.calls.count("upload_part") > 10 and "put_object" in bucket.calls  # the .json
    assert bucket.objects[delivery_key(ON, "run1").replace(".csv", ".json")]


def test_streamed_file_read_from_the_work_store_in_parquet_batches(tmp_path) -> None:
    """Protects the night's path: the Parquet files the segment stage writes, read 250 rows
    at a time with only the columns the file needs, give today's bytes; a small file is
    one put_object. The contacts file is read from the store's file, never as one bytes
    object (publish's memory would grow with it)."""
    contacts, assignments, memberships, links = _sample()

    class _Recording(LocalStore):
        whole: list[str] = []

        def get_bytes(self, key: str) -> bytes:
            self.whole.append(key)
            return super().get_bytes(key)

    store = _Recording(tmp_path)
    store.put_frame("private/contacts.parquet", contacts.astype({"email": "str", "phone": "str"}))
    store.put_frame("private/assignments.parquet", assignments.astype({"segment_id": "category"}))
    store.put_frame("private/territories.parquet", memberships)
    expected_rows, _ = delivery_rows(
        store.get_frame("private/contacts.parquet"),
        store.get_frame("private/assignments.parquet"),
        links,
        store.get_frame("private/territories.parquet"),
    )
    audience = Audience.from_store(
        store,
        "private/contacts.parquet",
        "private/assignments.parquet",
        "private/territories.parquet",
        batch_rows=250,
    )
    bucket = _Bucket()
    store.whole.clear()
    body, _ = _streamed(audience, links, bucket)
    assert body == _delivery_csv(expected_rows)
    assert bucket.calls == ["put_object", "put_object"]  # the file, then its counts
    assert "private/contacts.parquet" not in store.whole


def test_a_row_hook_adds_a_column_or_drops_rows_and_counts_them() -> None:
    """Protects the place the lead's per-batch filters go: a hook sees every batch, what it
    drops is counted in left_out and never reaches the file."""
    contacts, assignments, memberships, links = _sample()
    dropped = {"S0000096", "S0000099"}

    def budget(rows: pd.DataFrame, left_out: dict[str, int]) -> pd.DataFrame:
        over = rows["supporter_id"].isin(dropped)
        left_out["over_budget"] = left_out.get("over_budget", 0) + int(over.sum())
        return rows[~over]

    delivery = spill_delivery(
        Audience.from_frames(contacts, assignments, memberships, batch_rows=101),
        links,
        hooks=[budget],
    )
    try:
        delivery.upload(_Bucket(), "private", ON, "run1")  # type: ignore[arg-type]
    finally:
        delivery.close()
    _, counts = delivery_rows(contacts, assignments, links, memberships)
    assert delivery.counts["left_out"]["over_budget"] > 0
    assert delivery.counts["rows"] == counts["rows"] - delivery.counts["left_out"]["over_budget"]
