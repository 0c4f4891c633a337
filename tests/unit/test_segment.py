"""Segmentation: definitions, lawful criteria, stable ids, minimum sizes, packs, report."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matinale.ingest import ingest_supporters
from matinale.privacy import split_for_segmentation
from matinale.sample import write_sample
from matinale.segment import (
    INSEE_ADULTS_BY_AGE,
    STATE_KEY,
    ForbiddenCriterionError,
    NotEnoughSupportersError,
    SegmentationError,
    SegmentDefinitionError,
    ages_on,
    assignment_drift,
    build_profile_pipeline,
    load_age_bands,
    load_definitions,
    load_profiles,
    load_territories,
    render_report,
    representativeness,
    round_size,
    segment_supporters,
)

ROOT = Path(__file__).resolve().parents[2]
EDITION = date(2026, 11, 24)
NEXT = date(2026, 11, 25)
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@pytest.fixture(scope="module")
def definitions():
    return load_definitions(ROOT / "segments")


@pytest.fixture(scope="module")
def profiles(definitions):
    # Four profiles keep the test data (2,500 rows) well above the minimum size per band.
    return replace(definitions.profiles, k_min=4, k_max=4)


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """2,500 realistic supporters through the real ingest and privacy stages."""
    path = write_sample(2_500, 11, tmp_path_factory.mktemp("sample") / "supporters.csv")
    valid = ingest_supporters(path, reference_date=EDITION).valid
    return split_for_segmentation(valid).features


@pytest.fixture(scope="module")
def night1(features, definitions, profiles):
    return segment_supporters(features, definitions.bands, profiles, territories=definitions.territories, edition=EDITION, run="r1")


def _yaml(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _people(ages: list[int], *, insee: str = "29019", start: int = 0) -> pd.DataFrame:
    """Hand-made adults for edge cases: deterministic interests and engagement."""
    n = len(ages)
    keys = ["sante", "ecole", "securite|sante", "transition-ecologique", "pouvoir-achat|emploi"]
    return pd.DataFrame(
        {
            "supporter_id": pd.array([f"H{start + i:06d}" for i in range(n)], dtype="string"),
            "age": np.asarray(ages, dtype=np.int64),
            "interests": pd.array([keys[i % len(keys)] for i in range(n)], dtype="string"),
            "events_attended": np.arange(n, dtype=np.int64) % 4,
            "shares_30d": (np.arange(n, dtype=np.int64) * 7) % 11,
            "donor": np.arange(n) % 5 == 0,
            "volunteer": np.arange(n) % 3 == 0,
            "insee_com": pd.array([insee] * n, dtype="string"),
            "postal_code": pd.array([""] * n, dtype="string"),
        }
    )


# --------------------------------------------------------------------------- definitions


def test_shipped_definitions_load(definitions) -> None:
    assert [b.id for b in definitions.bands] == ["18-24", "25-34", "35-49", "50-64", "65plus"]
    assert definitions.profiles.min_segment_size == 50
    packs = {p.id: p for p in definitions.territories}
    assert packs["t-75120"].name == "Paris 20e Arrondissement" and packs["t-75120"].level == "arrondissement"
    assert packs["t-75056"].communes == tuple(f"751{i:02d}" for i in range(1, 21))  # Paris = its 20 arrondissements
    assert packs["t-29"].name == "Finistère"


@pytest.mark.parametrize(
    ("bands", "expected"),
    [
        ("[{id: a, label: A, min: 18, max: 40, framing: x}, {id: b, label: B, min: 35, max: 120, framing: y}]", r"overlap; set min of 'b' to 41"),
        ("[{id: a, label: A, min: 18, max: 30, framing: x}, {id: b, label: B, min: 35, max: 120, framing: y}]", r"ages 31–34 fall in no band"),
        ("[{id: a, label: A, min: 20, max: 120, framing: x}]", r"ages 18–19 fall in no band; set min of 'a' to 18"),
        ("[{id: a, label: A, min: 16, max: 120, framing: x}]", r"never segmented; set its min to 18"),
        ("[{id: a, label: A, min: 18, max: 90, framing: x}]", r"ages above 90 fall in no band.*set max of 'a' to 120"),
        ("[{id: A B, label: A, min: 18, max: 120, framing: x}]", r"bands\[0\]\.id = 'A B' must be a slug"),
        ("[{id: a, label: A, min: 18, max: 120}]", r"bands\[0\] has no framing"),
        ("[{id: a, label: A, min: 18, max: 120, framing: x, colour: red}]", r"unknown key 'bands\[0\]\.colour'"),
        ("[{id: a, label: A, min: 18, max: 50, framing: x}, {id: a, label: B, min: 51, max: 120, framing: y}]", r"'a' is used twice"),
        ("[{id: a, label: A, min: dix-huit, max: 120, framing: x}]", r"bands\[0\]\.min = 'dix-huit' must be an integer"),
    ],
)
def test_age_bands_errors_name_file_key_and_fix(tmp_path: Path, bands: str, expected: str) -> None:
    path = _yaml(tmp_path, "age_bands.yaml", f"bands: {bands}\n")
    with pytest.raises(SegmentDefinitionError, match=expected) as caught:
        load_age_bands(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("features: [interests, engagment]\n", r"features\[1\] = 'engagment' is not a known feature; did you mean 'engagement'"),
        ("features: [interests]\nclusters: 0\n", r"clusters = 0 is out of range 1..30"),
        ("features: [interests]\nclusters: 31\n", r"clusters = 31 is out of range 1..30"),
        ("features: [interests]\nclusters: {min: 1, max: 5}\n", r"must lie in 2..30"),
        ("features: [interests]\nclusters: {min: 6, max: 3}\n", r"clusters: min 6 is above max 3"),
        ("features: [interests]\ncluster: 4\n", r"unknown key 'cluster'; did you mean 'clusters'"),
        ("features: [interests]\nmin_segment_size: 5\n", r"min_segment_size = 5 is below 10"),
        ("features: [interests]\nweights: {density: 2}\n", r"weights.density weighs a feature that is not in 'features'"),
        ("features: []\n", r"'features' is missing or empty"),
        ("features: [interests, lieu_de_vote]\n", r"'lieu_de_vote' is not a feature: the place of voting is used through"),
    ],
)
def test_profile_errors_name_file_key_and_fix(tmp_path: Path, text: str, expected: str) -> None:
    path = _yaml(tmp_path, "profiles.yaml", text)
    with pytest.raises(SegmentDefinitionError, match=expected) as caught:
        load_profiles(path)
    assert str(path) in str(caught.value)
    assert not isinstance(caught.value, ForbiddenCriterionError)


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("origine_ethnique", "racial or ethnic origin"),
        ("nationalité", "national origin"),
        ("lieu_de_naissance", "birthplace"),
        ("country_of_birth", "birthplace"),
        ("last_name", "name or name consonance"),
        ("prenom", "name or name consonance"),
        ("consonance_du_nom", "name or name consonance"),
        ("religion", "religion"),
        ("etat_de_sante", "health"),
        ("orientation_sexuelle", "sex life"),
        ("syndicat", "union membership"),
        ("opinion_politique", "political opinion"),
        ("vote_2022", "political opinion"),
    ],
)
def test_forbidden_criteria_are_refused_citing_the_cnil_rule(tmp_path: Path, name: str, category: str) -> None:
    path = _yaml(tmp_path, "profiles.yaml", f"features: [interests, {name}]\n")
    with pytest.raises(ForbiddenCriterionError) as caught:
        load_profiles(path)
    message = str(caught.value)
    assert f"features[1] = {name!r} is a forbidden criterion ({category}" in message
    assert "RGPD art. 9" in message and "Informatique et Libertés" in message and "CNIL" in message
    assert str(path) in message


def test_age_sex_and_place_are_allowed(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "profiles.yaml", "features: [age, sex, density, departement, unemployment]\nclusters: {min: 3, max: 6}\n")
    config = load_profiles(path)
    assert config.features == ("age", "sex", "density", "departement", "unemployment")
    assert config.clusters == (3, 6)


@pytest.mark.parametrize(
    ("packs", "expected"),
    [
        ("[{level: region, code: '11'}]", r"level = 'region' must be departement, commune or arrondissement"),
        ("[{level: departement, code: 1}]", r"code = '1' is not a département code"),
        ("[{level: commune, code: '75120'}]", r"'75120' is an arrondissement; set level: arrondissement"),
        ("[{level: arrondissement, code: '59350'}]", r"'59350' is not an arrondissement: use 75101–75120"),
        ("[{level: commune, code: '99999'}]", r"not an INSEE commune code"),
        ("[{level: departement, code: '29'}, {level: departement, code: '29'}]", r"listed twice"),
        ("[{level: departement, code: '29', theme: Santé}]", r"theme = 'Santé' must be a theme id"),
    ],
)
def test_territory_errors(tmp_path: Path, packs: str, expected: str) -> None:
    path = _yaml(tmp_path, "territories.yaml", f"packs: {packs}\n")
    with pytest.raises(SegmentDefinitionError, match=expected):
        load_territories(path)


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
    frame = _people([30] * 60 + [17, 16])
    frame["birth_date"] = pd.array(["1996-01-01"] * 60 + ["2008-11-25", "2010-01-01"], dtype="string")
    frame.loc[0, "birth_date"] = "2008-11-24"  # 18 on the edition date: an adult, whatever 'age' said
    frame.loc[0, "age"] = 17
    result = segment_supporters(frame, definitions.bands, profiles, edition=EDITION, minors_excluded=5)
    assert result.report["minors_excluded"] == 5 + 2
    assert set(result.assignments["supporter_id"]) == set(frame["supporter_id"][:60])
    assert result.report["segmented"] == 60


# --------------------------------------------------------------------------- segments


def test_every_adult_has_one_main_segment_with_a_slug_id(night1, features) -> None:
    result = night1
    assert len(result.assignments) == len(features)
    assert result.assignments["supporter_id"].is_unique
    main = [s for s in result.segments if s["kind"] == "main"]
    ids = [s["id"] for s in main]
    assert all(SLUG.match(i) and re.match(r"^(18-24|25-34|35-49|50-64|65plus)-p\d{2}$", i) for i in ids)
    assert set(result.assignments["segment_id"].unique()) == set(ids)
    for segment in result.segments:
        assert {"id", "kind", "band", "band_label", "framing", "label", "size", "top_interests", "territory", "theme"} <= set(segment)
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
    assert "interest:sante" in columns and "events_log" in columns and "unemployment_rate" in columns
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
    main = [s for s in night1.segments if s["kind"] == "main"]
    for band in {s["band"] for s in main}:
        labels = [s["label"] for s in main if s["band"] == band]
        assert len(labels) == len(set(labels))
    senior = [s for s in main if s["band"] == "65plus"]
    assert all(s["label"].startswith("65 ans et + · ") and s["framing"] == "devoir-civique" for s in senior)
    descriptor = night1.report["segments"][0]["descriptor"]
    assert {"age", "interests", "density", "departements", "events_mean"} <= set(descriptor)


def test_same_input_and_seed_give_the_same_segments(features, definitions, profiles, night1) -> None:
    again = segment_supporters(features, definitions.bands, profiles, territories=definitions.territories, edition=EDITION, run="r1")
    pd.testing.assert_frame_equal(again.assignments, night1.assignments)
    pd.testing.assert_frame_equal(again.memberships, night1.memberships)
    assert again.segments == night1.segments
    assert json.dumps(again.state, sort_keys=True) == json.dumps(night1.state, sort_keys=True)


# --------------------------------------------------------------------------- stable identities


def _next_night(features: pd.DataFrame) -> pd.DataFrame:
    """Tomorrow's file: 4 % left, 4 % joined, a few people more active."""
    rng = np.random.default_rng(5)
    kept = features[rng.random(len(features)) >= 0.04]
    joined = features.sample(frac=0.04, random_state=3).copy()
    joined["supporter_id"] = ("N" + joined["supporter_id"].str[1:]).astype("string")
    tomorrow = pd.concat([kept, joined], ignore_index=True)
    busier = rng.random(len(tomorrow)) < 0.03
    tomorrow.loc[busier, "events_attended"] += 2
    return tomorrow


def test_profiles_keep_their_ids_and_labels_from_night_to_night(features, definitions, profiles, night1) -> None:
    state = json.loads(json.dumps(night1.state))  # what the store keeps is plain JSON
    tomorrow = segment_supporters(_next_night(features), definitions.bands, profiles, state=state, edition=NEXT, run="r2")
    before = {p["id"]: p["label"] for p in night1.report["profiles"]}
    after = {p["id"]: p["label"] for p in tomorrow.report["profiles"]}
    assert after == before
    assert all(p["status"] == "suivi" for p in tomorrow.report["profiles"])
    assert tomorrow.report["identity"]["retired"] == []
    labels_before = {s["id"]: s["label"] for s in night1.segments}
    assert all(labels_before.get(s["id"], s["label"]) == s["label"] for s in tomorrow.segments)
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
    third = segment_supporters(features, definitions.bands, profiles, state=third_state, edition=date(2026, 11, 26))
    third_ids = {p["id"] for p in third.report["profiles"]}
    assert third_ids == {"p06", "p07", "p08", "p09"}
    assert lost["id"] in third.state["current"]["retired"]


def test_a_rerun_matches_the_night_before_and_a_backfill_keeps_the_state(features, definitions, profiles, night1) -> None:
    state1 = json.loads(json.dumps(night1.state))
    first = segment_supporters(_next_night(features), definitions.bands, profiles, state=state1, edition=NEXT, run="a")
    rerun = segment_supporters(_next_night(features), definitions.bands, profiles, state=first.state, edition=NEXT, run="b")
    pd.testing.assert_frame_equal(rerun.assignments, first.assignments)
    assert rerun.state["previous"]["edition"] == EDITION.isoformat()
    backfill = segment_supporters(features, definitions.bands, profiles, state=rerun.state, edition=EDITION)
    assert backfill.state is None


def test_an_unreadable_state_is_a_clear_error(features, definitions, profiles) -> None:
    with pytest.raises(SegmentationError, match=r"state/segments.json in the work store is unreadable.*delete it to start afresh"):
        segment_supporters(features.head(200), definitions.bands, profiles, state={"version": 1, "current": {"edition": "x"}}, edition=EDITION)


# --------------------------------------------------------------------------- minimum size


def test_small_segments_merge_and_nothing_under_the_minimum_is_published(features, definitions) -> None:
    config = replace(definitions.profiles, k_min=8, k_max=8)
    result = segment_supporters(features.head(900), definitions.bands, config, edition=EDITION)
    sizes = result.assignments["segment_id"].value_counts()
    assert (sizes >= 50).all()
    assert result.report["segment_merges"], "900 adults in 5 bands × 8 profiles must need merges"
    for merge in result.report["segment_merges"]:
        assert merge["size"] == "<50" and merge["from"].split("-p")[0] == merge["into"].split("-p")[0]
    assert all(s["size"] == round_size(sizes[s["id"]]) for s in result.segments if s["kind"] == "main")


def test_a_band_too_small_joins_its_neighbour(definitions, profiles) -> None:
    frame = _people([20] * 12 + [30] * 200 + [40] * 200 + [55] * 200 + [70] * 200)
    result = segment_supporters(frame, definitions.bands, profiles, edition=EDITION)
    merge = result.report["band_merges"][0]
    assert merge["bands"] == ["18-24", "25-34"] and merge["kept_id"] == "25-34" and merge["adults"] == 212
    young = result.assignments[result.assignments["supporter_id"].isin(frame["supporter_id"][:12])]
    assert young["segment_id"].str.startswith("25-34-p").all()
    merged = [s for s in result.segments if s["band"] == "25-34"]
    assert all(s["band_label"] == "18–34 ans" and s["merged_bands"] == ["18-24"] for s in merged)
    assert "Tranches 18-24 + 25-34 regroupées" in render_report(result.segments, result.report)


def test_too_few_adults_is_an_error(definitions, profiles) -> None:
    with pytest.raises(NotEnoughSupportersError, match=r"only 30 adults to segment, below the minimum segment size 50"):
        segment_supporters(_people([40] * 30), definitions.bands, profiles, edition=EDITION)


def test_campaign_floor_raises_the_minimum(features, definitions, profiles) -> None:
    result = segment_supporters(features.head(1200), definitions.bands, profiles, edition=EDITION, min_segment_size=120)
    assert result.report["min_segment_size"] == 120
    assert (result.assignments["segment_id"].value_counts() >= 120).all()


# --------------------------------------------------------------------------- territorial packs


def test_territorial_packs_overlap_main_segments(definitions, profiles) -> None:
    paris20 = _people([35] * 70, insee="75120")
    paris18 = _people([45] * 70, insee="75118", start=1000)
    brest = _people([60] * 200, insee="29019", start=2000)
    lille = _people([30] * 10, insee="59350", start=3000)
    result = segment_supporters(
        pd.concat([paris20, paris18, brest, lille], ignore_index=True), definitions.bands, profiles,
        territories=definitions.territories, edition=EDITION,
    )
    packs = {s["id"]: s for s in result.segments if s["kind"] == "territory"}
    assert set(packs) == {"t-75056", "t-75120", "t-75118", "t-29"}
    assert packs["t-75056"]["size"] == 140 and packs["t-75120"]["size"] == 70
    assert packs["t-75120"]["territory"] == {"level": "arrondissement", "code": "75120", "name": "Paris 20e Arrondissement"}
    assert packs["t-75120"]["label"] == "Paris 20e Arrondissement · transition écologique"
    assert packs["t-75118"]["theme"] == "securite" and packs["t-29"]["band"] is None
    lille_line = next(p for p in result.report["territories"] if p["id"] == "t-59350")
    assert lille_line["published"] is False and lille_line["size"] == "<50"
    person = paris20["supporter_id"][0]
    member_of = set(result.memberships.loc[result.memberships["supporter_id"] == person, "pack_id"])
    assert member_of == {"t-75056", "t-75120"}
    assert (result.assignments["supporter_id"] == person).sum() == 1
    assert len(result.memberships) == 140 + 70 + 70 + 200  # Paris, 20e, 18e, Finistère (Brest)


# --------------------------------------------------------------------------- report


def test_insee_age_structure_constants() -> None:
    assert len(INSEE_ADULTS_BY_AGE) == 82  # 18..98 and "99 and over"
    assert sum(INSEE_ADULTS_BY_AGE) == 53_405_857


def test_representativeness_by_band_and_departement(definitions) -> None:
    group = pd.DataFrame({"age": [30] * 90 + [70] * 10, "postal_code": ["75020"] * 90 + ["29200"] * 10})
    result = representativeness(group, definitions.bands)
    bands = {row["band"]: row for row in result["age_bands"]}
    assert bands["25-34"]["flag"] == "sur-représenté" and bands["18-24"]["flag"] == "sous-représenté"
    assert sum(row["insee_share"] for row in result["age_bands"]) == pytest.approx(1.0, abs=0.001)
    deps = {row["code"]: row for row in result["departements"]}
    assert deps["75"]["supporters"] == 90 and deps["75"]["flag"] == "sur-représenté"
    assert deps["59"]["flag"] == "sous-représenté" and deps["976"]["index"] is None  # Mayotte: no population in the table
    assert "Insee" in result["sources"]["age"] and "2022" in result["sources"]["age"]


def test_report_is_french_and_holds_no_supporter_id(night1, features) -> None:
    text = render_report(night1.segments, night1.report)
    assert "## Segments" in text and "## Représentativité" in text and "Par département" in text
    assert "| 65plus-p" in text
    published = json.dumps({"segments": night1.segments, "report": night1.report}, ensure_ascii=False)
    ids = set(features["supporter_id"])
    assert not [token for token in re.findall(r"S\d{8}", published + text) if token in ids]


# --------------------------------------------------------------------------- the night's stage


def _stage(settings, store, features: pd.DataFrame, edition: date, run: str):
    from matinale.night import RunContext, run_segment

    ctx = RunContext(edition=edition, run=run, supporters_file="unused.csv", brief_file="unused.yaml")
    store.put_frame(f"{ctx.prefix}/private/features.parquet", features)
    store.put_json(f"{ctx.prefix}/compliance.json", {"minors_excluded": 3})
    return ctx, run_segment(settings, store, ctx)


def test_run_segment_writes_private_and_public_files_and_the_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, features) -> None:
    from matinale.settings import load_settings
    from matinale.store import LocalStore

    monkeypatch.setenv("MATINALE_VAR", str(tmp_path))
    settings = load_settings()
    store = LocalStore(settings.work_dir)
    ctx, summary = _stage(settings, store, features, EDITION, "r1")
    assert summary["minors_excluded"] == 3 and summary["main"] > 0
    listing = store.list(ctx.prefix)
    assert {f"{ctx.prefix}/segments.json", f"{ctx.prefix}/segments_report.md", f"{ctx.prefix}/private/assignments.parquet",
            f"{ctx.prefix}/private/territories.parquet"} <= set(listing)
    state = store.get_json(STATE_KEY)
    assert state["current"]["assignments"] == f"{ctx.prefix}/private/assignments.parquet"
    ctx2, summary2 = _stage(settings, store, _next_night(features), NEXT, "r2")
    assert "moved_share" in summary2
    report = store.get_json(f"{ctx2.prefix}/segments.json")["report"]
    assert report["drift"]["base_edition"] == EDITION.isoformat() and report["drift"]["supporters_both_nights"] > 2000
    assert "Personnes ayant changé de segment" in store.get_bytes(f"{ctx2.prefix}/segments_report.md").decode()


def test_run_segment_on_real_s3(s3_server, s3_buckets, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, features) -> None:
    from matinale.settings import load_settings
    from matinale.store import S3Store

    monkeypatch.setenv("MATINALE_VAR", str(tmp_path))
    settings = load_settings()
    client = s3_server.client()
    store = S3Store(client, s3_buckets["private"], "work")
    ctx, summary = _stage(settings, store, features.head(1500), EDITION, "r1")
    keys = {item["Key"] for item in client.list_objects_v2(Bucket=s3_buckets["private"])["Contents"]}
    assert "work/state/segments.json" in keys
    assert f"work/{ctx.prefix}/segments.json" in keys
    segments = store.get_json(f"{ctx.prefix}/segments.json")["segments"]
    assert len(segments) == summary["segments"]


def test_sex_is_used_when_present(definitions, profiles) -> None:
    frame = _people([30] * 60 + [40] * 60)
    frame["sex"] = pd.array(["Femme", "Homme", "F", "M"] * 30, dtype="string")
    config = replace(profiles, features=("sex", "interests"), k_min=2, k_max=2)
    result = segment_supporters(frame, definitions.bands, config, edition=EDITION)
    assert {"sex:f", "sex:m"} <= set(result.report["model"]["columns"])
    woman = frame["sex"].isin(["Femme", "F"])
    by_profile = result.assignments.assign(woman=woman).groupby("profile_id", observed=True)["woman"].nunique()
    assert (by_profile == 1).all()  # two clean profiles: one per sex
