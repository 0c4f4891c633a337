"""Segment: segments.json entries read and written back byte for byte."""

from __future__ import annotations

import json

from matinale.segment import Segment, Territory
from matinale.store import dumps


def test_segments_json_round_trips_byte_for_byte(night1) -> None:
    text = dumps({"segments": [s.to_json() for s in night1.segments]})
    read = [Segment.from_json(entry) for entry in json.loads(text)["segments"]]
    assert read == night1.segments
    assert dumps({"segments": [s.to_json() for s in read]}) == text
    assert {s.kind for s in read} == {"main", "territory"}
    assert all(isinstance(s.territory, Territory) for s in read if s.kind == "territory")


def test_a_pack_is_named_by_its_place_and_a_main_segment_by_none() -> None:
    pack = Segment(
        id="t-29",
        kind="territory",
        label="Finistère · santé",
        territory=Territory(level="departement", code="29", name="Finistère"),
    )
    assert pack.place == "Finistère"
    assert Segment(id="t-1", kind="territory", label="Brest").place == "Brest"
    assert Segment(id="65plus-p01", label="65 ans et +").place == ""
