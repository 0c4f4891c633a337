"""What the data team edits in ``segments/``, read and checked: age bands, profiles, territories.

Each file is read by :func:`matinale.yamlfile.load_yaml` and validated by its pydantic model
(:class:`AgeBandsFile`, :class:`ProfilesFile`, :class:`TerritoriesFile`; JSON Schemas in
``matinale/schemas/``). Every error names the file, the line, the key and the fix
(``SegmentDefinitionError``); a forbidden criterion in ``profiles.yaml`` raises
``ForbiddenCriterionError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from matinale.geo import PLM_CITIES, arrondissements, commune_types, communes_by_insee, departements
from matinale.privacy import ADULT_AGE
from matinale.schemas.fields import SLUG, Required, Section, Text, slug_rule
from matinale.segment.errors import SegmentDefinitionError
from matinale.segment.features import ALLOWED_FEATURES, DEFAULT_INTERESTS, check_criterion
from matinale.territories.config import AutoFile, ScoreFile
from matinale.yamlfile import Fix, YamlDoc, load_yaml

__all__ = [
    "SLUG",
    "AgeBand",
    "AgeBandsFile",
    "Definitions",
    "ProfileConfig",
    "ProfilesFile",
    "TerritoriesFile",
    "TerritoryPack",
    "load_age_bands",
    "load_definitions",
    "load_profiles",
    "load_territories",
]


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
    the: str = ""  # the name with its article ("le Finistère")
    at: str = ""  # with its preposition ("dans le Finistère", "à Lille")


@dataclass(frozen=True)
class Definitions:
    bands: list[AgeBand]
    profiles: ProfileConfig
    territories: list[TerritoryPack]


def _load(path: Path) -> YamlDoc:
    path = Path(path)
    if not path.is_file():
        raise SegmentDefinitionError(
            f"{path}: file not found; create it (see segments/ in the repository)"
        )
    return load_yaml(path, error=SegmentDefinitionError)


# ------------------------------------------------------------------ age_bands.yaml


class AgeBandFile(Section):
    """One age band of ``age_bands.yaml``."""

    id: Annotated[
        str,
        PlainValidator(slug_rule("a slug (a-z, 0-9 and '-'), e.g. '65plus'")),
        WithJsonSchema({"type": "string", "pattern": SLUG.pattern, "examples": ["65plus"]}),
    ] = Field(examples=["65plus"])
    label: Required = Field(examples=['"65 ans et +"'])
    min: int = Field(description="an age in years", examples=[65])
    max: int = Field(description="an age in years", examples=[120])
    framing: Annotated[
        str,
        PlainValidator(slug_rule("a slug key, e.g. 'devoir-civique'")),
        WithJsonSchema({"type": "string", "pattern": SLUG.pattern}),
    ] = Field(examples=["devoir-civique"])

    @model_validator(mode="after")
    def _ordered(self) -> AgeBandFile:
        if self.min > self.max:
            raise Fix(f"min {self.min} is above max {self.max}; swap them")
        return self


class AgeBandsFile(Section):
    """``segments/age_bands.yaml``: every adult age in exactly one band."""

    bands: list[AgeBandFile] = Field(
        examples=[
            '[{id: 65plus, label: "65 ans et +", min: 65, max: 120, framing: devoir-civique}]'
        ]
    )

    @field_validator("bands")
    @classmethod
    def _some(cls, bands: list[AgeBandFile]) -> list[AgeBandFile]:
        if not bands:
            raise Fix(
                "'bands' is missing or empty",
                'list bands such as {id: 65plus, label: "65 ans et +", min: 65, max: 120, framing: devoir-civique}',
            )
        return bands


def load_age_bands(path: Path) -> list[AgeBand]:
    """Read and check ``age_bands.yaml``: slugs, every adult age in exactly one band."""
    doc = _load(path)
    raw = doc.validate(AgeBandsFile)
    doc.unique_ids(raw.bands, what="band", section="bands")
    ordered = sorted(enumerate(raw.bands), key=lambda pair: pair[1].min)
    bands = [AgeBand(b.id, b.label, b.min, b.max, b.framing) for _, b in ordered]

    def at(position: int) -> tuple[str, int]:
        return ("bands", ordered[position][0])

    first, last = bands[0], bands[-1]
    if first.min < ADULT_AGE:
        raise doc.refuse(
            f"band '{first.id}' starts at {first.min}, but people under {ADULT_AGE} are never segmented; set its min to {ADULT_AGE}",
            "",
            path=(*at(0), "min"),
        )
    if first.min > ADULT_AGE:
        raise doc.refuse(
            f"ages {ADULT_AGE}–{first.min - 1} fall in no band; set min of '{first.id}' to {ADULT_AGE}",
            "",
            path=(*at(0), "min"),
        )
    for position, (before, after) in enumerate(zip(bands, bands[1:], strict=False)):
        if after.min <= before.max:
            raise doc.refuse(
                f"bands '{before.id}' ({before.min}–{before.max}) and '{after.id}' ({after.min}–{after.max}) overlap; set min of '{after.id}' to {before.max + 1}",
                "",
                path=(*at(position + 1), "min"),
            )
        if after.min > before.max + 1:
            raise doc.refuse(
                f"ages {before.max + 1}–{after.min - 1} fall in no band; set max of '{before.id}' to {after.min - 1} or min of '{after.id}' to {before.max + 1}",
                "",
                path=(*at(position + 1), "min"),
            )
    if last.max < 110:
        raise doc.refuse(
            f"ages above {last.max} fall in no band (supporters up to 110 are valid); set max of '{last.id}' to 120",
            "",
            path=(*at(len(bands) - 1), "max"),
        )
    return bands


# ------------------------------------------------------------------ profiles.yaml


def _one_k(value: Any) -> Any:
    """``clusters: 6`` is the range 6..6; a mapping is validated as a range."""
    if isinstance(value, dict):
        return value
    hint = "write 1..30, or a range such as {min: 3, max: 8}"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Fix(f"{value!r} must be an integer", hint)
    try:
        k = int(value)
    except ValueError as exc:
        raise Fix(f"{value!r} must be an integer", hint) from exc
    if not 1 <= k <= 30:
        raise Fix(
            f"{k} is out of range 1..30",
            "pick fewer profiles (each is crossed with every age band)",
        )
    return ClusterRange.model_construct(min=k, max=k)


class ClusterRange(Section):
    """A range of profile counts, the best chosen by silhouette."""

    min: int
    max: int

    @model_validator(mode="after")
    def _in_range(self) -> ClusterRange:
        low, high = self.min, self.max
        if low == high and 1 <= low <= 30:
            return self  # a fixed k (``clusters: 6``, or 1: one profile per band)
        if not 2 <= low <= 30 or not 2 <= high <= 30:
            raise Fix(
                f"{{min: {low}, max: {high}}} is out of range",
                "a k range is chosen by silhouette and must lie in 2..30",
            )
        if low > high:
            raise Fix(f"min {low} is above max {high}; swap them")
        return self


def _at_least(floor: int, message: str) -> Any:
    def check(value: int) -> int:
        if value < floor:
            raise Fix(message.format(value=value, floor=floor))
        return value

    return AfterValidator(check)


def _positive(value: float) -> float:
    if not value > 0:
        raise Fix(
            f"{value!r} must be a positive number", "drop the feature instead of weighing it 0"
        )
    return value


def _shift(value: float) -> float:
    if not 0 < value <= 2:
        raise Fix(f"{value} must be in (0, 2]", "a share of the median distance between profiles")
    return value


def _file_name(value: str | None) -> str | None:
    if value is not None and ("/" in value or value.startswith(".")):
        raise Fix(
            f"{value!r} must be a file name in segments/",
            "e.g. territories.yaml, or null",
        )
    return value


InterestKey = Annotated[
    str,
    PlainValidator(slug_rule("a slug as in the supporter file, e.g. 'pouvoir-achat'")),
    WithJsonSchema({"type": "string", "pattern": SLUG.pattern}),
]


class ProfilesFile(Section):
    """``segments/profiles.yaml``: what the clustering uses and how."""

    features: list[str] = Field(examples=["[interests, engagement, involvement]"])
    clusters: Annotated[
        ClusterRange,
        BeforeValidator(_one_k),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "integer", "minimum": 1, "maximum": 30},
                    {
                        "type": "object",
                        "properties": {
                            "min": {"type": "integer", "minimum": 2, "maximum": 30},
                            "max": {"type": "integer", "minimum": 2, "maximum": 30},
                        },
                        "required": ["min", "max"],
                        "additionalProperties": False,
                    },
                ]
            }
        ),
    ] = ClusterRange.model_construct(min=4, max=4)
    min_segment_size: Annotated[
        int,
        _at_least(
            _MIN_SIZE_FLOOR,
            "{value} is below {floor}: a segment that small can single people out; raise it",
        ),
    ] = 50
    seed: Annotated[int, _at_least(0, "{value} must be ≥ 0")] = 42
    sample_size: Annotated[
        int, _at_least(1000, "{value} is below {floor}; the profiles would be noise")
    ] = _DEFAULT_SAMPLE
    weights: dict[str, Annotated[float, AfterValidator(_positive)]] = {}
    interests: dict[InterestKey, Required] | None = None
    max_centroid_shift: Annotated[float, AfterValidator(_shift)] = 0.5
    territories: Annotated[str | None, AfterValidator(_file_name)] = None

    @field_validator("features")
    @classmethod
    def _some_features(cls, features: list[str]) -> list[str]:
        if not features:
            raise Fix("'features' is missing or empty", f"list some of {list(ALLOWED_FEATURES)}")
        return features

    @field_validator("interests")
    @classmethod
    def _some_interests(cls, interests: dict[str, str] | None) -> dict[str, str] | None:
        if interests is not None and not interests:
            raise Fix("'interests' must map interest keys to French labels", "e.g. {sante: santé}")
        return interests


def load_profiles(path: Path) -> ProfileConfig:
    """Read and check ``profiles.yaml``; a forbidden criterion raises ``ForbiddenCriterionError``."""
    doc = _load(path)
    raw = doc.validate(ProfilesFile)
    features: list[str] = []
    for index, name in enumerate(raw.features):
        check_criterion(name, f"{doc.path}:{doc.line(('features', index))}: features[{index}]")
        if name in features:
            raise doc.refuse(f"{name!r} is listed twice", "keep one", path=("features", index))
        features.append(name)
    for name in raw.weights:
        check_criterion(name, f"{doc.path}:{doc.line(('weights', name))}: weights")
        if name not in features:
            raise doc.refuse(
                "weighs a feature that is not in 'features'; add it there or remove the weight",
                "",
                path=("weights", name),
            )
    return ProfileConfig(
        features=tuple(features),
        k_min=raw.clusters.min,
        k_max=raw.clusters.max,
        min_segment_size=raw.min_segment_size,
        seed=raw.seed,
        sample_size=raw.sample_size,
        weights=dict(raw.weights),
        interests=dict(DEFAULT_INTERESTS) if raw.interests is None else dict(raw.interests),
        max_centroid_shift=raw.max_centroid_shift,
        territories=raw.territories,
    )


# ------------------------------------------------------------------ territories.yaml


def _level(value: Any) -> Any:
    if value not in _LEVELS:
        raise Fix(f"{value!r} must be departement, commune or arrondissement")
    return value


_LEVELS = ("departement", "commune", "arrondissement")


class PackFile(Section):
    """One territorial pack: a place and its optional local theme."""

    level: Annotated[
        Literal["departement", "commune", "arrondissement"], BeforeValidator(_level)
    ] = Field(examples=["arrondissement"])
    code: Required = Field(
        description='the INSEE code as text, e.g. "75120" (quoted, to keep leading zeros)',
        examples=['"75120"'],
    )
    theme: (
        Annotated[
            str,
            PlainValidator(slug_rule("a theme id (a slug, as in the brief), e.g. 'securite'")),
            WithJsonSchema({"type": "string", "pattern": SLUG.pattern}),
        ]
        | None
    ) = None
    name: str | None = None
    the: Text | None = Field(
        default=None, description='the name with its article, e.g. "le Finistère", "Lille"'
    )
    at: Text | None = Field(
        default=None,
        description='the name with its preposition, e.g. "dans le Finistère", "à Lille"',
    )


class TerritoriesFile(Section):
    """``segments/territories.yaml``: the territorial packs, the ranking's score and the
    automatic packs (``matinale.territories``)."""

    packs: list[PackFile] = []
    score: ScoreFile = Field(default_factory=ScoreFile)
    auto: AutoFile | None = None


def _place(level: str, code: str) -> tuple[str, tuple[str, ...]] | str:
    """The place's name and the communes it covers, or why ``code`` is not a ``level``."""
    if level == "departement":
        deps = departements().set_index("insee_dep")["departement"]
        if code not in deps.index:
            return f'{code!r} is not a département code (e.g. "29", "2A", "974")'
        return str(deps[code]), ()
    table, kinds = communes_by_insee(), commune_types()
    if level == "commune":
        if code in PLM_CITIES:
            return PLM_CITIES[code], arrondissements(code)
        if code in table.index and kinds.get(code) == "COM":
            return str(table.at[code, "commune"]), (code,)
        if kinds.get(code) == "ARM":
            return f"{code!r} is an arrondissement; set level: arrondissement"
        return f'{code!r} is not an INSEE commune code (5 characters, e.g. "29019" for Brest)'
    if kinds.get(code) != "ARM":
        return f"{code!r} is not an arrondissement: use 75101–75120 (Paris), 69381–69389 (Lyon) or 13201–13216 (Marseille)"
    return str(table.at[code, "commune"]), (code,)


def load_territories(path: Path) -> list[TerritoryPack]:
    """Read and check ``territories.yaml``: every code must exist in the INSEE tables."""
    doc = _load(path)
    raw = doc.validate(TerritoriesFile)
    packs: list[TerritoryPack] = []
    for index, item in enumerate(raw.packs):
        code = item.code.strip().upper()
        place = _place(item.level, code)
        if isinstance(place, str):
            raise doc.refuse(place, "", path=("packs", index, "code"))
        name, covered = place
        pack_id = f"t-{code.lower()}"
        if any(p.id == pack_id for p in packs):
            raise doc.refuse(
                f"code {code!r} is listed twice",
                "keep one pack per territory",
                path=("packs", index),
            )
        packs.append(
            TerritoryPack(
                id=pack_id,
                level=item.level,
                code=code,
                name=item.name or name,
                theme=item.theme or None,
                communes=covered,
                the=item.the or "",
                at=item.at or "",
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
