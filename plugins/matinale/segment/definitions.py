"""What the data team edits in ``segments/``, read and checked: age bands, profiles, territories.

Every error names the file, the key and the fix (``SegmentDefinitionError``); a forbidden
criterion in ``profiles.yaml`` raises ``ForbiddenCriterionError``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from matinale.geo import PLM_CITIES, arrondissements, commune_types, communes_by_insee, departements
from matinale.privacy import ADULT_AGE
from matinale.segment.errors import SegmentDefinitionError
from matinale.segment.features import ALLOWED_FEATURES, DEFAULT_INTERESTS, check_criterion

__all__ = [
    "SLUG",
    "AgeBand",
    "Definitions",
    "ProfileConfig",
    "TerritoryPack",
    "load_age_bands",
    "load_definitions",
    "load_profiles",
    "load_territories",
]


SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


_DEFAULT_SAMPLE = 50_000
_MIN_SIZE_FLOOR = 10


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
        raise SegmentDefinitionError(
            f"{path}: file not found; create it (see segments/ in the repository)"
        ) from exc
    except yaml.YAMLError as exc:
        raise SegmentDefinitionError(f"{path}: not valid YAML: {exc}") from exc


def _int(value: Any, where: str, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SegmentDefinitionError(f"{where} = {value!r} must be an integer ({hint})")
    try:
        return int(value)
    except ValueError as exc:
        raise SegmentDefinitionError(f"{where} = {value!r} must be an integer ({hint})") from exc


def _float(value: Any, message: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise SegmentDefinitionError(message) from exc


def _unknown_keys(
    raw: Mapping[str, Any], known: Iterable[str], path: Path, where: str = ""
) -> None:
    known = list(known)
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {known}"
            raise SegmentDefinitionError(f"{path}: unknown key '{where}{key}'; {hint}")


def _entries(
    items: list[Any], path: Path, key: str, known: tuple[str, ...], shape: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each entry of the list ``key``, checked to be a mapping of known keys: (where, entry)."""
    for index, item in enumerate(items):
        where = f"{path}: {key}[{index}]"
        if not isinstance(item, dict):
            raise SegmentDefinitionError(f"{where} must be a mapping with {shape}")
        _unknown_keys(item, known, path, f"{key}[{index}].")
        yield where, item


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
    known = ("id", "label", "min", "max", "framing")
    for where, item in _entries(items, path, "bands", known, "id, label, min, max and framing"):
        missing = [key for key in known if item.get(key) in (None, "")]
        if missing:
            raise SegmentDefinitionError(
                f"{where} has no {', '.join(missing)}; every band needs id, label, min, max and framing"
            )
        band = AgeBand(
            id=str(item["id"]),
            label=str(item["label"]),
            min=_int(item["min"], f"{where}.min", "an age in years"),
            max=_int(item["max"], f"{where}.max", "an age in years"),
            framing=str(item["framing"]),
        )
        if not SLUG.match(band.id):
            raise SegmentDefinitionError(
                f"{where}.id = {band.id!r} must be a slug (a-z, 0-9 and '-'), e.g. '65plus'"
            )
        if not SLUG.match(band.framing):
            raise SegmentDefinitionError(
                f"{where}.framing = {band.framing!r} must be a slug key, e.g. 'devoir-civique'"
            )
        if band.min > band.max:
            raise SegmentDefinitionError(
                f"{where}: min {band.min} is above max {band.max}; swap them"
            )
        bands.append(band)
    ids = [b.id for b in bands]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        raise SegmentDefinitionError(
            f"{path}: band id '{duplicate}' is used twice; ids must be unique"
        )
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


_PROFILE_KEYS = (
    "features",
    "clusters",
    "min_segment_size",
    "seed",
    "sample_size",
    "weights",
    "interests",
    "max_centroid_shift",
    "territories",
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
            raise SegmentDefinitionError(
                f"{where} = {{min: {low}, max: {high}}} is out of range: a k range is chosen by silhouette and must lie in 2..30"
            )
        if low > high:
            raise SegmentDefinitionError(f"{where}: min {low} is above max {high}; swap them")
        return low, high
    k = _int(value, where, "1..30, or a range such as {min: 3, max: 8}")
    if not 1 <= k <= 30:
        raise SegmentDefinitionError(
            f"{where} = {k} is out of range 1..30; pick fewer profiles (each is crossed with every age band)"
        )
    return k, k


def load_profiles(path: Path) -> ProfileConfig:
    """Read and check ``profiles.yaml``; a forbidden criterion raises ``ForbiddenCriterionError``."""
    path = Path(path)
    raw = _load_yaml(path) or {}
    if not isinstance(raw, dict):
        raise SegmentDefinitionError(
            f"{path}: must be a mapping with features, clusters, min_segment_size and seed"
        )
    _unknown_keys(raw, _PROFILE_KEYS, path)
    features_raw = raw.get("features")
    if not features_raw or not isinstance(features_raw, list):
        raise SegmentDefinitionError(
            f"{path}: 'features' is missing or empty; list some of {list(ALLOWED_FEATURES)}"
        )
    features: list[str] = []
    for index, name in enumerate(features_raw):
        check_criterion(str(name), f"{path}: features[{index}]")
        if name in features:
            raise SegmentDefinitionError(
                f"{path}: features[{index}] = {name!r} is listed twice; keep one"
            )
        features.append(str(name))
    k_min, k_max = _clusters(raw.get("clusters", 4), path)
    min_size = _int(
        raw.get("min_segment_size", 50), f"{path}: min_segment_size", f"at least {_MIN_SIZE_FLOOR}"
    )
    if min_size < _MIN_SIZE_FLOOR:
        raise SegmentDefinitionError(
            f"{path}: min_segment_size = {min_size} is below {_MIN_SIZE_FLOOR}: a segment that small can single people out; raise it"
        )
    seed = _int(raw.get("seed", 42), f"{path}: seed", "any integer ≥ 0")
    if seed < 0:
        raise SegmentDefinitionError(f"{path}: seed = {seed} must be ≥ 0")
    sample = _int(
        raw.get("sample_size", _DEFAULT_SAMPLE),
        f"{path}: sample_size",
        "rows the model is fitted on, ≥ 1000",
    )
    if sample < 1000:
        raise SegmentDefinitionError(
            f"{path}: sample_size = {sample} is below 1000; the profiles would be noise"
        )
    weights_raw = raw.get("weights") or {}
    if not isinstance(weights_raw, dict):
        raise SegmentDefinitionError(
            f"{path}: 'weights' must map a feature to a positive number, e.g. {{departement: 0.5}}"
        )
    weights: dict[str, float] = {}
    for name, value in weights_raw.items():
        check_criterion(str(name), f"{path}: weights")
        if name not in features:
            raise SegmentDefinitionError(
                f"{path}: weights.{name} weighs a feature that is not in 'features'; add it there or remove the weight"
            )
        weight = _float(value, f"{path}: weights.{name} = {value!r} must be a positive number")
        if not weight > 0:
            raise SegmentDefinitionError(
                f"{path}: weights.{name} = {value!r} must be a positive number (drop the feature instead of weighing it 0)"
            )
        weights[str(name)] = weight
    interests_raw = raw.get("interests")
    if interests_raw is None:
        interests = dict(DEFAULT_INTERESTS)
    else:
        if not isinstance(interests_raw, dict) or not interests_raw:
            raise SegmentDefinitionError(
                f"{path}: 'interests' must map interest keys to French labels, e.g. {{sante: santé}}"
            )
        interests = {}
        for key, label in interests_raw.items():
            if not SLUG.match(str(key)):
                raise SegmentDefinitionError(
                    f"{path}: interests key {key!r} must be a slug as in the supporter file, e.g. 'pouvoir-achat'"
                )
            if not str(label or "").strip():
                raise SegmentDefinitionError(f"{path}: interests.{key} needs a French label")
            interests[str(key)] = str(label)
    shift_raw = raw.get("max_centroid_shift", 0.5)
    shift = _float(
        shift_raw, f"{path}: max_centroid_shift = {shift_raw!r} must be a number in (0, 2]"
    )
    if not 0 < shift <= 2:
        raise SegmentDefinitionError(
            f"{path}: max_centroid_shift = {shift} must be in (0, 2] (a share of the median distance between profiles)"
        )
    territories = raw.get("territories")
    if territories is not None and (
        not isinstance(territories, str) or "/" in territories or territories.startswith(".")
    ):
        raise SegmentDefinitionError(
            f"{path}: territories = {territories!r} must be a file name in segments/, e.g. territories.yaml, or null"
        )
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


def load_territories(path: Path) -> list[TerritoryPack]:
    """Read and check ``territories.yaml``: every code must exist in the INSEE tables."""
    path = Path(path)
    raw = _load_yaml(path) or {}
    if not isinstance(raw, dict):
        raise SegmentDefinitionError(f"{path}: must be a mapping with a 'packs' list")
    _unknown_keys(raw, ("packs",), path)
    items = raw.get("packs") or []
    if not isinstance(items, list):
        raise SegmentDefinitionError(
            f"{path}: 'packs' must be a list such as [{{level: arrondissement, code: \"75120\", theme: transports}}]"
        )
    table = communes_by_insee()
    kinds = commune_types()
    deps = departements().set_index("insee_dep")["departement"]
    packs: list[TerritoryPack] = []
    known = ("level", "code", "theme", "name")
    for where, item in _entries(items, path, "packs", known, "level, code and an optional theme"):
        level = str(item.get("level", ""))
        code = str(item.get("code", "")).strip().upper()
        if level not in ("departement", "commune", "arrondissement"):
            raise SegmentDefinitionError(
                f"{where}.level = {level!r} must be departement, commune or arrondissement"
            )
        if not code:
            raise SegmentDefinitionError(
                f'{where}.code is missing; give the INSEE code as text, e.g. "75120" (quoted, to keep leading zeros)'
            )
        covered: tuple[str, ...] = ()
        if level == "departement":
            if code not in deps.index:
                raise SegmentDefinitionError(
                    f'{where}.code = {code!r} is not a département code (e.g. "29", "2A", "974")'
                )
            name = str(deps[code])
        elif level == "commune":
            if code in PLM_CITIES:
                covered, name = arrondissements(code), PLM_CITIES[code]
            elif code in table.index and kinds.get(code) == "COM":
                covered, name = (code,), str(table.at[code, "commune"])
            elif kinds.get(code) == "ARM":
                raise SegmentDefinitionError(
                    f"{where}.code = {code!r} is an arrondissement; set level: arrondissement"
                )
            else:
                raise SegmentDefinitionError(
                    f'{where}.code = {code!r} is not an INSEE commune code (5 characters, e.g. "29019" for Brest)'
                )
        else:
            if kinds.get(code) != "ARM":
                raise SegmentDefinitionError(
                    f"{where}.code = {code!r} is not an arrondissement: use 75101–75120 (Paris), 69381–69389 (Lyon) or 13201–13216 (Marseille)"
                )
            covered, name = (code,), str(table.at[code, "commune"])
        theme = item.get("theme")
        if theme is not None and not SLUG.match(str(theme)):
            raise SegmentDefinitionError(
                f"{where}.theme = {theme!r} must be a theme id (a slug, as in the brief), e.g. 'securite'"
            )
        pack_id = f"t-{code.lower()}"
        if any(p.id == pack_id for p in packs):
            raise SegmentDefinitionError(
                f"{where}: code {code!r} is listed twice; keep one pack per territory"
            )
        packs.append(
            TerritoryPack(
                id=pack_id,
                level=level,
                code=code,
                name=str(item.get("name") or name),
                theme=str(theme) if theme else None,
                communes=covered,
            )
        )
    return packs


def load_definitions(segments_dir: Path) -> Definitions:
    """All of ``segments/``: bands, profiles and, when profiles.yaml names it, territories."""
    segments_dir = Path(segments_dir)
    bands = load_age_bands(segments_dir / "age_bands.yaml")
    profiles = load_profiles(segments_dir / "profiles.yaml")
    territories = (
        load_territories(segments_dir / profiles.territories) if profiles.territories else []
    )
    return Definitions(bands=bands, profiles=profiles, territories=territories)
