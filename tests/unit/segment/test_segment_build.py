"""Segmentation: adults only, one segment each, the model, labels, minimum sizes, packs."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd
import pytest
from segment_samples import EDITION, people, segments_json

from matinale.segment import (
    NotEnoughSupportersError,
    ages_on,
    build_profile_pipeline,
    render_report,
    round_size,
    segment_supporters,
)

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


# --------------------------------------------------------------------------- ages


def test_age_is_computed_on_the_edition_date_in_paris() -> None:
    from matinale.schedule import edition_for
    from matinale.settings import load_settings

    clocks = load_settings().clocks
    # 23:30 UTC on the 23rd is already 00:30 on the 24th in Paris: the edition of the 24th.
    edition = edition_for(datetime(2026, 11, 23, 23, 30, tzinfo=UTC), clocks)
    assert edition == EDITION
    born = pd.Series(["2008-11-24", "25/11/2008", "1950-02-29", "n/a"])
    assert ages_on(born, edition).tolist()[:2] == [18, 17]
    assert pd.isna(ages_on(born, edition)[2]) and pd.isna(ages_on(born, edition)[3])


def test_minors_are_left_out_and_counted(definitions, profiles) -> None:
    frame = people([30] * 60 + [17, 16])
    frame["birth_date"] = pd.array(
        ["1996-01-01"] * 60 + ["2008-11-25", "2010-01-01"], dtype="string"
    )
    frame.loc[0, "birth_date"] = (
        "2008-11-24"  # 18 on the edition date: an adult, whatever 'age' said
    )
    frame.loc[0, "age"] = 17
    result = segment_supporters(
        frame, definitions.bands, profiles, edition=EDITION, minors_excluded=5
    )
    assert result.report["minors_excluded"] == 5 + 2
    assert set(result.assignments["supporter_id"]) == set(frame["supporter_id"][:60])
    assert result.report["segmented"] == 60


# --------------------------------------------------------------------------- segments


def test_every_adult_has_one_main_segment_with_a_slug_id(night1, features) -> None:
    result = night1
    assert len(result.assignments) == len(features)
    assert result.assignments["supporter_id"].is_unique
    main = [s for s in segments_json(result) if s["kind"] == "main"]
    ids = [s["id"] for s in main]
    assert all(
        SLUG.match(i) and re.match(r"^(18-24|25-34|35-49|50-64|65plus)-p\d{2}$", i) for i in ids
    )
    assert set(result.assignments["segment_id"].unique()) == set(ids)
    for segment in segments_json(result):
        assert {
            "id",
            "kind",
            "band",
            "band_label",
            "framing",
            "label",
            "size",
            "top_interests",
            "territory",
            "theme",
        } <= set(segment)
        assert segment["size"] % 10 == 0


def test_profiles_are_a_pipeline_of_named_features(profiles) -> None:
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    pipeline = build_profile_pipeline(profiles, 4)
    assert isinstance(pipeline, Pipeline)
    assert isinstance(pipeline.named_steps["encode"], ColumnTransformer)
    assert isinstance(pipeline.named_steps["cluster"], KMeans)


def test_model_columns_and_territory_context(night1) -> None:
    columns = night1.report["model"]["columns"]
    assert (
        "interest:sante" in columns and "events_log" in columns and "unemployment_rate" in columns
    )
    assert {"density:urbain dense", "density:rural"} <= set(columns)
    overall = night1.report["overall"]
    assert 0.03 < overall["unemployment_rate"] < 0.2  # INSEE rates joined from the commune table
    assert sum(overall["density"].values()) == pytest.approx(1.0, abs=0.01)


def test_k_range_is_chosen_by_silhouette(features, definitions) -> None:
    config = replace(definitions.profiles, k_min=3, k_max=5)
    result = segment_supporters(features, definitions.bands, config, edition=EDITION)
    model = result.report["model"]
    assert model["k_method"] == "silhouette"
    assert set(model["silhouette"]) == {"3", "4", "5"}
    assert model["k"] == int(max(model["silhouette"], key=model["silhouette"].get))


def test_labels_are_french_and_distinct_within_a_band(night1) -> None:
    main = [s for s in segments_json(night1) if s["kind"] == "main"]
    for band in {s["band"] for s in main}:
        labels = [s["label"] for s in main if s["band"] == band]
        assert len(labels) == len(set(labels))
    senior = [s for s in main if s["band"] == "65plus"]
    assert all(
        s["label"].startswith("65 ans et + · ") and s["framing"] == "devoir-civique" for s in senior
    )
    descriptor = night1.report["segments"][0]["descriptor"]
    assert {"age", "interests", "density", "departements", "events_mean"} <= set(descriptor)


def test_same_input_and_seed_give_the_same_segments(
    features, definitions, profiles, night1
) -> None:
    again = segment_supporters(
        features,
        definitions.bands,
        profiles,
        territories=definitions.territories,
        edition=EDITION,
        run="r1",
    )
    pd.testing.assert_frame_equal(again.assignments, night1.assignments)
    pd.testing.assert_frame_equal(again.memberships, night1.memberships)
    assert again.segments == night1.segments
    assert json.dumps(again.state, sort_keys=True) == json.dumps(night1.state, sort_keys=True)


# --------------------------------------------------------------------------- minimum size


def test_small_segments_merge_and_nothing_under_the_minimum_is_published(
    features, definitions
) -> None:
    config = replace(definitions.profiles, k_min=8, k_max=8)
    result = segment_supporters(features.head(900), definitions.bands, config, edition=EDITION)
    sizes = result.assignments["segment_id"].value_counts()
    assert (sizes >= 50).all()
    assert result.report["segment_merges"], "900 adults in 5 bands × 8 profiles must need merges"
    for merge in result.report["segment_merges"]:
        assert (
            merge["size"] == "<50" and merge["from"].split("-p")[0] == merge["into"].split("-p")[0]
        )
    assert all(
        s["size"] == round_size(sizes[s["id"]])
        for s in segments_json(result)
        if s["kind"] == "main"
    )


def test_a_band_too_small_joins_its_neighbour(definitions, profiles) -> None:
    frame = people([20] * 12 + [30] * 200 + [40] * 200 + [55] * 200 + [70] * 200)
    result = segment_supporters(frame, definitions.bands, profiles, edition=EDITION)
    merge = result.report["band_merges"][0]
    assert (
        merge["bands"] == ["18-24", "25-34"]
        and merge["kept_id"] == "25-34"
        and merge["adults"] == 212
    )
    young = result.assignments[result.assignments["supporter_id"].isin(frame["supporter_id"][:12])]
    assert young["segment_id"].str.startswith("25-34-p").all()
    merged = [s for s in segments_json(result) if s["band"] == "25-34"]
    assert all(s["band_label"] == "18–34 ans" and s["merged_bands"] == ["18-24"] for s in merged)
    assert "Tranches 18-24 + 25-34 regroupées" in render_report(result.segments, result.report)


def test_too_few_adults_is_an_error(definitions, profiles) -> None:
    with pytest.raises(
        NotEnoughSupportersError,
        match=r"only 30 adults to segment, below the minimum segment size 50",
    ):
        segment_supporters(people([40] * 30), definitions.bands, profiles, edition=EDITION)


def test_campaign_floor_raises_the_minimum(features, definitions, profiles) -> None:
    result = segment_supporters(
        features.head(1200), definitions.bands, profiles, edition=EDITION, min_segment_size=120
    )
    assert result.report["min_segment_size"] == 120
    assert (result.assignments["segment_id"].value_counts() >= 120).all()


# --------------------------------------------------------------------------- territorial packs


def test_territorial_packs_overlap_main_segments(definitions, profiles) -> None:
    paris20 = people([35] * 70, insee="75120")
    paris18 = people([45] * 70, insee="75118", start=1000)
    brest = people([60] * 200, insee="29019", start=2000)
    lille = people([30] * 10, insee="59350", start=3000)
    result = segment_supporters(
        pd.concat([paris20, paris18, brest, lille], ignore_index=True),
        definitions.bands,
        profiles,
        territories=definitions.territories,
        edition=EDITION,
    )
    packs = {s["id"]: s for s in segments_json(result) if s["kind"] == "territory"}
    assert set(packs) == {"t-75056", "t-75120", "t-75118", "t-29"}
    assert packs["t-75056"]["size"] == 140 and packs["t-75120"]["size"] == 70
    assert packs["t-75120"]["territory"] == {
        "level": "arrondissement",
        "code": "75120",
        "name": "Paris 20e Arrondissement",
    }
    assert packs["t-75120"]["label"] == "Paris 20e Arrondissement · transition écologique"
    assert packs["t-75118"]["theme"] == "securite" and packs["t-29"]["band"] is None
    lille_line = next(p for p in result.report["territories"] if p["id"] == "t-59350")
    assert lille_line["published"] is False and lille_line["size"] == "<50"
    person = paris20["supporter_id"][0]
    member_of = set(result.memberships.loc[result.memberships["supporter_id"] == person, "pack_id"])
    assert member_of == {"t-75056", "t-75120"}
    assert (result.assignments["supporter_id"] == person).sum() == 1
    assert len(result.memberships) == 140 + 70 + 70 + 200  # Paris, 20e, 18e, Finistère (Brest)


def test_sex_is_used_when_present(definitions, profiles) -> None:
    frame = people([30] * 60 + [40] * 60)
    frame["sex"] = pd.array(["Femme", "Homme", "F", "M"] * 30, dtype="string")
    config = replace(profiles, features=("sex", "interests"), k_min=2, k_max=2)
    result = segment_supporters(frame, definitions.bands, config, edition=EDITION)
    assert {"sex:f", "sex:m"} <= set(result.report["model"]["columns"])
    woman = frame["sex"].isin(["Femme", "F"])
    by_profile = (
        result.assignments.assign(woman=woman)
        .groupby("profile_id", observed=True)["woman"]
        .nunique()
    )
    assert (by_profile == 1).all()  # two clean profiles: one per sex
