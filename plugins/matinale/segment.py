"""Segment adults by age band × profile, with stable ids, lawful criteria and a staff report.

What the data team edits (``segments/``):

- ``age_bands.yaml``: bands with id, French label, min/max age and a framing key;
- ``profiles.yaml``: features (from an allowlist), number of clusters or a range chosen by
  silhouette, minimum segment size, seed, optional weights and the interest vocabulary;
- ``territories.yaml``: territorial packs (département, commune, Paris/Lyon/Marseille
  arrondissement) that overlap the main segments.

How a night segments (``segment_supporters``):

1. Adults only (age on the edition date, 18+); minors are counted, never used.
2. Profiles are one clustering over all adults: a scikit-learn ``Pipeline`` (territory
   context joined from the INSEE commune table → ``ColumnTransformer`` encoding multi-label
   interests, engagement, density class, unemployment rate, département → weighted scaling →
   ``KMeans``). The model is fitted on a uniform sample (``sample_size`` rows, 50,000 by
   default) and predicts every adult: with 50,000 rows each centroid is estimated to a small
   fraction of a standard deviation, so fitting on a million rows would only cost time.
   ``MiniBatchKMeans`` is not needed at that size and moves more from one night to the next.
3. Profiles are matched to the previous night's (Hungarian assignment on centroid
   distances): a matched profile keeps its id and label, a new one gets a new id, ids that
   disappear are retired and never reused. The state kept between nights is plain JSON
   (centroids in named feature space), not a pickled model.
4. A segment is ``<band>-<profile>`` (e.g. ``65plus-p03``). A segment under the minimum
   size is merged into the nearest profile of its band; a band too small as a whole is
   merged with its neighbour. Sizes that reach the bundle are rounded to 10.
5. The report compares the supporter base with France (INSEE): by département and by age.

Assignments (who is in which segment) and territorial memberships are private; only
segment-level descriptions reach the bundle.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from matinale.privacy import ADULT_AGE

__all__ = [
    "ALLOWED_FEATURES",
    "CNIL_RULE",
    "DEFAULT_INTERESTS",
    "FORBIDDEN_CRITERIA",
    "INSEE_ADULTS_BY_AGE",
    "INSEE_AGE_SOURCE",
    "STATE_KEY",
    "AgeBand",
    "Definitions",
    "ForbiddenCriterionError",
    "NotEnoughSupportersError",
    "ProfileConfig",
    "SegmentDefinitionError",
    "SegmentationError",
    "SegmentationResult",
    "TerritoryPack",
    "ages_on",
    "assignment_drift",
    "build_profile_pipeline",
    "check_criterion",
    "load_age_bands",
    "load_definitions",
    "load_profiles",
    "load_territories",
    "profile_matrix",
    "render_report",
    "representativeness",
    "round_size",
    "segment_supporters",
]

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

#: Where the identity state lives in the work store, outside any run prefix.
STATE_KEY = "state/segments.json"
_STATE_VERSION = 1

#: Features a profile may use, and what each one reads.
ALLOWED_FEATURES: dict[str, str] = {
    "interests": "declared interests (multi-label, one column per vocabulary key)",
    "engagement": "events attended and shares in 30 days (log-scaled)",
    "involvement": "donor and volunteer flags",
    "density": "density class of the commune (INSEE population / area)",
    "unemployment": "unemployment rate of 15-64 year olds in the commune (INSEE)",
    "departement": "département of the commune (one-hot)",
    "age": "age on the edition date",
    "sex": "sex, when the supporter file has it",
}
#: Names that look like criteria but are served by allowed features: a helpful pointer.
_SERVED_BY: dict[str, str] = {
    "place_of_voting": "the place of voting is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "lieu_de_vote": "the place of voting is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "bureau_de_vote": "the place of voting is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "commune": "the commune is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "insee_com": "the commune is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "postal_code": "the commune is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "events_attended": "use 'engagement'",
    "shares_30d": "use 'engagement'",
    "donor": "use 'involvement'",
    "volunteer": "use 'involvement'",
    "sexe": "use 'sex'",
    "gender": "use 'sex'",
    "genre": "use 'sex'",
    "birth_date": "use 'age' (computed on the edition date)",
}

#: The rule a forbidden criterion breaks, cited in every refusal.
CNIL_RULE = (
    "sensitive data may not be used to select or target people: RGPD art. 9 and loi "
    "Informatique et Libertés (n° 78-17) art. 6; the CNIL's recommendation on political "
    "files (délibération n° 2012-020 du 26 janvier 2012) allows sorting by age or address, "
    "not by the consonance of names or anything revealing origin, religion, health, sexual "
    "life, union membership or political opinions other than support for the campaign"
)

#: Forbidden criteria: category → patterns over a folded name (lowercase ASCII, ``_``).
FORBIDDEN_CRITERIA: dict[str, tuple[str, ...]] = {
    "racial or ethnic origin": (r"ethni", r"\brace\b", r"racial", r"skin", r"couleur_de_peau", r"\borigin", r"origine"),
    "national origin or nationality": (r"nationalit", r"national_origin", r"citizenship", r"immigr", r"diaspora", r"pays_d_?origine"),
    "birthplace": (
        r"birth_?place", r"place_of_birth", r"country_of_birth", r"lieu_d?e?_?naissance", r"pays_d?e?_?naissance",
        r"commune_d?e?_?naissance", r"departement_d?e?_?naissance", r"ville_d?e?_?naissance", r"\bnee?_a\b",
    ),
    "name or name consonance": (
        r"^(first|last|given|family|sur|full|middle|maiden)_?name$", r"^name$", r"^nom$", r"^prenoms?$",
        r"^nom_(de_famille|d_usage|de_naissance|complet)$", r"consonan", r"onomast", r"patronym",
    ),
    "religion or beliefs": (r"relig", r"confession", r"\bfaith", r"croyance", r"belief", r"convictions?", r"\bculte\b"),
    "health": (
        r"health", r"etat_de_sante", r"dossier_medical", r"maladie", r"disease", r"handicap", r"disab", r"medical",
        r"patholog", r"diagnos", r"pregnan", r"grossesse", r"vaccin",
    ),
    "sex life or sexual orientation": (r"sexual", r"sexuel", r"orientation", r"lgbt"),
    "union membership": (r"trade_?union", r"union_member", r"syndica", r"labou?r_union"),
    "political opinion": (
        r"politi", r"opinion", r"\bparty\b", r"\bparti\b", r"\bvotes?\b", r"voting", r"intention_de_vote", r"ideolog",
        r"gauche", r"droite", r"abstention", r"electoral_history",
    ),
    "genetic or biometric data": (r"genet", r"biometr", r"\bdna\b", r"\badn\b"),
    "criminal record": (r"criminal", r"casier", r"condamnation", r"conviction_record"),
}

#: The interest vocabulary when profiles.yaml gives none: key → French label.
DEFAULT_INTERESTS: dict[str, str] = {
    "pouvoir-achat": "pouvoir d'achat",
    "ecole": "école",
    "sante": "santé",
    "transition-ecologique": "transition écologique",
    "europe": "Europe",
    "securite": "sécurité",
    "emploi": "emploi",
    "logement": "logement",
    "culture": "culture",
    "agriculture": "agriculture",
}

#: France's population by single year of age, 18 to 99 (the last value is 99 and over), at
#: 1 January 2022, both sexes, France including Mayotte (67,813,396 people of all ages).
INSEE_ADULTS_BY_AGE: tuple[int, ...] = (
    831528, 827807, 830697, 835200, 778873, 765236, 741535, 746399, 738131, 722662,  # 18-27
    728320, 764166, 779572, 801165, 806948, 821127, 824250, 839830, 838306, 834328,  # 28-37
    820145, 868806, 874869, 886274, 837272, 818115, 820176, 799456, 824241, 866161,  # 38-47
    907462, 927759, 921723, 900060, 888235, 875245, 871895, 890989, 891608, 899644,  # 48-57
    887307, 856255, 853667, 846060, 839655, 816587, 809514, 800032, 787325, 779454,  # 58-67
    760616, 768507, 743139, 764252, 744985, 736777, 715221, 666821, 498019, 478997,  # 68-77
    459971, 418516, 365621, 371202, 379585, 357369, 337938, 322009, 294853, 278596,  # 78-87
    246130, 229535, 197481, 172622, 135469, 111515, 88537, 69657, 53102, 38627,  # 88-97
    27946, 50171,  # 98, 99+
)
INSEE_AGE_SOURCE = (
    "Insee, estimations de population au 1er janvier 2022 par âge détaillé, France "
    "(y compris Mayotte), pyramide des âges interactive "
    "(https://www.insee.fr/fr/outil-interactif/5014911/pyramide.htm), fichier "
    "donnees_pyramide_act.csv extrait le 24 juin 2022"
)
_INSEE_DEPARTEMENT_SOURCE = (
    "Insee, population municipale 2021 (comparateur de territoires 2024), tous âges, "
    "table des communes livrée avec Matinale (matinale.geo)"
)
_OVER, _UNDER = 1.25, 0.80  # representation index thresholds for the report's flags

_DEFAULT_SAMPLE = 50_000
_SEARCH_SAMPLE = 10_000  # rows used to compare k by silhouette (differences between k are far above its noise)
_SILHOUETTE_SAMPLE = 3_000
_STICKY_SILHOUETTE = 0.02  # keep last night's k unless another k is clearly better
_CHUNK = 131_072  # rows predicted at once: bounds memory whatever the feature width
_MAX_AGE_BIN = 121
_MIN_SIZE_FLOOR = 10


# --------------------------------------------------------------------------- errors


class SegmentationError(ValueError):
    """Segmentation cannot run: the message says what to fix."""


class SegmentDefinitionError(SegmentationError):
    """A file in ``segments/`` is wrong: the message names the file, the key and the fix."""


class ForbiddenCriterionError(SegmentDefinitionError):
    """A definition uses a criterion the law forbids (RGPD art. 9, loi I&L art. 6)."""


class NotEnoughSupportersError(SegmentationError):
    """Too few adults to publish even one segment of the minimum size."""


# --------------------------------------------------------------------------- definitions


@dataclass(frozen=True)
class AgeBand:
    id: str
    label: str
    min: int
    max: int
    framing: str


@dataclass(frozen=True)
class ProfileConfig:
    features: tuple[str, ...]
    k_min: int
    k_max: int
    min_segment_size: int = 50
    seed: int = 42
    sample_size: int = _DEFAULT_SAMPLE
    weights: Mapping[str, float] = field(default_factory=dict)
    interests: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_INTERESTS))
    max_centroid_shift: float = 0.5
    territories: str | None = None

    @property
    def clusters(self) -> int | tuple[int, int]:
        return self.k_min if self.k_min == self.k_max else (self.k_min, self.k_max)


@dataclass(frozen=True)
class TerritoryPack:
    id: str
    level: str  # departement | commune | arrondissement
    code: str
    name: str
    theme: str | None
    communes: tuple[str, ...]  # INSEE codes covered (empty for a département)


@dataclass(frozen=True)
class Definitions:
    bands: list[AgeBand]
    profiles: ProfileConfig
    territories: list[TerritoryPack]


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SegmentDefinitionError(f"{path}: file not found; create it (see segments/ in the repository)") from exc
    except yaml.YAMLError as exc:
        raise SegmentDefinitionError(f"{path}: not valid YAML: {exc}") from exc


def _int(value: Any, where: str, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SegmentDefinitionError(f"{where} = {value!r} must be an integer ({hint})")
    try:
        return int(value)
    except ValueError as exc:
        raise SegmentDefinitionError(f"{where} = {value!r} must be an integer ({hint})") from exc


def _unknown_keys(raw: Mapping[str, Any], known: Iterable[str], path: Path, where: str = "") -> None:
    known = list(known)
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {known}"
            raise SegmentDefinitionError(f"{path}: unknown key '{where}{key}'; {hint}")


def load_age_bands(path: Path) -> list[AgeBand]:
    """Read and check ``age_bands.yaml``: slugs, every adult age in exactly one band."""
    path = Path(path)
    raw = _load_yaml(path) or {}
    items = raw.get("bands") if isinstance(raw, dict) else None
    if not items or not isinstance(items, list):
        raise SegmentDefinitionError(
            f"{path}: 'bands' is missing or empty; list bands such as {{id: 65plus, label: \"65 ans et +\", min: 65, max: 120, framing: devoir-civique}}"
        )
    bands: list[AgeBand] = []
    for index, item in enumerate(items):
        where = f"{path}: bands[{index}]"
        if not isinstance(item, dict):
            raise SegmentDefinitionError(f"{where} must be a mapping with id, label, min, max and framing")
        _unknown_keys(item, ("id", "label", "min", "max", "framing"), path, f"bands[{index}].")
        missing = [key for key in ("id", "label", "min", "max", "framing") if item.get(key) in (None, "")]
        if missing:
            raise SegmentDefinitionError(f"{where} has no {', '.join(missing)}; every band needs id, label, min, max and framing")
        band = AgeBand(
            id=str(item["id"]),
            label=str(item["label"]),
            min=_int(item["min"], f"{where}.min", "an age in years"),
            max=_int(item["max"], f"{where}.max", "an age in years"),
            framing=str(item["framing"]),
        )
        if not SLUG.match(band.id):
            raise SegmentDefinitionError(f"{where}.id = {band.id!r} must be a slug (a-z, 0-9 and '-'), e.g. '65plus'")
        if not SLUG.match(band.framing):
            raise SegmentDefinitionError(f"{where}.framing = {band.framing!r} must be a slug key, e.g. 'devoir-civique'")
        if band.min > band.max:
            raise SegmentDefinitionError(f"{where}: min {band.min} is above max {band.max}; swap them")
        bands.append(band)
    ids = [b.id for b in bands]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        raise SegmentDefinitionError(f"{path}: band id '{duplicate}' is used twice; ids must be unique")
    bands.sort(key=lambda b: b.min)
    if bands[0].min < ADULT_AGE:
        raise SegmentDefinitionError(
            f"{path}: band '{bands[0].id}' starts at {bands[0].min}, but people under {ADULT_AGE} are never segmented; set its min to {ADULT_AGE}"
        )
    if bands[0].min > ADULT_AGE:
        raise SegmentDefinitionError(
            f"{path}: ages {ADULT_AGE}–{bands[0].min - 1} fall in no band; set min of '{bands[0].id}' to {ADULT_AGE}"
        )
    for before, after in zip(bands, bands[1:], strict=False):
        if after.min <= before.max:
            raise SegmentDefinitionError(
                f"{path}: bands '{before.id}' ({before.min}–{before.max}) and '{after.id}' ({after.min}–{after.max}) overlap; "
                f"set min of '{after.id}' to {before.max + 1}"
            )
        if after.min > before.max + 1:
            raise SegmentDefinitionError(
                f"{path}: ages {before.max + 1}–{after.min - 1} fall in no band; set max of '{before.id}' to {after.min - 1} "
                f"or min of '{after.id}' to {before.max + 1}"
            )
    if bands[-1].max < 110:
        raise SegmentDefinitionError(
            f"{path}: ages above {bands[-1].max} fall in no band (supporters up to 110 are valid); set max of '{bands[-1].id}' to 120"
        )
    return bands


def _fold(name: str) -> str:
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def check_criterion(name: str, where: str) -> None:
    """Refuse ``name`` if it is not an allowed feature, citing the CNIL rule when it is sensitive."""
    if name in ALLOWED_FEATURES:
        return
    folded = _fold(name)
    if folded in _SERVED_BY:
        raise SegmentDefinitionError(f"{where} = {name!r} is not a feature: {_SERVED_BY[folded]}")
    # Word boundaries must see "vote_2022" as two words: match on spaces, not underscores.
    spaced = folded.replace("_", " ")
    for category, patterns in FORBIDDEN_CRITERIA.items():
        if any(re.search(pattern.replace("_", " "), spaced) for pattern in patterns):
            raise ForbiddenCriterionError(
                f"{where} = {name!r} is a forbidden criterion ({category}): {CNIL_RULE}. "
                f"Remove it; allowed features: {list(ALLOWED_FEATURES)}"
            )
    close = difflib.get_close_matches(name, list(ALLOWED_FEATURES), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise SegmentDefinitionError(f"{where} = {name!r} is not a known feature; {hint}use only {list(ALLOWED_FEATURES)}")


_PROFILE_KEYS = (
    "features", "clusters", "min_segment_size", "seed", "sample_size", "weights", "interests",
    "max_centroid_shift", "territories",
)


def _clusters(value: Any, path: Path) -> tuple[int, int]:
    where = f"{path}: clusters"
    if isinstance(value, dict):
        _unknown_keys(value, ("min", "max"), path, "clusters.")
        if "min" not in value or "max" not in value:
            raise SegmentDefinitionError(f"{where} needs both min and max, e.g. {{min: 3, max: 8}}")
        low = _int(value["min"], f"{where}.min", "2..30")
        high = _int(value["max"], f"{where}.max", "2..30")
        if not 2 <= low <= 30 or not 2 <= high <= 30:
            raise SegmentDefinitionError(f"{where} = {{min: {low}, max: {high}}} is out of range: a k range is chosen by silhouette and must lie in 2..30")
        if low > high:
            raise SegmentDefinitionError(f"{where}: min {low} is above max {high}; swap them")
        return low, high
    k = _int(value, where, "1..30, or a range such as {min: 3, max: 8}")
    if not 1 <= k <= 30:
        raise SegmentDefinitionError(f"{where} = {k} is out of range 1..30; pick fewer profiles (each is crossed with every age band)")
    return k, k


def load_profiles(path: Path) -> ProfileConfig:
    """Read and check ``profiles.yaml``; a forbidden criterion raises ``ForbiddenCriterionError``."""
    path = Path(path)
    raw = _load_yaml(path) or {}
    if not isinstance(raw, dict):
        raise SegmentDefinitionError(f"{path}: must be a mapping with features, clusters, min_segment_size and seed")
    _unknown_keys(raw, _PROFILE_KEYS, path)
    features_raw = raw.get("features")
    if not features_raw or not isinstance(features_raw, list):
        raise SegmentDefinitionError(f"{path}: 'features' is missing or empty; list some of {list(ALLOWED_FEATURES)}")
    features: list[str] = []
    for index, name in enumerate(features_raw):
        check_criterion(str(name), f"{path}: features[{index}]")
        if name in features:
            raise SegmentDefinitionError(f"{path}: features[{index}] = {name!r} is listed twice; keep one")
        features.append(str(name))
    k_min, k_max = _clusters(raw.get("clusters", 4), path)
    min_size = _int(raw.get("min_segment_size", 50), f"{path}: min_segment_size", f"at least {_MIN_SIZE_FLOOR}")
    if min_size < _MIN_SIZE_FLOOR:
        raise SegmentDefinitionError(f"{path}: min_segment_size = {min_size} is below {_MIN_SIZE_FLOOR}: a segment that small can single people out; raise it")
    seed = _int(raw.get("seed", 42), f"{path}: seed", "any integer ≥ 0")
    if seed < 0:
        raise SegmentDefinitionError(f"{path}: seed = {seed} must be ≥ 0")
    sample = _int(raw.get("sample_size", _DEFAULT_SAMPLE), f"{path}: sample_size", "rows the model is fitted on, ≥ 1000")
    if sample < 1000:
        raise SegmentDefinitionError(f"{path}: sample_size = {sample} is below 1000; the profiles would be noise")
    weights_raw = raw.get("weights") or {}
    if not isinstance(weights_raw, dict):
        raise SegmentDefinitionError(f"{path}: 'weights' must map a feature to a positive number, e.g. {{departement: 0.5}}")
    weights: dict[str, float] = {}
    for name, value in weights_raw.items():
        check_criterion(str(name), f"{path}: weights")
        if name not in features:
            raise SegmentDefinitionError(f"{path}: weights.{name} weighs a feature that is not in 'features'; add it there or remove the weight")
        try:
            weight = float(value)
        except (TypeError, ValueError) as exc:
            raise SegmentDefinitionError(f"{path}: weights.{name} = {value!r} must be a positive number") from exc
        if not weight > 0:
            raise SegmentDefinitionError(f"{path}: weights.{name} = {value!r} must be a positive number (drop the feature instead of weighing it 0)")
        weights[str(name)] = weight
    interests_raw = raw.get("interests")
    if interests_raw is None:
        interests = dict(DEFAULT_INTERESTS)
    else:
        if not isinstance(interests_raw, dict) or not interests_raw:
            raise SegmentDefinitionError(f"{path}: 'interests' must map interest keys to French labels, e.g. {{sante: santé}}")
        interests = {}
        for key, label in interests_raw.items():
            if not SLUG.match(str(key)):
                raise SegmentDefinitionError(f"{path}: interests key {key!r} must be a slug as in the supporter file, e.g. 'pouvoir-achat'")
            if not str(label or "").strip():
                raise SegmentDefinitionError(f"{path}: interests.{key} needs a French label")
            interests[str(key)] = str(label)
    shift_raw = raw.get("max_centroid_shift", 0.5)
    try:
        shift = float(shift_raw)
    except (TypeError, ValueError) as exc:
        raise SegmentDefinitionError(f"{path}: max_centroid_shift = {shift_raw!r} must be a number in (0, 2]") from exc
    if not 0 < shift <= 2:
        raise SegmentDefinitionError(f"{path}: max_centroid_shift = {shift} must be in (0, 2] (a share of the median distance between profiles)")
    territories = raw.get("territories")
    if territories is not None and (not isinstance(territories, str) or "/" in territories or territories.startswith(".")):
        raise SegmentDefinitionError(f"{path}: territories = {territories!r} must be a file name in segments/, e.g. territories.yaml, or null")
    return ProfileConfig(
        features=tuple(features),
        k_min=k_min,
        k_max=k_max,
        min_segment_size=min_size,
        seed=seed,
        sample_size=sample,
        weights=weights,
        interests=interests,
        max_centroid_shift=shift,
        territories=territories,
    )


_PLM = {"75056": "75", "69123": "69", "13055": "13"}  # Paris, Lyon, Marseille → their arrondissements
_PLM_NAMES = {"75056": "Paris", "69123": "Lyon", "13055": "Marseille"}


def load_territories(path: Path) -> list[TerritoryPack]:
    """Read and check ``territories.yaml``: every code must exist in the INSEE tables."""
    from matinale.geo import communes, communes_by_insee, departements

    path = Path(path)
    raw = _load_yaml(path) or {}
    if not isinstance(raw, dict):
        raise SegmentDefinitionError(f"{path}: must be a mapping with a 'packs' list")
    _unknown_keys(raw, ("packs",), path)
    items = raw.get("packs") or []
    if not isinstance(items, list):
        raise SegmentDefinitionError(f"{path}: 'packs' must be a list such as [{{level: arrondissement, code: \"75120\", theme: transports}}]")
    table = communes_by_insee()
    kinds = communes().drop_duplicates("insee_com").set_index("insee_com")["commune_type"]
    deps = departements().set_index("insee_dep")["departement"]
    packs: list[TerritoryPack] = []
    for index, item in enumerate(items):
        where = f"{path}: packs[{index}]"
        if not isinstance(item, dict):
            raise SegmentDefinitionError(f"{where} must be a mapping with level, code and an optional theme")
        _unknown_keys(item, ("level", "code", "theme", "name"), path, f"packs[{index}].")
        level = str(item.get("level", ""))
        code = str(item.get("code", "")).strip().upper()
        if level not in ("departement", "commune", "arrondissement"):
            raise SegmentDefinitionError(f"{where}.level = {level!r} must be departement, commune or arrondissement")
        if not code:
            raise SegmentDefinitionError(f"{where}.code is missing; give the INSEE code as text, e.g. \"75120\" (quoted, to keep leading zeros)")
        covered: tuple[str, ...] = ()
        if level == "departement":
            if code not in deps.index:
                raise SegmentDefinitionError(f"{where}.code = {code!r} is not a département code (e.g. \"29\", \"2A\", \"974\")")
            name = str(deps[code])
        elif level == "commune":
            if code in _PLM:
                covered = tuple(sorted(c for c in table.index if c.startswith(code[:2]) and kinds.get(c) == "ARM" and table.at[c, "insee_dep"] == _PLM[code]))
                name = _PLM_NAMES[code]
            elif code in table.index and kinds.get(code) == "COM":
                covered, name = (code,), str(table.at[code, "commune"])
            elif kinds.get(code) == "ARM":
                raise SegmentDefinitionError(f"{where}.code = {code!r} is an arrondissement; set level: arrondissement")
            else:
                raise SegmentDefinitionError(f"{where}.code = {code!r} is not an INSEE commune code (5 characters, e.g. \"29019\" for Brest)")
        else:
            if kinds.get(code) != "ARM":
                raise SegmentDefinitionError(
                    f"{where}.code = {code!r} is not an arrondissement: use 75101–75120 (Paris), 69381–69389 (Lyon) or 13201–13216 (Marseille)"
                )
            covered, name = (code,), str(table.at[code, "commune"])
        theme = item.get("theme")
        if theme is not None and not SLUG.match(str(theme)):
            raise SegmentDefinitionError(f"{where}.theme = {theme!r} must be a theme id (a slug, as in the brief), e.g. 'securite'")
        pack_id = f"t-{code.lower()}"
        if any(p.id == pack_id for p in packs):
            raise SegmentDefinitionError(f"{where}: code {code!r} is listed twice; keep one pack per territory")
        packs.append(
            TerritoryPack(id=pack_id, level=level, code=code, name=str(item.get("name") or name), theme=str(theme) if theme else None, communes=covered)
        )
    return packs


def load_definitions(segments_dir: Path) -> Definitions:
    """All of ``segments/``: bands, profiles and, when profiles.yaml names it, territories."""
    segments_dir = Path(segments_dir)
    bands = load_age_bands(segments_dir / "age_bands.yaml")
    profiles = load_profiles(segments_dir / "profiles.yaml")
    territories = load_territories(segments_dir / profiles.territories) if profiles.territories else []
    return Definitions(bands=bands, profiles=profiles, territories=territories)


# --------------------------------------------------------------------------- ages and places


def ages_on(birth_dates: pd.Series, edition: date) -> pd.Series:
    """Age in whole years on ``edition`` (a Paris date) for ISO or dd/mm/yyyy birth dates; NA if unreadable."""
    text = birth_dates.astype("string")
    born = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").fillna(pd.to_datetime(text, format="%d/%m/%Y", errors="coerce"))
    years = edition.year - born.dt.year
    before_birthday = (born.dt.month > edition.month) | ((born.dt.month == edition.month) & (born.dt.day > edition.day))
    return (years - before_birthday.astype("Int64")).astype("Int64")


@lru_cache(maxsize=1)
def _geo() -> dict[str, Any]:
    """Lookup arrays over ``communes_by_insee()`` rows; the last slot of each is 'unknown'."""
    from matinale.geo import DENSITY_CLASSES, communes_by_insee, departements

    table = communes_by_insee()
    density_labels = [label for label, _ in DENSITY_CLASSES]
    density = pd.Categorical(table["density_class"], categories=density_labels).codes.astype(np.int16)
    dep_codes = departements()["insee_dep"].tolist()
    dep_names = departements()["departement"].tolist()
    dep = pd.Categorical(table["insee_dep"], categories=dep_codes).codes.astype(np.int16)
    unemployment = table["unemployment_rate"].to_numpy(np.float64)
    population = table.groupby("insee_dep")["population_2021"].sum().reindex(dep_codes).fillna(0).to_numpy(np.int64)
    return {
        "index": table.index,
        "density_labels": density_labels,
        "density": np.append(density, -1),
        "dep_codes": dep_codes,
        "dep_names": dep_names,
        "dep": np.append(dep, -1),
        "unemployment": np.append(unemployment, np.nan),
        "dep_population": population,
    }


def _commune_rows(frame: pd.DataFrame) -> np.ndarray:
    """Each supporter's row in ``communes_by_insee()`` (-1 when unknown): INSEE code, else an unambiguous postal code."""
    from matinale.geo import insee_for_postal

    index = _geo()["index"]
    rows = np.full(len(frame), -1, dtype=np.int32)
    if "insee_com" in frame:
        # Factorise first: a million codes hold a few thousand distinct values to clean.
        codes, uniques = pd.factorize(frame["insee_com"], use_na_sentinel=True)
        cleaned = pd.Index(pd.Series(uniques, dtype="string").str.strip().str.upper().fillna(""), dtype=object)
        lookup = np.append(index.get_indexer(cleaned), -1).astype(np.int32)
        rows = lookup[codes]
    if "postal_code" in frame:
        missing = np.flatnonzero(rows < 0)
        if missing.size:
            codes, uniques = pd.factorize(frame["postal_code"].iloc[missing], use_na_sentinel=True)
            resolved = []
            for postal in uniques:
                found = insee_for_postal(str(postal)) if isinstance(postal, str) else ()
                resolved.append(index.get_loc(found[0]) if len(found) == 1 and found[0] in index else -1)
            rows[missing] = np.append(np.asarray(resolved, dtype=np.int32), -1)[codes]
    return rows


def _interest_codes(values: pd.Series, vocabulary: Sequence[str]) -> tuple[np.ndarray, np.ndarray, dict[str, int], pd.Index]:
    """Factorised interests: per-row code, the 0/1 matrix of each distinct value, unknown keys' counts, the values."""
    codes, uniques = pd.factorize(values.astype("string").fillna(""), use_na_sentinel=False)
    position = {key: i for i, key in enumerate(vocabulary)}
    matrix = np.zeros((len(uniques), len(vocabulary)), dtype=np.float64)
    unknown_per_unique: list[list[str]] = []
    for row, value in enumerate(uniques):
        unknown = []
        for part in str(value).split("|"):
            key = _interest_key(part)
            if not key:
                continue
            if key in position:
                matrix[row, position[key]] = 1.0
            else:
                unknown.append(key)
        unknown_per_unique.append(unknown)
    counts = np.bincount(codes, minlength=len(uniques))
    unknown_counts: dict[str, int] = {}
    for row, keys in enumerate(unknown_per_unique):
        for key in keys:
            unknown_counts[key] = unknown_counts.get(key, 0) + int(counts[row])
    return codes.astype(np.int32), matrix, unknown_counts, pd.Index(uniques)


def _interest_key(text: str) -> str:
    # CRMs write "Santé" or "pouvoir achat": fold to the slug keys of the vocabulary.
    folded = unicodedata.normalize("NFKD", text.strip())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")


# --------------------------------------------------------------------------- the model


class _TerritoryContext(BaseEstimator, TransformerMixin):
    """Join the INSEE commune table: density class, unemployment rate, département."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> _TerritoryContext:
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        geo = _geo()
        rows = X["commune_row"].to_numpy()
        out = X.copy(deep=False)  # copy-on-write: the supporters' columns are not duplicated
        out["density_code"] = geo["density"][rows]
        out["unemployment_rate"] = geo["unemployment"][rows]
        out["departement_code"] = geo["dep"][rows]
        return out


class _MultiLabel(BaseEstimator, TransformerMixin):
    """``"sante|ecole"`` → one 0/1 column per vocabulary key (unknown keys ignored)."""

    def __init__(self, vocabulary: tuple[str, ...] = ()) -> None:
        self.vocabulary = vocabulary

    def fit(self, X: Any, y: Any = None) -> _MultiLabel:
        return self

    def transform(self, X: Any) -> np.ndarray:
        column = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(np.asarray(X).ravel())
        if isinstance(column.dtype, pd.CategoricalDtype):
            # Already factorised (the night does it once for a million rows): decode the
            # few distinct values only.
            _, matrix, _, _ = _interest_codes(pd.Series(column.cat.categories, dtype="string"), self.vocabulary)
            codes = column.cat.codes.to_numpy()
            return np.vstack([matrix, np.zeros((1, len(self.vocabulary)))]).astype(np.float32)[codes]
        codes, matrix, _, _ = _interest_codes(column, self.vocabulary)
        return matrix.astype(np.float32)[codes]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([f"interest:{key}" for key in self.vocabulary], dtype=object)


class _CodeOneHot(BaseEstimator, TransformerMixin):
    """Integer codes (-1 = unknown) → one-hot columns named ``prefix:category``."""

    def __init__(self, prefix: str = "", categories: tuple[str, ...] = ()) -> None:
        self.prefix = prefix
        self.categories = categories

    def fit(self, X: Any, y: Any = None) -> _CodeOneHot:
        return self

    def transform(self, X: Any) -> np.ndarray:
        codes = np.asarray(X).ravel().astype(np.int64)
        out = np.zeros((codes.size, len(self.categories) + 1), dtype=np.float32)
        out[np.arange(codes.size), np.where(codes >= 0, codes, len(self.categories))] = 1.0
        return out[:, :-1]  # unknown: all zeros

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([f"{self.prefix}:{c}" for c in self.categories], dtype=object)


class _Log1p(BaseEstimator, TransformerMixin):
    """Counts → log(1 + count): a few very active people must not own a cluster."""

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self.names = names

    def fit(self, X: Any, y: Any = None) -> _Log1p:
        return self

    def transform(self, X: Any) -> np.ndarray:
        return np.log1p(np.clip(np.asarray(X, dtype=np.float32), 0, None))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array(self.names, dtype=object)


class _Imputed(BaseEstimator, TransformerMixin):
    """One numeric column, missing values replaced by the median seen at fit."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def fit(self, X: Any, y: Any = None) -> _Imputed:
        values = np.asarray(X, dtype=np.float64).ravel()
        self.median_ = float(np.nanmedian(values)) if np.isfinite(values).any() else 0.0
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=np.float32).reshape(-1, 1)
        return np.where(np.isfinite(values), values, np.float32(self.median_))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([self.name], dtype=object)


class _AsFloat(BaseEstimator, TransformerMixin):
    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self.names = names

    def fit(self, X: Any, y: Any = None) -> _AsFloat:
        return self

    def transform(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array(self.names, dtype=object)


class _WeightedScaler(BaseEstimator, TransformerMixin):
    """Standardise continuous columns, keep 0/1 columns as they are, then weigh each feature.

    The map is affine per column (``(x - offset_) * factor_``), so centroids move between
    the named raw space (kept in the state) and the model's space exactly.
    """

    def __init__(self, continuous: tuple[bool, ...] = (), weights: tuple[float, ...] = ()) -> None:
        self.continuous = continuous
        self.weights = weights

    def fit(self, X: np.ndarray, y: Any = None) -> _WeightedScaler:
        X = np.asarray(X, dtype=np.float64)
        continuous = np.asarray(self.continuous, dtype=bool)
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        std[std == 0] = 1.0
        self.offset_ = np.where(continuous, mean, 0.0)
        self.factor_ = np.where(continuous, 1.0 / std, 1.0) * np.asarray(self.weights, dtype=np.float64)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        # float32 halves the memory a million rows take; centroids stay exact enough.
        out = np.subtract(np.asarray(X, dtype=np.float32), self.offset_.astype(np.float32))
        out *= self.factor_.astype(np.float32)  # in place: one copy of a million rows is enough
        return out

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) / self.factor_ + self.offset_


def _encoders(profiles: ProfileConfig) -> list[tuple[str, Any, Any, tuple[bool, ...]]]:
    """(feature, transformer, input columns, continuous flag per output column) for each feature."""
    geo = _geo()
    vocabulary = tuple(profiles.interests)
    table: dict[str, tuple[Any, Any, tuple[bool, ...]]] = {
        "interests": (_MultiLabel(vocabulary), ["interests"], (False,) * len(vocabulary)),
        "engagement": (_Log1p(("events_log", "shares_log")), ["events_attended", "shares_30d"], (True, True)),
        "involvement": (_AsFloat(("donor", "volunteer")), ["donor", "volunteer"], (False, False)),
        "density": (_CodeOneHot("density", tuple(geo["density_labels"])), ["density_code"], (False,) * len(geo["density_labels"])),
        "unemployment": (_Imputed("unemployment_rate"), ["unemployment_rate"], (True,)),
        "departement": (_CodeOneHot("departement", tuple(geo["dep_codes"])), ["departement_code"], (False,) * len(geo["dep_codes"])),
        "age": (_AsFloat(("age",)), ["age"], (True,)),
        "sex": (_CodeOneHot("sex", ("f", "m")), ["sex_code"], (False, False)),
    }
    return [(name, *table[name]) for name in profiles.features]


def build_profile_pipeline(profiles: ProfileConfig, k: int) -> Pipeline:
    """The profile model: territory context → ColumnTransformer → weighted scaling → KMeans.

    Input: a frame with ``interests``, ``events_attended``, ``shares_30d``, ``donor``,
    ``volunteer``, ``age``, ``commune_row`` (row in ``geo.communes_by_insee()``, -1 if
    unknown) and ``sex_code`` when ``sex`` is a feature.
    """
    from sklearn.cluster import KMeans

    encoders = _encoders(profiles)
    continuous: list[bool] = []
    weights: list[float] = []
    for name, _, _, flags in encoders:
        continuous.extend(flags)
        weights.extend([profiles.weights.get(name, 1.0)] * len(flags))
    encode = ColumnTransformer(
        [(name, transformer, columns) for name, transformer, columns, _ in encoders],
        remainder="drop",
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )
    return Pipeline(
        [
            ("territory", _TerritoryContext()),
            ("encode", encode),
            ("scale", _WeightedScaler(tuple(continuous), tuple(weights))),
            ("cluster", KMeans(n_clusters=k, n_init=3, random_state=profiles.seed)),
        ]
    )


def _choose_k(
    scaled: np.ndarray, profiles: ProfileConfig, previous_k: int | None
) -> tuple[int, dict[str, float], str]:
    """Fixed k, or the best silhouette over the range on a subsample (sticky to last night's k)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    upper = max(1, min(profiles.k_max, len(scaled)))
    if profiles.k_min == profiles.k_max or upper <= profiles.k_min:
        return min(profiles.k_min, upper), {}, "fixe"
    rng = np.random.default_rng(profiles.seed)
    rows = scaled if len(scaled) <= _SEARCH_SAMPLE else scaled[np.sort(rng.choice(len(scaled), _SEARCH_SAMPLE, replace=False))]
    scores: dict[str, float] = {}
    for k in range(profiles.k_min, upper + 1):
        labels = KMeans(n_clusters=k, n_init=1, random_state=profiles.seed).fit_predict(rows)
        if len(np.unique(labels)) < 2:
            continue
        scores[str(k)] = float(
            silhouette_score(rows, labels, sample_size=min(_SILHOUETTE_SAMPLE, len(rows)), random_state=profiles.seed)
        )
    if not scores:
        return profiles.k_min, scores, "fixe"
    best = max(scores, key=lambda key: (scores[key], -int(key)))
    if previous_k is not None and str(previous_k) in scores and scores[str(previous_k)] >= scores[best] - _STICKY_SILHOUETTE:
        return previous_k, scores, "silhouette (k de la veille conservé : à 0,02 du meilleur)"
    return int(best), scores, "silhouette"


# --------------------------------------------------------------------------- state


@dataclass
class _Snapshot:
    """One night's identities, as stored (plain JSON) at ``STATE_KEY``."""

    edition: str
    run: str
    features: list[str]
    profiles: list[dict[str, Any]]  # id, label, centroid {feature: value}, size
    retired: list[str]
    next_profile: int
    segment_labels: dict[str, str] = field(default_factory=dict)  # segment id → label (without the band)
    assignments: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "edition": self.edition,
            "run": self.run,
            "features": self.features,
            "profiles": self.profiles,
            "retired": self.retired,
            "next_profile": self.next_profile,
            "segment_labels": self.segment_labels,
            "assignments": self.assignments,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> _Snapshot:
        return cls(
            edition=str(raw["edition"]),
            run=str(raw.get("run", "")),
            features=[str(f) for f in raw["features"]],
            profiles=[
                {
                    "id": str(p["id"]),
                    "label": str(p["label"]),
                    "centroid": {str(k): float(v) for k, v in p["centroid"].items()},
                    "size": int(p.get("size", 0)),
                }
                for p in raw["profiles"]
            ],
            retired=[str(r) for r in raw.get("retired", [])],
            next_profile=int(raw["next_profile"]),
            segment_labels={str(k): str(v) for k, v in (raw.get("segment_labels") or {}).items()},
            assignments=raw.get("assignments"),
        )


@dataclass
class _State:
    base: _Snapshot | None  # what tonight is matched against
    current: _Snapshot | None
    previous: _Snapshot | None
    edition: str

    @property
    def rerun(self) -> bool:
        return self.current is not None and self.current.edition == self.edition

    @property
    def backfill(self) -> bool:
        return self.current is not None and bool(self.edition) and self.current.edition > self.edition


def _read_state(state: Mapping[str, Any] | None, edition: date | None) -> _State:
    """The stored identities; a rerun of an edition is matched against the night before it.

    Matching a rerun against its own earlier attempt would make the ids depend on how many
    times a night ran; matching it against the previous night makes every rerun agree.
    """
    night = edition.isoformat() if edition else ""
    if not state:
        return _State(None, None, None, night)
    try:
        if int(state.get("version", 0)) != _STATE_VERSION:
            raise ValueError(f"version {state.get('version')!r}, expected {_STATE_VERSION}")
        current = _Snapshot.from_json(state["current"]) if state.get("current") else None
        previous = _Snapshot.from_json(state["previous"]) if state.get("previous") else None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SegmentationError(
            f"{STATE_KEY} in the work store is unreadable ({exc}); restore it from a backup, or delete it to start "
            f"afresh (profiles will be renumbered from p01 and the report will say so)"
        ) from exc
    stored = _State(current, current, previous, night)
    if stored.rerun:
        stored.base = previous
    return stored


# --------------------------------------------------------------------------- result


@dataclass
class SegmentationResult:
    assignments: pd.DataFrame  # supporter_id, segment_id, profile_id (private)
    memberships: pd.DataFrame  # supporter_id, pack_id (private)
    segments: list[dict[str, Any]]  # public descriptions, sizes rounded
    report: dict[str, Any]
    state: dict[str, Any] | None  # to store at STATE_KEY; None when it must not change


def round_size(size: int) -> int:
    """Sizes shown outside the private store: to the nearest 10 (halves up)."""
    return int((int(size) + 5) // 10 * 10)


def _masked_count(count: int, minimum: int) -> int | str:
    # Counts below the minimum are shown as "<minimum": the report never pins down a handful.
    return int(count) if count >= minimum else f"<{minimum}"


# --------------------------------------------------------------------------- the night


@dataclass
class _Rows:
    """Per-adult arrays: everything the night needs besides the model."""

    supporter_id: pd.Series  # Arrow-backed text: never converted to Python objects
    age: np.ndarray
    band: np.ndarray
    commune: np.ndarray
    dep: np.ndarray
    interest: np.ndarray
    interest_matrix: np.ndarray
    events: np.ndarray
    shares: np.ndarray
    donor: np.ndarray
    volunteer: np.ndarray

    def subset(self, mask: np.ndarray) -> _Rows:
        return _Rows(
            supporter_id=self.supporter_id[mask].reset_index(drop=True),
            age=self.age[mask],
            band=self.band[mask],
            commune=self.commune[mask],
            dep=self.dep[mask],
            interest=self.interest[mask],
            interest_matrix=self.interest_matrix,
            events=self.events[mask],
            shares=self.shares[mask],
            donor=self.donor[mask],
            volunteer=self.volunteer[mask],
        )


def _required_columns(frame: pd.DataFrame, features: tuple[str, ...]) -> None:
    needs = {"supporter_id": "always", "age": "always"}
    for name, columns in (
        ("interests", ["interests"]),
        ("engagement", ["events_attended", "shares_30d"]),
        ("involvement", ["donor", "volunteer"]),
    ):
        if name in features:
            needs.update({column: f"feature '{name}'" for column in columns})
    missing = [f"'{c}' (needed {why})" for c, why in needs.items() if c not in frame]
    if missing:
        raise SegmentationError(
            f"the segmentation input has no column {', '.join(missing)}; check the privacy stage's output (features.parquet)"
        )
    if {"density", "unemployment", "departement"} & set(features) and not {"insee_com", "postal_code"} & set(frame):
        raise SegmentationError(
            "territory features need 'insee_com' or 'postal_code' in the segmentation input; add one to the supporter file"
        )


def _adults(frame: pd.DataFrame, edition: date | None) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Adults on the edition date, their ages, and how many minors were left out."""
    # Ingest computed ``age`` on the edition date already; a birth date in the input is
    # recomputed here so that the rule holds whatever produced the frame.
    ages = frame["age"].astype("Int64")
    if "birth_date" in frame and edition is not None:
        ages = ages_on(frame["birth_date"], edition).fillna(ages)
    years = ages.fillna(-1).to_numpy(np.int64)
    adult = years >= ADULT_AGE
    return frame.loc[adult].reset_index(drop=True), years[adult], int((~adult).sum())


def _model_input(frame: pd.DataFrame, commune: np.ndarray, interests: pd.Categorical | None, features: tuple[str, ...]) -> pd.DataFrame:
    # Columns are taken as they are (text stays Arrow-backed, interests are factorised once):
    # converting a million strings to Python objects and back costs more than the clustering.
    present = [c for c in ("events_attended", "shares_30d", "donor", "volunteer") if c in frame]
    model_input = frame[present].copy(deep=False)
    if interests is not None:
        model_input["interests"] = interests
    model_input["age"] = frame["age"].to_numpy(np.float64)
    model_input["commune_row"] = commune
    if "sex" in features:
        codes = np.full(len(frame), -1, dtype=np.int64)
        if "sex" in frame:
            # F/Femme/W/Woman, M/Masculin/H/Homme: the first letter in French or English.
            initial = frame["sex"].astype("string").str.strip().str.lower().str[:1].fillna("")
            codes = np.select([initial.isin(["f", "w"]), initial.isin(["m", "h"])], [0, 1], default=-1)
        model_input["sex_code"] = codes
    return model_input


def _prepare(frame: pd.DataFrame, ages: np.ndarray, bands: Sequence[AgeBand], profiles: ProfileConfig) -> tuple[_Rows, pd.DataFrame, dict[str, Any]]:
    """Per-row arrays, the model's input frame and what the report says about the input."""
    minimum = profiles.min_segment_size
    commune = _commune_rows(frame)
    edges = np.array([b.min for b in bands[1:]])
    interests_column = frame["interests"] if "interests" in frame else pd.Series([""] * len(frame), dtype="string")
    interest, matrix, unknown, values = _interest_codes(interests_column, tuple(profiles.interests))

    def numbers(column: str) -> np.ndarray:
        return frame[column].to_numpy(np.float64) if column in frame else np.zeros(len(frame))

    rows = _Rows(
        supporter_id=frame["supporter_id"].reset_index(drop=True),
        age=ages,
        band=np.searchsorted(edges, ages, side="right").astype(np.int64),
        commune=commune,
        dep=_geo()["dep"][commune],
        interest=interest,
        interest_matrix=matrix,
        events=numbers("events_attended"),
        shares=numbers("shares_30d"),
        donor=numbers("donor"),
        volunteer=numbers("volunteer"),
    )
    categorical = pd.Categorical.from_codes(interest, categories=values) if "interests" in frame else None
    notes: dict[str, Any] = {
        "place_unknown": int((commune < 0).sum()),
        "interests_unknown": {
            "rows_with_unknown_keys": int(sum(unknown.values())),
            # Only keys many people share: a rare free-text value could say something about one person.
            "frequent_keys": {k: v for k, v in sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0])) if v >= minimum},
        },
    }
    if "sex" in profiles.features and "sex" not in frame:
        notes["notes"] = ["'sex' est dans profiles.yaml mais le fichier des soutiens n'a pas de colonne sexe : variable vide ce soir"]
    return rows, _model_input(frame, commune, categorical, profiles.features), notes


@dataclass
class _Fit:
    pipeline: Pipeline
    cluster: np.ndarray  # cluster index per adult
    centers: np.ndarray  # in the model's (scaled) space
    centers_raw: np.ndarray  # in the named feature space
    sizes: np.ndarray
    names: list[str]
    report: dict[str, Any]

    @property
    def k(self) -> int:
        return len(self.centers)

    @property
    def scaler(self) -> _WeightedScaler:
        return self.pipeline.named_steps["scale"]


def _fit_profiles(model_input: pd.DataFrame, profiles: ProfileConfig, previous_k: int | None) -> _Fit:
    """Fit the pipeline on a uniform sample, choose k, predict every adult in chunks."""
    n = len(model_input)
    rng = np.random.default_rng(profiles.seed)
    sample = np.arange(n) if n <= profiles.sample_size else np.sort(rng.choice(n, profiles.sample_size, replace=False))
    pipeline = build_profile_pipeline(profiles, 1)
    scaled = pipeline[:-1].fit_transform(model_input.iloc[sample])
    k, scores, method = _choose_k(scaled, profiles, previous_k)
    k = max(1, min(k, len(sample)))
    # The transform steps are fitted already: fit the clustering step alone on their output.
    pipeline.set_params(cluster__n_clusters=k)
    model = pipeline.named_steps["cluster"].fit(scaled)
    cluster = np.empty(n, dtype=np.int64)
    for start in range(0, n, _CHUNK):
        # Chunks bound the memory of the encoded matrix (a million rows × 130 columns with
        # the département one-hot would be half a gigabyte at once).
        cluster[start : start + _CHUNK] = pipeline.predict(model_input.iloc[start : start + _CHUNK])
    names = [str(n) for n in pipeline.named_steps["encode"].get_feature_names_out()]
    centers = model.cluster_centers_.astype(np.float64)
    report = {
        "pipeline": "territoire (INSEE) → ColumnTransformer → pondération → KMeans",
        "features": list(profiles.features),
        "columns": names,
        "k": k,
        "k_method": method,
        "silhouette": scores,
        "sample_size": int(len(sample)),
        "seed": profiles.seed,
        "inertia_per_row": round(float(model.inertia_ / len(sample)), 4),
    }
    return _Fit(
        pipeline=pipeline,
        cluster=cluster,
        centers=centers,
        centers_raw=pipeline.named_steps["scale"].inverse_transform(centers),
        sizes=np.bincount(cluster, minlength=k),
        names=names,
        report=report,
    )


def profile_matrix(features: pd.DataFrame, bands: Sequence[AgeBand], profiles: ProfileConfig) -> tuple[np.ndarray, list[str]]:
    """The encoded, scaled matrix of every adult the profile model clusters, and its column names.

    For inspection and benchmarks: the night itself fits on a sample and predicts in chunks.
    """
    _required_columns(features, profiles.features)
    frame, ages, _ = _adults(features.reset_index(drop=True), None)
    _, model_input, _ = _prepare(frame, ages, bands, profiles)
    pipeline = build_profile_pipeline(profiles, 1)
    matrix = pipeline[:-1].fit_transform(model_input)
    return matrix, [str(n) for n in pipeline.named_steps["encode"].get_feature_names_out()]


def _band_groups(band_sizes: np.ndarray, minimum: int) -> list[list[int]]:
    """Contiguous groups of bands, each with at least ``minimum`` adults (or none)."""
    groups = [[i] for i in range(band_sizes.size)]
    sizes = [int(s) for s in band_sizes]
    while len(groups) > 1:
        small = [g for g in range(len(groups)) if 0 < sizes[g] < minimum]
        if not small:
            break
        g = min(small, key=lambda i: (sizes[i], i))
        neighbours = [n for n in (g - 1, g + 1) if 0 <= n < len(groups)]
        # The smaller neighbour absorbs it: merged groups stay as balanced as they can.
        n = min(neighbours, key=lambda i: (sizes[i], -i))
        low, high = sorted((g, n))
        groups[low : high + 1] = [groups[low] + groups[high]]
        sizes[low : high + 1] = [sizes[low] + sizes[high]]
    return groups


def _span_label(bands: Sequence[AgeBand]) -> str:
    low, high = bands[0].min, bands[-1].max
    return f"{low} ans et +" if high >= 110 else f"{low}–{high} ans"


def _quantiles(histogram: np.ndarray, points: Sequence[float]) -> list[int | None]:
    total = histogram.sum()
    if total == 0:
        return [None for _ in points]
    cumulative = np.cumsum(histogram) / total
    return [int(np.searchsorted(cumulative, p)) for p in points]


def _aggregate(rows: _Rows, cells: np.ndarray, ncells: int) -> dict[str, np.ndarray]:
    """Per-cell sums (bincount): counts, interests, density, départements, ages, engagement."""
    geo = _geo()
    nd = len(geo["density_labels"]) + 1
    ndep = len(geo["dep_codes"]) + 1
    nu = rows.interest_matrix.shape[0]
    density_code = geo["density"][rows.commune].astype(np.int64)
    density_code[density_code < 0] = nd - 1
    dep_code = rows.dep.astype(np.int64)
    dep_code[dep_code < 0] = ndep - 1
    unemployment = geo["unemployment"][rows.commune]
    known = np.isfinite(unemployment)
    by_value = np.bincount(cells * nu + rows.interest, minlength=ncells * nu).reshape(ncells, nu)
    ages = np.clip(rows.age, 0, _MAX_AGE_BIN - 1)
    return {
        "count": np.bincount(cells, minlength=ncells),
        "interests": by_value @ rows.interest_matrix,
        "density": np.bincount(cells * nd + density_code, minlength=ncells * nd).reshape(ncells, nd),
        "dep": np.bincount(cells * ndep + dep_code, minlength=ncells * ndep).reshape(ncells, ndep),
        "age": np.bincount(cells * _MAX_AGE_BIN + ages, minlength=ncells * _MAX_AGE_BIN).reshape(ncells, _MAX_AGE_BIN),
        "events": np.bincount(cells, weights=rows.events, minlength=ncells),
        "shares": np.bincount(cells, weights=rows.shares, minlength=ncells),
        "donor": np.bincount(cells, weights=rows.donor, minlength=ncells),
        "volunteer": np.bincount(cells, weights=rows.volunteer, minlength=ncells),
        "unemployment_sum": np.bincount(cells[known], weights=unemployment[known], minlength=ncells),
        "unemployment_n": np.bincount(cells[known], minlength=ncells),
    }


def _describe(aggregates: Mapping[str, np.ndarray], cells: np.ndarray, vocabulary: Sequence[str]) -> dict[str, Any]:
    """What a group of cells (a segment, a profile, a band) looks like: shares and means."""
    geo = _geo()
    count = int(aggregates["count"][cells].sum())
    per_person = max(count, 1)
    interests = aggregates["interests"][cells].sum(axis=0) / per_person
    density = aggregates["density"][cells].sum(axis=0)
    deps = aggregates["dep"][cells].sum(axis=0)
    known_density, known_dep = density[:-1].sum(), deps[:-1].sum()
    unemployment_n = aggregates["unemployment_n"][cells].sum()
    order = np.argsort(-interests, kind="stable")
    p10, p25, p50, p75, p90 = _quantiles(aggregates["age"][cells].sum(axis=0), (0.10, 0.25, 0.50, 0.75, 0.90))
    return {
        "size": count,
        "age": {"p10": p10, "p25": p25, "median": p50, "p75": p75, "p90": p90},
        "interests": {vocabulary[i]: round(float(interests[i]), 3) for i in order if interests[i] > 0},
        "top_interests": [vocabulary[i] for i in order[:3] if interests[i] > 0],
        "density": {
            label: round(float(density[i] / known_density), 3) if known_density else 0.0
            for i, label in enumerate(geo["density_labels"])
        },
        "departements": [
            {"code": geo["dep_codes"][i], "name": geo["dep_names"][i], "share": round(float(deps[i] / known_dep), 3)}
            for i in np.argsort(-deps[:-1], kind="stable")[:3]
            if known_dep and deps[i] > 0
        ],
        "unemployment_rate": round(float(aggregates["unemployment_sum"][cells].sum() / unemployment_n), 4) if unemployment_n else None,
        "events_mean": round(float(aggregates["events"][cells].sum() / per_person), 2),
        "shares_mean": round(float(aggregates["shares"][cells].sum() / per_person), 2),
        "donor_share": round(float(aggregates["donor"][cells].sum() / per_person), 3),
        "volunteer_share": round(float(aggregates["volunteer"][cells].sum() / per_person), 3),
        "place_unknown": int(density[-1]),
    }


def _distinguishing_label(descriptor: Mapping[str, Any], reference: Mapping[str, Any], interests: Mapping[str, str], extra: int = 0) -> str:
    """A short French label from what sets a group apart from ``reference``: place, interest, engagement."""
    parts: list[str] = []
    more: list[str] = []
    # Territory: a density class most of the group shares, clearly above the reference.
    density = descriptor["density"]
    dominant = max(density, key=lambda key: (density[key], key)) if density else None
    if dominant and density[dominant] >= 0.5 and density[dominant] >= 1.15 * max(reference["density"].get(dominant, 0.0), 1e-9):
        parts.append(dominant)
    elif descriptor["departements"] and descriptor["departements"][0]["share"] >= 0.4:
        parts.append(descriptor["departements"][0]["name"])
    # Interest: the highest lift among interests at least a quarter of the group holds.
    lifts = sorted(
        (
            (share / reference["interests"][key], share, key)
            for key, share in descriptor["interests"].items()
            if share >= 0.25 and reference["interests"].get(key, 0) > 0
        ),
        key=lambda item: (-item[0], -item[1], item[2]),
    )
    if lifts:
        parts.append(interests.get(lifts[0][2], lifts[0][2]))
        more.extend(interests.get(key, key) for _, _, key in lifts[1:3])
    # Engagement against the reference.
    events, shares = descriptor["events_mean"], descriptor["shares_mean"]
    if descriptor["volunteer_share"] >= 0.3 and descriptor["volunteer_share"] >= 1.5 * max(reference["volunteer_share"], 1e-9):
        parts.append("bénévoles")
    elif events >= 1 and events >= 1.5 * max(reference["events_mean"], 0.1):
        parts.append("très mobilisés")
    elif shares >= 1 and shares >= 1.5 * max(reference["shares_mean"], 0.1):
        parts.append("relais en ligne")
    elif events <= 0.5 * reference["events_mean"] and shares <= 0.5 * reference["shares_mean"]:
        parts.append("discrets")
    if descriptor["donor_share"] >= 0.3 and descriptor["donor_share"] >= 1.5 * max(reference["donor_share"], 1e-9):
        more.insert(0, "donateurs")
    rate, base_rate = descriptor["unemployment_rate"], reference["unemployment_rate"]
    if rate is not None and base_rate:
        if rate >= 1.3 * base_rate:
            more.append("chômage élevé")
        elif rate <= 0.75 * base_rate:
            more.append("chômage faible")
    parts.extend(more[:extra])
    return " · ".join(parts) if parts else "profil mixte"


def _unique_label(descriptor: Mapping[str, Any], reference: Mapping[str, Any], interests: Mapping[str, str], taken: set[str], profile_id: str) -> str:
    """The shortest distinguishing label not taken yet; the profile id as a last resort."""
    label = ""
    for extra in range(4):
        label = _distinguishing_label(descriptor, reference, interests, extra)
        if label not in taken:
            return label
    return f"{label} · profil {profile_id}"


def _label_profiles(fit: _Fit, aggregates: Mapping[str, np.ndarray], kept: list[str], profile_ids: list[str], profiles: ProfileConfig, nb: int) -> tuple[list[str], list[dict[str, Any]], dict[str, Any]]:
    """Profile labels (kept ones first, then new ones made unique) and profile descriptors."""
    k = fit.k
    cell_ids = np.arange(nb * k)
    vocabulary = tuple(profiles.interests)
    overall = _describe(aggregates, cell_ids, vocabulary)
    descriptors = [_describe(aggregates, cell_ids[cell_ids % k == c], vocabulary) for c in range(k)]
    labels = list(kept)
    taken = {label for label in labels if label}
    for c in sorted(range(k), key=lambda c: _profile_number(profile_ids[c])):
        if not labels[c]:
            labels[c] = _unique_label(descriptors[c], overall, profiles.interests, taken, profile_ids[c])
            taken.add(labels[c])
    return labels, descriptors, overall


@dataclass
class _Built:
    segments: list[dict[str, Any]]
    descriptors: list[dict[str, Any]]
    segment_of_cell: np.ndarray
    labels: dict[str, str]  # segment id → label without the band (kept in the state)
    band_merges: list[dict[str, Any]]
    merges: list[dict[str, Any]]


def _merge_small(sizes: np.ndarray, fit: _Fit, profile_ids: list[str], minimum: int, band_id: str) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Owner cluster per cluster of one band: small segments go to the nearest profile."""
    k = fit.k
    owner = np.arange(k)
    sizes = sizes.copy()
    merges: list[dict[str, Any]] = []
    while True:
        small = [c for c in range(k) if owner[c] == c and 0 < sizes[c] < minimum]
        others = [o for o in range(k) if owner[o] == o and sizes[o] > 0]
        if not small or len(others) < 2:
            return owner, merges
        c = min(small, key=lambda c: (sizes[c], _profile_number(profile_ids[c])))
        target = min(
            (o for o in others if o != c),
            key=lambda o: (float(np.linalg.norm(fit.centers[c] - fit.centers[o])), _profile_number(profile_ids[o])),
        )
        merges.append(
            {
                "from": f"{band_id}-{profile_ids[c]}",
                "into": f"{band_id}-{profile_ids[target]}",
                "size": _masked_count(int(sizes[c]), minimum),
                "reason": "segment sous la taille minimale : fusionné avec le profil le plus proche de la même tranche",
            }
        )
        owner[owner == c] = target
        sizes[target] += sizes[c]
        sizes[c] = 0


def _build_segments(
    fit: _Fit,
    aggregates: Mapping[str, np.ndarray],
    bands: Sequence[AgeBand],
    profile_ids: list[str],
    kept_labels: Mapping[str, str],
    profiles: ProfileConfig,
    minimum: int,
) -> _Built:
    """Band × profile segments, after merging what is under the minimum size."""
    k, nb = fit.k, len(bands)
    vocabulary = tuple(profiles.interests)
    counts = aggregates["count"].reshape(nb, k)
    band_sizes = counts.sum(axis=1)
    groups = _band_groups(band_sizes, minimum)
    built = _Built([], [], np.full(nb * k, -1, dtype=np.int64), {}, [], [])
    for group in groups:
        group_cells = np.array([[b * k + c for c in range(k)] for b in group])  # bands × clusters
        sizes = counts[group].sum(axis=0)
        if sizes.sum() == 0:
            continue
        # The band with most adults lends its id and framing to a merged group.
        rep = bands[max(group, key=lambda i: (band_sizes[i], -i))]
        members_bands = [bands[i] for i in group]
        band_label = rep.label if len(group) == 1 else _span_label(members_bands)
        if len(group) > 1:
            built.band_merges.append(
                {
                    "bands": [b.id for b in members_bands],
                    "adults": _masked_count(int(band_sizes[group].sum()), minimum),
                    "kept_id": rep.id,
                    "label": band_label,
                    "reason": "tranche trop petite : regroupée avec sa voisine",
                }
            )
        owner, merges = _merge_small(sizes, fit, profile_ids, minimum, rep.id)
        built.merges.extend(merges)
        reference = _describe(aggregates, group_cells.ravel(), vocabulary)
        kept = sorted((c for c in range(k) if owner[c] == c and sizes[owner == c].sum() > 0), key=lambda c: _profile_number(profile_ids[c]))
        descriptors = {c: _describe(aggregates, group_cells[:, owner == c].ravel(), vocabulary) for c in kept}
        # Labels: kept from earlier nights first, then new ones made unique within the band.
        specific = {c: kept_labels.get(f"{rep.id}-{profile_ids[c]}", "") for c in kept}
        taken = {label for label in specific.values() if label}
        for c in kept:
            if not specific[c]:
                specific[c] = _unique_label(descriptors[c], reference, profiles.interests, taken, profile_ids[c])
                taken.add(specific[c])
        for c in kept:
            segment_id = f"{rep.id}-{profile_ids[c]}"
            built.segment_of_cell[group_cells[:, owner == c].ravel()] = len(built.segments)
            built.labels[segment_id] = specific[c]
            built.descriptors.append(descriptors[c])
            built.segments.append(
                {
                    "id": segment_id,
                    "kind": "main",
                    "band": rep.id,
                    "band_label": band_label,
                    "framing": rep.framing,
                    "profile": profile_ids[c],
                    "label": f"{band_label} · {specific[c]}",
                    "size": round_size(descriptors[c]["size"]),
                    "top_interests": descriptors[c]["top_interests"],
                    "territory": None,
                    "theme": None,
                    "merged_bands": [b.id for b in members_bands if b.id != rep.id],
                }
            )
    return built


def _territorial_packs(
    rows: _Rows, territories: Sequence[TerritoryPack], minimum: int, profiles: ProfileConfig
) -> tuple[list[dict[str, Any]], pd.DataFrame, list[dict[str, Any]]]:
    """Published packs, the private membership table and the report's lines."""
    geo = _geo()
    vocabulary = tuple(profiles.interests)
    packs: list[dict[str, Any]] = []
    report: list[dict[str, Any]] = []
    members: list[pd.Series] = []
    pack_ids: list[np.ndarray] = []
    for pack in territories:
        if pack.level == "departement":
            mask = rows.dep == geo["dep_codes"].index(pack.code)
        else:
            wanted = geo["index"].get_indexer(pd.Index(pack.communes))
            mask = np.isin(rows.commune, wanted[wanted >= 0])
        size = int(mask.sum())
        entry: dict[str, Any] = {"id": pack.id, "level": pack.level, "code": pack.code, "name": pack.name, "theme": pack.theme}
        if size < minimum:
            report.append({**entry, "size": _masked_count(size, minimum), "published": False, "reason": f"moins de {minimum} personnes"})
            continue
        sub = rows.subset(mask)
        single = np.zeros(size, dtype=np.int64)
        descriptor = _describe(_aggregate(sub, single, 1), np.zeros(1, dtype=np.int64), vocabulary)
        theme = profiles.interests.get(pack.theme, pack.theme.replace("-", " ")) if pack.theme else None
        packs.append(
            {
                "id": pack.id,
                "kind": "territory",
                "band": None,
                "band_label": "Tous âges",
                "framing": None,
                "profile": None,
                "label": f"{pack.name} · {theme}" if theme else pack.name,
                "size": round_size(size),
                "top_interests": descriptor["top_interests"],
                "territory": {"level": pack.level, "code": pack.code, "name": pack.name},
                "theme": pack.theme,
                "merged_bands": [],
            }
        )
        report.append({**entry, "size": size, "published": True, "descriptor": descriptor})
        members.append(sub.supporter_id)
        pack_ids.append(np.full(size, len(packs) - 1, dtype=np.int64))
    memberships = pd.DataFrame(
        {
            "supporter_id": pd.concat(members, ignore_index=True).array if members else pd.array([], dtype="string"),
            "pack_id": pd.Categorical.from_codes(
                np.concatenate(pack_ids) if pack_ids else np.array([], dtype=np.int64), categories=[p["id"] for p in packs]
            ),
        }
    )
    return packs, memberships, report


def _next_state(fit: _Fit, profile_ids: list[str], labels: list[str], built: _Built, identity: Mapping[str, Any], stored: _State, run: str) -> dict[str, Any] | None:
    """What to store at ``STATE_KEY`` after tonight (None for a backfill: never rewind)."""
    if stored.backfill:
        return None
    base = stored.base
    order = sorted(range(fit.k), key=lambda c: _profile_number(profile_ids[c]))
    retired = sorted(set((base.retired if base else []) + list(identity["retired"])), key=_profile_number)
    alive = set(profile_ids)
    # Labels of segments not published tonight are kept while their profile lives: a
    # segment merged away for a night comes back under the same label.
    segment_labels = {
        sid: label for sid, label in (base.segment_labels if base else {}).items() if sid.rsplit("-", 1)[-1] in alive
    } | built.labels
    snapshot = _Snapshot(
        edition=stored.edition,
        run=run,
        features=fit.names,
        profiles=[
            {
                "id": profile_ids[c],
                "label": labels[c],
                "centroid": {name: round(float(v), 6) for name, v in zip(fit.names, fit.centers_raw[c], strict=True)},
                "size": int(fit.sizes[c]),
            }
            for c in order
        ],
        retired=retired,
        # Never below what any stored night used: an id once given is never given again.
        next_profile=max([int(identity["next_profile"])] + [s.next_profile for s in (stored.current, stored.previous) if s]),
        segment_labels=dict(sorted(segment_labels.items())),
    )
    keep = stored.previous if stored.rerun else stored.current
    return {"version": _STATE_VERSION, "current": snapshot.to_json(), "previous": keep.to_json() if keep else None}


def segment_supporters(
    features: pd.DataFrame,
    bands: list[AgeBand],
    profiles: ProfileConfig,
    *,
    territories: Sequence[TerritoryPack] = (),
    state: Mapping[str, Any] | None = None,
    edition: date | None = None,
    run: str = "",
    min_segment_size: int | None = None,
    minors_excluded: int = 0,
    threads: int = 1,
) -> SegmentationResult:
    """Assign every adult to one ``<band>-<profile>`` segment, territorial packs on top.

    ``features`` is the privacy stage's output (one row per supporter). ``state`` is the
    JSON stored at ``STATE_KEY`` after the previous night (None the first night); the
    result's ``state`` is what to store there next (None for an edition older than the
    stored one: a backfill never rewinds identities). The minimum segment size is the
    larger of ``profiles.min_segment_size`` and ``min_segment_size`` (campaign.yaml's
    privacy floor). ``threads`` caps the OpenMP/BLAS threads: on 2 cores shared with other
    work, one thread measured faster than two (2.2 s against 4.5 s for a million rows).
    """
    from threadpoolctl import threadpool_limits

    minimum = max(profiles.min_segment_size, min_segment_size or 0)
    profiles = replace(profiles, min_segment_size=minimum)
    _required_columns(features, profiles.features)
    frame, ages, minors = _adults(features.reset_index(drop=True), edition)
    if len(frame) < minimum:
        raise NotEnoughSupportersError(
            f"only {len(frame)} adults to segment, below the minimum segment size {minimum}: no segment can be published; "
            f"check the supporter export (rows quarantined or suppressed?)"
        )
    stored = _read_state(state, edition)
    rows, model_input, input_notes = _prepare(frame, ages, bands, profiles)
    with threadpool_limits(limits=threads):
        fit = _fit_profiles(model_input, profiles, len(stored.base.profiles) if stored.base else None)
        profile_ids, kept_labels, identity = _match_profiles(fit, stored.base, profiles)
    cells = rows.band * fit.k + fit.cluster
    aggregates = _aggregate(rows, cells, len(bands) * fit.k)
    labels, profile_descriptors, overall = _label_profiles(fit, aggregates, kept_labels, profile_ids, profiles, len(bands))
    built = _build_segments(fit, aggregates, bands, profile_ids, stored.base.segment_labels if stored.base else {}, profiles, minimum)
    if not built.segments:
        raise NotEnoughSupportersError(f"no segment reaches the minimum size {minimum}; check the supporter export")
    packs, memberships, pack_report = _territorial_packs(rows, territories, minimum, profiles)

    assignments = pd.DataFrame(
        {
            "supporter_id": rows.supporter_id.array,
            "segment_id": pd.Categorical.from_codes(built.segment_of_cell[cells], categories=[s["id"] for s in built.segments]),
            "profile_id": pd.Categorical.from_codes(fit.cluster, categories=profile_ids),
        }
    )
    order = sorted(range(fit.k), key=lambda c: _profile_number(profile_ids[c]))
    report: dict[str, Any] = {
        "edition": stored.edition or None,
        "rows_in": len(features),
        "segmented": len(frame),
        "minors_excluded": int(minors_excluded) + minors,
        "age_reference": "âge au jour de l'édition (date de Paris)",
        "min_segment_size": minimum,
        **{key: value for key, value in input_notes.items() if key != "notes"},
        "model": fit.report,
        "identity": identity,
        "profiles": [
            {
                "id": profile_ids[c],
                "label": labels[c],
                "size": int(fit.sizes[c]),
                "status": identity["status"][profile_ids[c]],
                "centroid_shift": identity["shift"].get(profile_ids[c]),
                "descriptor": profile_descriptors[c],
            }
            for c in order
        ],
        "band_merges": built.band_merges,
        "segment_merges": built.merges,
        "segments": [
            {"id": s["id"], "label": s["label"], "size": s["size"], "kind": s["kind"], "descriptor": d}
            for s, d in zip(built.segments, built.descriptors, strict=True)
        ],
        "territories": pack_report,
        "overall": overall,
        "representativeness": _representativeness_arrays(rows.age, rows.dep, bands),
        "drift": {"base_edition": stored.base.edition if stored.base else None, "base_assignments": stored.base.assignments if stored.base else None},
        "notes": list(input_notes.get("notes", [])),
    }
    new_state = _next_state(fit, profile_ids, labels, built, identity, stored, run)
    if new_state is None:
        report["notes"].append(f"édition antérieure à l'état stocké ({stored.current.edition if stored.current else '?'}) : l'état des profils n'est pas modifié")
    return SegmentationResult(assignments=assignments, memberships=memberships, segments=built.segments + packs, report=report, state=new_state)


def _profile_number(profile_id: str) -> int:
    return int(profile_id[1:]) if profile_id[1:].isdigit() else 0


def _match_profiles(fit: _Fit, base: _Snapshot | None, profiles: ProfileConfig) -> tuple[list[str], list[str], dict[str, Any]]:
    """Profile id and kept label per cluster (Hungarian assignment), and what happened to identities."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist, pdist

    k = fit.k
    ids: list[str | None] = [None] * k
    labels = [""] * k
    status: dict[str, str] = {}
    shift: dict[str, float] = {}
    retired: list[str] = []
    note = None
    threshold = profiles.max_centroid_shift * float(np.median(pdist(fit.centers))) if k > 1 else math.inf
    if base and base.profiles:
        common = [i for i, name in enumerate(fit.names) if name in base.features]
        if not common:
            note = "aucune variable commune avec la veille : tous les profils reçoivent de nouveaux identifiants"
        else:
            if len(common) < len(fit.names) or len(base.features) != len(fit.names):
                note = "les variables ont changé depuis la veille : appariement sur les variables communes seulement"
            # Yesterday's centroids are kept in named raw units; tonight's scaling puts them
            # in the same space as tonight's centres.
            previous_raw = np.array([[p["centroid"].get(fit.names[i], 0.0) for i in common] for p in base.profiles])
            previous = (previous_raw - fit.scaler.offset_[common]) * fit.scaler.factor_[common]
            cost = cdist(fit.centers[:, common], previous)
            for row, col in zip(*linear_sum_assignment(cost), strict=True):
                if cost[row, col] <= threshold:
                    ids[row] = base.profiles[col]["id"]
                    labels[row] = base.profiles[col]["label"]
                    status[base.profiles[col]["id"]] = "suivi"
                    shift[base.profiles[col]["id"]] = round(float(cost[row, col]), 4)
        matched = {i for i in ids if i}
        retired = [p["id"] for p in base.profiles if p["id"] not in matched]
    # New clusters get new ids, largest first; an id is never given twice.
    next_profile = base.next_profile if base else 1
    for c in sorted((c for c in range(k) if ids[c] is None), key=lambda c: (-fit.sizes[c], c)):
        ids[c] = f"p{next_profile:02d}"
        status[f"p{next_profile:02d}"] = "nouveau"
        next_profile += 1
    identity = {
        "base_edition": base.edition if base else None,
        "status": status,
        "shift": shift,
        "retired": retired,
        "next_profile": next_profile,
        "max_shift": None if not base or k < 2 else round(threshold, 4),
        "note": note,
    }
    return [str(i) for i in ids], labels, identity


# --------------------------------------------------------------------------- representativeness


def _band_population(bands: Sequence[AgeBand]) -> np.ndarray:
    ages = np.arange(ADULT_AGE, ADULT_AGE + len(INSEE_ADULTS_BY_AGE))
    counts = np.asarray(INSEE_ADULTS_BY_AGE, dtype=np.int64)
    out = np.zeros(len(bands), dtype=np.int64)
    for i, band in enumerate(bands):
        # The last INSEE value is "99 and over": it belongs to the band holding 99.
        inside = (ages >= band.min) & ((ages <= band.max) | ((ages == ages[-1]) & (band.max >= ages[-1])))
        out[i] = counts[inside].sum()
    return out


def _flag(index: float | None) -> str:
    if index is None:
        return "sans objet"
    if index >= _OVER:
        return "sur-représenté"
    if index <= _UNDER:
        return "sous-représenté"
    return "conforme"


def _representativeness_arrays(ages: np.ndarray, dep: np.ndarray, bands: Sequence[AgeBand]) -> dict[str, Any]:
    geo = _geo()
    edges = np.array([b.min for b in bands[1:]])
    band = np.searchsorted(edges, ages[ages >= ADULT_AGE], side="right")
    supporters = np.bincount(band, minlength=len(bands))
    population = _band_population(bands)
    total_s, total_p = supporters.sum(), population.sum()
    by_band = []
    for i, b in enumerate(bands):
        share_s = supporters[i] / total_s if total_s else 0.0
        share_p = population[i] / total_p if total_p else 0.0
        index = share_s / share_p if share_p else None
        by_band.append(
            {
                "band": b.id, "label": b.label, "supporters": int(supporters[i]), "share": round(float(share_s), 4),
                "insee_share": round(float(share_p), 4), "gap_points": round(float(share_s - share_p) * 100, 1),
                "index": round(float(index) * 100) if index is not None else None, "flag": _flag(index),
            }
        )
    known = dep[dep >= 0]
    counts = np.bincount(known, minlength=len(geo["dep_codes"]))
    pop = geo["dep_population"]
    by_dep = []
    for i, code in enumerate(geo["dep_codes"]):
        share_s = counts[i] / known.size if known.size else 0.0
        share_p = pop[i] / pop.sum() if pop.sum() else 0.0
        index = share_s / share_p if share_p else None
        by_dep.append(
            {
                "code": code, "name": geo["dep_names"][i], "supporters": int(counts[i]), "share": round(float(share_s), 5),
                "insee_share": round(float(share_p), 5), "gap_points": round(float(share_s - share_p) * 100, 2),
                "index": round(float(index) * 100) if index is not None else None, "flag": _flag(index),
            }
        )
    return {
        "age_bands": by_band,
        "departements": by_dep,
        "place_unknown": int((dep < 0).sum()),
        "sources": {"age": INSEE_AGE_SOURCE, "departements": _INSEE_DEPARTEMENT_SOURCE},
        "method": (
            "indice = part parmi les soutiens / part dans la population INSEE × 100 ; "
            f"≥ {round(_OVER * 100)} : sur-représenté, ≤ {round(_UNDER * 100)} : sous-représenté. "
            "Départements : population de tous âges (les soutiens sont majeurs), à lire comme un ordre de grandeur."
        ),
    }


def representativeness(frame: pd.DataFrame, bands: Sequence[AgeBand]) -> dict[str, Any]:
    """How far a group (the supporter base, a questionnaire's respondents) is from France.

    ``frame`` needs ``age`` and ``insee_com`` or ``postal_code``; compares by age band with
    France's national age structure (``INSEE_ADULTS_BY_AGE``) and by département with the
    INSEE population of the shipped commune table.
    """
    ages = frame["age"].astype("Int64").fillna(-1).to_numpy(np.int64)
    dep = _geo()["dep"][_commune_rows(frame)]
    return _representativeness_arrays(ages, dep, bands)


# --------------------------------------------------------------------------- drift


def assignment_drift(previous: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    """Who moved since the previous night: shares over supporters present both nights."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # Arrow hashes a million ids in C++; a pandas object Index of Python strings took 8 s.
    before_ids = pa.array(previous["supporter_id"].astype("string"), type=pa.large_string())
    after_ids = pa.array(current["supporter_id"].astype("string"), type=pa.large_string())
    where = pc.fill_null(pc.index_in(after_ids, value_set=before_ids), -1).to_numpy()
    both = where >= 0
    common = int(both.sum())
    out: dict[str, Any] = {
        "supporters_both_nights": common,
        "new_supporters": int((~both).sum()),
        "gone_supporters": int(len(previous) - common),
    }
    for column, key in (("segment_id", "moved_share"), ("profile_id", "profile_moved_share")):
        if column in previous and column in current and common:
            before = _id_codes(previous[column])
            after = _id_codes(current[column])
            union = sorted(set(before[1]) | set(after[1]))
            # Compare integer codes over the union of both nights' ids, never a million strings.
            before_codes = np.append(pd.Index(union).get_indexer(before[1]), -1)[before[0]][where[both]]
            after_codes = np.append(pd.Index(union).get_indexer(after[1]), -1)[after[0]][both]
            out[key] = round(float((before_codes != after_codes).mean()), 4)
    return out


def _id_codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Per-row codes and the distinct ids they point to (categoricals are not re-hashed)."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return codes, [str(u) for u in uniques]


# --------------------------------------------------------------------------- report


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


def _shift_text(moved: float | None, threshold: float | None) -> str:
    return "–" if moved is None else f"{moved:.2f} (seuil {threshold})"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_report(segments: Sequence[Mapping[str, Any]], report: Mapping[str, Any], *, interests: Mapping[str, str] | None = None) -> str:
    """The staff report as Markdown (French): segments, drift, merges, territories, representativeness."""
    interests = interests or DEFAULT_INTERESTS
    lines = [f"# Segmentation — édition du {report.get('edition') or '?'}", ""]
    model = report.get("model", {})
    lines += [
        f"- Adultes segmentés : {report.get('segmented', 0)} ; mineurs exclus : {report.get('minors_excluded', 0)} ; "
        f"commune inconnue : {report.get('place_unknown', 0)}",
        f"- Taille minimale d'un segment : {report.get('min_segment_size')} ; tailles publiées arrondies à 10",
        f"- Modèle : {model.get('pipeline', '')} ; k = {model.get('k')} ({model.get('k_method', '')}) ; "
        f"variables : {', '.join(model.get('features', []))} ; échantillon d'apprentissage : {model.get('sample_size')} ; graine : {model.get('seed')}",
        "",
        "## Segments",
        "",
        "| Segment | Libellé | Taille | Âge médian (p25–p75) | Intérêts principaux | Territoire | Évolution |",
        "|---|---|---:|---|---|---|---|",
    ]
    status = report.get("identity", {}).get("status", {})
    by_id = {s["id"]: s for s in report.get("segments", [])}
    for segment in segments:
        if segment.get("kind") != "main":
            continue
        d = by_id.get(segment["id"], {}).get("descriptor", {})
        age = d.get("age", {})
        top = ", ".join(f"{interests.get(k, k)} {_pct(v)}" for k, v in list(d.get("interests", {}).items())[:3])
        density = d.get("density", {})
        dominant = max(density, key=lambda k: density[k]) if density else ""
        territory = f"{dominant} {_pct(density.get(dominant))}" if dominant else ""
        if d.get("departements"):
            territory += "; " + ", ".join(f"{x['name']} {_pct(x['share'])}" for x in d["departements"][:2])
        lines.append(
            f"| {segment['id']} | {_cell(segment['label'])} | {segment['size']} | {age.get('median')} ({age.get('p25')}–{age.get('p75')}) | "
            f"{_cell(top)} | {_cell(territory)} | {status.get(segment.get('profile'), '')} |"
        )
    drift = report.get("drift", {})
    identity = report.get("identity", {})
    lines += ["", "## Stabilité d'une nuit à l'autre", ""]
    if not identity.get("base_edition"):
        lines.append("Première segmentation (aucun état de la veille) : les profils sont numérotés du plus grand au plus petit.")
    else:
        lines.append(f"Comparaison avec l'édition du {identity['base_edition']}.")
        if "moved_share" in drift:
            lines.append(
                f"- Personnes ayant changé de segment : {_pct(drift['moved_share'])} ; de profil : {_pct(drift.get('profile_moved_share'))} "
                f"(sur {drift.get('supporters_both_nights')} présentes les deux nuits ; nouvelles : {drift.get('new_supporters')}, parties : {drift.get('gone_supporters')})"
            )
        elif drift.get("note"):
            lines.append(f"- {drift['note']}")
        lines.append(f"- Profils retirés (identifiants jamais réutilisés) : {', '.join(identity.get('retired') or []) or 'aucun'}")
        if identity.get("note"):
            lines.append(f"- {identity['note']}")
    lines += ["", "| Profil | Libellé | Adultes | Statut | Déplacement du centre (seuil) |", "|---|---|---:|---|---|"]
    for profile in report.get("profiles", []):
        moved = profile.get("centroid_shift")
        lines.append(
            f"| {profile['id']} | {_cell(profile['label'])} | {_masked_count(profile['size'], report.get('min_segment_size', 0))} | {profile['status']} | "
            f"{_shift_text(moved, identity.get('max_shift'))} |"
        )
    merges = report.get("band_merges", []) + report.get("segment_merges", [])
    if merges:
        lines += ["", "## Regroupements (taille minimale)", ""]
        for merge in report.get("band_merges", []):
            lines.append(f"- Tranches {' + '.join(merge['bands'])} regroupées ({merge['adults']} adultes) sous l'identifiant {merge['kept_id']}")
        for merge in report.get("segment_merges", []):
            lines.append(f"- {merge['from']} ({merge['size']} personnes) fusionné dans {merge['into']}")
    if report.get("territories"):
        lines += ["", "## Packs territoriaux", "", "| Pack | Territoire | Niveau | Thème | Taille | Publié |", "|---|---|---|---|---:|---|"]
        for pack in report["territories"]:
            size = round_size(pack["size"]) if isinstance(pack["size"], int) else pack["size"]
            lines.append(
                f"| {pack['id']} | {_cell(pack['name'])} | {pack['level']} | {pack.get('theme') or ''} | {size} | "
                f"{'oui' if pack['published'] else 'non : ' + pack.get('reason', '')} |"
            )
    rep = report.get("representativeness")
    if rep:
        lines += [
            "", "## Représentativité", "", rep["method"], "",
            "### Par tranche d'âge", "", f"Source : {rep['sources']['age']}.", "",
            "| Tranche | Soutiens | Part | Part INSEE | Écart (points) | Indice | Lecture |", "|---|---:|---:|---:|---:|---:|---|",
        ]
        for row in rep["age_bands"]:
            lines.append(
                f"| {_cell(row['label'])} | {row['supporters']} | {_pct(row['share'])} | {_pct(row['insee_share'])} | {row['gap_points']:+.1f} | "
                f"{row['index'] if row['index'] is not None else '–'} | {row['flag']} |"
            )
        deps = [row for row in rep["departements"] if row["index"] is not None]
        over = sorted(deps, key=lambda r: -r["index"])[:10]
        under = sorted(deps, key=lambda r: r["index"])[:10]
        lines += ["", "### Par département", "", f"Source : {rep['sources']['departements']}. Commune inconnue : {rep['place_unknown']}.", ""]
        for title, rows in (("Les plus sur-représentés", over), ("Les plus sous-représentés", under)):
            lines += [f"**{title}**", "", "| Département | Soutiens | Part | Part INSEE | Indice | Lecture |", "|---|---:|---:|---:|---:|---|"]
            for row in rows:
                lines.append(
                    f"| {row['code']} {_cell(row['name'])} | {row['supporters']} | {row['share'] * 100:.2f} % | {row['insee_share'] * 100:.2f} % | "
                    f"{row['index']} | {row['flag']} |"
                )
            lines.append("")
        lines.append("Le tableau complet des 101 départements est dans segments.json (report.representativeness).")
    for note in report.get("notes", []):
        lines += ["", f"> {note}"]
    return "\n".join(lines).rstrip() + "\n"
