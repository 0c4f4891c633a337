"""Segment definitions: the YAML files in segments/, lawful criteria, errors that say the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from matinale.segment import (
    ForbiddenCriterionError,
    SegmentDefinitionError,
    load_age_bands,
    load_profiles,
    load_territories,
)


def _yaml(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- definitions


def test_shipped_definitions_load(definitions) -> None:
    assert [b.id for b in definitions.bands] == ["18-24", "25-34", "35-49", "50-64", "65plus"]
    assert definitions.profiles.min_segment_size == 50
    packs = {p.id: p for p in definitions.territories}
    assert (
        packs["t-75120"].name == "Paris 20e Arrondissement"
        and packs["t-75120"].level == "arrondissement"
    )
    assert packs["t-75056"].communes == tuple(
        f"751{i:02d}" for i in range(1, 21)
    )  # Paris = its 20 arrondissements
    assert packs["t-29"].name == "Finistère"


@pytest.mark.parametrize(
    ("bands", "expected"),
    [
        (
            "[{id: a, label: A, min: 18, max: 40, framing: x}, {id: b, label: B, min: 35, max: 120, framing: y}]",
            r"overlap; set min of 'b' to 41",
        ),
        (
            "[{id: a, label: A, min: 18, max: 30, framing: x}, {id: b, label: B, min: 35, max: 120, framing: y}]",
            r"ages 31–34 fall in no band",
        ),
        (
            "[{id: a, label: A, min: 20, max: 120, framing: x}]",
            r"ages 18–19 fall in no band; set min of 'a' to 18",
        ),
        (
            "[{id: a, label: A, min: 16, max: 120, framing: x}]",
            r"never segmented; set its min to 18",
        ),
        (
            "[{id: a, label: A, min: 18, max: 90, framing: x}]",
            r"ages above 90 fall in no band.*set max of 'a' to 120",
        ),
        (
            "[{id: A B, label: A, min: 18, max: 120, framing: x}]",
            r"bands\[0\]\.id: 'A B' must be a slug",
        ),
        ("[{id: a, label: A, min: 18, max: 120}]", r"bands\[0\]\.framing: is required — add it"),
        (
            "[{id: a, label: A, min: 18, max: 120, framing: x, colour: red}]",
            r"bands\[0\]\.colour: unknown key 'colour'",
        ),
        (
            "[{id: a, label: A, min: 18, max: 50, framing: x}, {id: a, label: B, min: 51, max: 120, framing: y}]",
            r"'a' is used twice",
        ),
        (
            "[{id: a, label: A, min: dix-huit, max: 120, framing: x}]",
            r"bands\[0\]\.min: .*integer.* \(got 'dix-huit'\) — write a whole number",
        ),
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
        (
            "features: [interests, engagment]\n",
            r"features\[1\] = 'engagment' is not a known feature; did you mean 'engagement'",
        ),
        ("features: [interests]\nclusters: 0\n", r"clusters: 0 is out of range 1..30"),
        ("features: [interests]\nclusters: 31\n", r"clusters: 31 is out of range 1..30"),
        ("features: [interests]\nclusters: {min: 1, max: 5}\n", r"must lie in 2..30"),
        ("features: [interests]\nclusters: {min: 6, max: 3}\n", r"clusters: min 6 is above max 3"),
        ("features: [interests]\ncluster: 4\n", r"unknown key 'cluster' — did you mean 'clusters'"),
        ("features: [interests]\nmin_segment_size: 5\n", r"min_segment_size: 5 is below 10"),
        (
            "features: [interests]\nweights: {density: 2}\n",
            r"weights\.density: weighs a feature that is not in 'features'",
        ),
        ("features: []\n", r"'features' is missing or empty"),
        (
            "features: [interests, lieu_de_vote]\n",
            r"'lieu_de_vote' is not a feature: the place of voting is used through",
        ),
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
def test_forbidden_criteria_are_refused_citing_the_cnil_rule(
    tmp_path: Path, name: str, category: str
) -> None:
    path = _yaml(tmp_path, "profiles.yaml", f"features: [interests, {name}]\n")
    with pytest.raises(ForbiddenCriterionError) as caught:
        load_profiles(path)
    message = str(caught.value)
    assert f"features[1] = {name!r} is a forbidden criterion ({category}" in message
    assert "RGPD art. 9" in message and "Informatique et Libertés" in message and "CNIL" in message
    assert str(path) in message


def test_age_sex_and_place_are_allowed(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        "profiles.yaml",
        "features: [age, sex, density, departement, unemployment]\nclusters: {min: 3, max: 6}\n",
    )
    config = load_profiles(path)
    assert config.features == ("age", "sex", "density", "departement", "unemployment")
    assert config.clusters == (3, 6)


@pytest.mark.parametrize(
    ("packs", "expected"),
    [
        (
            "[{level: region, code: '11'}]",
            r"level: 'region' must be departement, commune or arrondissement",
        ),
        ("[{level: departement, code: 1}]", r"code: '1' is not a département code"),
        (
            "[{level: commune, code: '75120'}]",
            r"'75120' is an arrondissement; set level: arrondissement",
        ),
        (
            "[{level: arrondissement, code: '59350'}]",
            r"'59350' is not an arrondissement: use 75101–75120",
        ),
        ("[{level: commune, code: '99999'}]", r"not an INSEE commune code"),
        ("[{level: departement, code: '29'}, {level: departement, code: '29'}]", r"listed twice"),
        ("[{level: departement, code: '29', theme: Santé}]", r"theme: 'Santé' must be a theme id"),
    ],
)
def test_territory_errors(tmp_path: Path, packs: str, expected: str) -> None:
    path = _yaml(tmp_path, "territories.yaml", f"packs: {packs}\n")
    with pytest.raises(SegmentDefinitionError, match=expected):
        load_territories(path)


@pytest.mark.parametrize(
    ("value", "k"), [("1", (1, 1)), ("6", (6, 6)), ("{min: 3, max: 3}", (3, 3))]
)
def test_a_fixed_number_of_profiles_is_accepted(
    tmp_path: Path, value: str, k: tuple[int, int]
) -> None:
    """A fixed k (1 included: one profile per band, as the benchmark's small runs use) is no
    silhouette range, so the 2..30 rule of ranges does not apply to it."""
    profiles = load_profiles(
        _yaml(tmp_path, "profiles.yaml", f"features: [interests]\nclusters: {value}\n")
    )
    assert (profiles.k_min, profiles.k_max) == k
