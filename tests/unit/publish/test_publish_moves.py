"""Moving the two pointers: what is put back after a failure, what the error says, and how
a split is found. A small in-memory client stands in for S3: the logic is what is tested
here (tests/hostile/test_publish_faults.py kills a real server at each write)."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from matinale.publish import LATEST, current_key
from matinale.publish.moves import PointerMoveError, move_pointers, pointer_splits

URL = "http://127.0.0.1:1"


class MemoryS3:
    """Objects in a dict; ``fail`` maps a key to the error its next write raises; ``down``
    makes every call after the first failure raise (the server died)."""

    def __init__(self, objects: dict[str, Any] | None = None) -> None:
        self.objects = {k: json.dumps(v).encode() for k, v in (objects or {}).items()}
        self.fail: dict[str, Exception] = {}
        self.down = False
        self.dead = False
        self.meta = SimpleNamespace(endpoint_url=URL)

    def _check(self, key: str) -> None:
        if self.dead:
            raise EndpointConnectionError(endpoint_url=URL)
        if key in self.fail:
            self.dead = self.down
            raise self.fail.pop(key)

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict:
        self._check(Key)
        self.objects[Key] = Body
        return {}

    def get_object(self, *, Bucket: str, Key: str, **_: Any) -> dict:
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key])}

    def delete_objects(self, *, Bucket: str, Delete: dict, **_: Any) -> dict:
        for item in Delete["Objects"]:
            self._check("<delete>")
            self.objects.pop(item["Key"], None)
        return {}

    def pointer(self, key: str) -> dict | None:
        return json.loads(self.objects[key]) if key in self.objects else None


OLD = {"edition": "2026-11-24", "run": "old", "promoted_at": "2026-11-24T01:00:00+00:00"}
NEW = {"edition": "2026-11-24", "run": "new", "promoted_at": "2026-11-24T02:00:00+00:00"}
CURRENT = current_key("2026-11-24")


def _moves(s3: MemoryS3) -> list[tuple[str, dict | None]]:
    return [(CURRENT, s3.pointer(CURRENT)), (LATEST, s3.pointer(LATEST))]


def test_a_failed_latest_write_puts_current_back() -> None:
    s3 = MemoryS3({CURRENT: OLD, LATEST: OLD})
    s3.fail[LATEST] = ConnectionClosedError(endpoint_url=URL)  # sent: may have been stored
    with pytest.raises(PointerMoveError) as failed:
        move_pointers(s3, "b", NEW, _moves(s3))
    assert failed.value.unpromoted and failed.value.retryable
    assert (
        "Run new of 2026-11-24 was not promoted: the pointers still name the previous run"
        in str(failed.value)
    )
    assert f"({CURRENT}, {LATEST} put back)" in str(failed.value)
    assert s3.pointer(CURRENT) == OLD and s3.pointer(LATEST) == OLD


def test_the_first_edition_of_a_date_is_removed_again() -> None:
    s3 = MemoryS3({LATEST: {**OLD, "edition": "2026-11-23"}})
    s3.fail[LATEST] = EndpointConnectionError(endpoint_url=URL)
    with pytest.raises(PointerMoveError, match="still name the previous run") as failed:
        move_pointers(s3, "b", NEW, _moves(s3))
    assert failed.value.unpromoted and s3.pointer(CURRENT) is None


def test_s3_dying_between_the_two_writes_says_which_pointer_moved() -> None:
    s3 = MemoryS3({CURRENT: OLD, LATEST: OLD})
    s3.fail[LATEST], s3.down = EndpointConnectionError(endpoint_url=URL), True
    with pytest.raises(PointerMoveError) as failed:
        move_pointers(s3, "b", NEW, _moves(s3))
    message = str(failed.value)
    assert not failed.value.unpromoted and failed.value.retryable
    assert "previous run" not in message
    assert f"{CURRENT} names run new of 2026-11-24 (moved; putting it back failed)" in message
    assert (
        f"{LATEST} still names run old of 2026-11-24 (not written: S3 was unreachable)" in message
    )
    assert "`matinale editions` flags a split" in message
    assert s3.pointer(CURRENT) == NEW and s3.pointer(LATEST) == OLD


def test_an_unconfirmed_write_is_said_to_be_unknown() -> None:
    s3 = MemoryS3({CURRENT: OLD, LATEST: OLD})
    s3.fail[CURRENT], s3.down = ConnectionClosedError(endpoint_url=URL), True
    with pytest.raises(PointerMoveError) as failed:
        move_pointers(s3, "b", NEW, _moves(s3))
    message = str(failed.value)
    assert not failed.value.unpromoted
    assert (
        f"{CURRENT}: its write was not confirmed (it names run old of 2026-11-24, or run new"
        in message
    )
    assert f"{LATEST} still names run old of 2026-11-24 (not moved)" in message


def test_nothing_sent_means_nothing_moved() -> None:
    s3 = MemoryS3({CURRENT: OLD, LATEST: OLD})
    s3.fail[CURRENT], s3.down = EndpointConnectionError(endpoint_url=URL), True
    with pytest.raises(PointerMoveError, match="still name the previous run; rerun") as failed:
        move_pointers(s3, "b", NEW, _moves(s3))
    assert failed.value.unpromoted


def _at(hour: int, **pointer: Any) -> dict:
    return {**pointer, "promoted_at": f"2026-11-24T{hour:02d}:00:00.000001+00:00"}


@pytest.mark.parametrize(
    ("latest", "currents", "split"),
    [
        # consistent: latest names its date's current run
        (_at(2, edition="2026-11-24", run="a"), {"2026-11-24": _at(2, run="a")}, None),
        # same date, another run: latest.json was not moved
        (_at(2, edition="2026-11-24", run="a"), {"2026-11-24": _at(3, run="b")}, "names run b"),
        # a newer date's current.json moved after latest.json
        (
            _at(2, edition="2026-11-23", run="a"),
            {"2026-11-23": _at(2, run="a"), "2026-11-24": _at(3, run="b")},
            "editions/2026-11-24/current.json names run b",
        ),
        # a rollback to an older date: the newer date keeps its current.json, written before
        (
            _at(4, edition="2026-11-23", run="a"),
            {"2026-11-23": _at(4, run="a"), "2026-11-24": _at(3, run="b")},
            None,
        ),
        # a late publish of an older edition moves its current.json only
        (
            _at(2, edition="2026-11-24", run="b"),
            {"2026-11-23": _at(5, run="a"), "2026-11-24": _at(2, run="b")},
            None,
        ),
        # a rollback that stopped before latest.json
        (
            _at(2, edition="2026-11-24", run="b"),
            {"2026-11-23": _at(5, run="a", event="rollback"), "2026-11-24": _at(2, run="b")},
            "editions/2026-11-23/current.json names run a",
        ),
        (None, {"2026-11-24": _at(2, run="a")}, "latest.json is missing"),
        (_at(2, edition="2026-11-24", run="a"), {}, "current.json is missing"),
    ],
)
def test_splits_are_found(latest: dict | None, currents: dict, split: str | None) -> None:
    s3 = MemoryS3({LATEST: latest} if latest else {})
    found = pointer_splits(s3, "b", currents)
    if split is None:
        assert found == []
    else:
        assert len(found) == 1 and split in found[0].message, found
