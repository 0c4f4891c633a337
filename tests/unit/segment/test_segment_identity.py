"""Stable identities: ids and labels kept night to night, retired ids, reruns and backfills."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from segment_samples import EDITION, NEXT, next_night

from matinale.segment import (
    SegmentationError,
    assignment_drift,
    segment_supporters,
)

# --------------------------------------------------------------------------- stable identities


def test_profiles_keep_their_ids_and_labels_from_night_to_night(
    features, definitions, profiles, night1
) -> None:
    state = json.loads(json.dumps(night1.state))  # what the store keeps is plain JSON
    tomorrow = segment_supporters(
        next_night(features), definitions.bands, profiles, state=state, edition=NEXT, run="r2"
    )
    before = {p["id"]: p["label"] for p in night1.report["profiles"]}
    after = {p["id"]: p["label"] for p in tomorrow.report["profiles"]}
    assert after == before
    assert all(p["status"] == "suivi" for p in tomorrow.report["profiles"])
    assert tomorrow.report["identity"]["retired"] == []
    labels_before = {s.id: s.label for s in night1.segments}
    assert all(labels_before.get(s.id, s.label) == s.label for s in tomorrow.segments)
    drift = assignment_drift(night1.assignments, tomorrow.assignments)
    assert drift["new_supporters"] > 0 and drift["gone_supporters"] > 0
    assert drift["moved_share"] < 0.15
    assert tomorrow.state["previous"]["edition"] == EDITION.isoformat()


def test_retired_ids_are_never_reused(features, definitions, profiles, night1) -> None:
    state = json.loads(json.dumps(night1.state))
    lost = state["current"]["profiles"][1]
    lost["centroid"] = {name: 40.0 for name in lost["centroid"]}  # nothing tonight looks like it
    second = segment_supporters(features, definitions.bands, profiles, state=state, edition=NEXT)
    ids = {p["id"] for p in second.report["profiles"]}
    assert lost["id"] not in ids and "p05" in ids
    assert second.state["current"]["retired"] == [lost["id"]]
    # The night after, even a renumbering from scratch of the features cannot give it back.
    third_state = json.loads(json.dumps(second.state))
    third_state["current"]["profiles"] = []
    third = segment_supporters(
        features, definitions.bands, profiles, state=third_state, edition=date(2026, 11, 26)
    )
    third_ids = {p["id"] for p in third.report["profiles"]}
    assert third_ids == {"p06", "p07", "p08", "p09"}
    assert lost["id"] in third.state["current"]["retired"]


def test_a_rerun_matches_the_night_before_and_a_backfill_keeps_the_state(
    features, definitions, profiles, night1
) -> None:
    state1 = json.loads(json.dumps(night1.state))
    first = segment_supporters(
        next_night(features), definitions.bands, profiles, state=state1, edition=NEXT, run="a"
    )
    rerun = segment_supporters(
        next_night(features), definitions.bands, profiles, state=first.state, edition=NEXT, run="b"
    )
    pd.testing.assert_frame_equal(rerun.assignments, first.assignments)
    assert rerun.state["previous"]["edition"] == EDITION.isoformat()
    backfill = segment_supporters(
        features, definitions.bands, profiles, state=rerun.state, edition=EDITION
    )
    assert backfill.state is None


def test_an_unreadable_state_is_a_clear_error(features, definitions, profiles) -> None:
    with pytest.raises(
        SegmentationError,
        match=r"state/segments.json in the work store is unreadable.*delete it to start afresh",
    ):
        segment_supporters(
            features.head(200),
            definitions.bands,
            profiles,
            state={"version": 1, "current": {"edition": "x"}},
            edition=EDITION,
        )
