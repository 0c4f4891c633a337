"""The public description of one segment: what segments.json holds per segment, typed.

``segment_supporters`` makes them, segments.json stores them (``to_json``), and every
later stage (content, cards, bundle) reads them back with ``from_json``. Only
segment-level facts are here, never a person: sizes are rounded to 10.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["Segment", "SegmentKind", "Territory", "band_of"]

SegmentKind = Literal["main", "territory"]


# INSEE names arrondissements "Paris 20e Arrondissement", "Lyon 1er Arrondissement".
_ARRONDISSEMENT = re.compile(
    r"^(?P<city>Paris|Lyon|Marseille) (?P<number>\d+(?:er|e)) Arrondissement$", re.IGNORECASE
)


def _at(name: str) -> str:
    """ "à" before a commune's name, contracted with its article: "au Havre", "aux Lilas"."""
    if name.startswith("Le "):
        return f"au {name[3:]}"
    if name.startswith("Les "):
        return f"aux {name[4:]}"
    return f"à {name}"


def band_of(segment: str) -> str:
    """The age band of a segment id (``65plus-p03`` → ``65plus``); ``t-<code>`` packs count as
    one pseudo-band, ``territory``; any other id is its own band."""
    if segment.startswith("t-"):
        return "territory"
    band, _, profile = segment.rpartition("-p")
    return band if band and profile.isdigit() else segment


@dataclass(frozen=True)
class Territory:
    """The place a territorial pack is for (``territories.yaml``)."""

    level: str  # departement, commune or arrondissement
    code: str
    name: str
    the: str = ""  # with its article: "le Finistère", "Lille" (territories.yaml)
    at: str = ""  # with its preposition: "dans le Finistère", "à Lille"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Territory:
        return cls(
            level=str(data.get("level") or ""),
            code=str(data.get("code") or ""),
            # Older segments.json files named the place ``label``.
            name=str(data.get("name") or data.get("label") or ""),
            the=str(data.get("the") or ""),
            at=str(data.get("at") or ""),
        )

    def to_json(self) -> dict[str, str]:
        # The name forms only when territories.yaml gives them: older files stay the same.
        return {
            key: value
            for key, value in asdict(self).items()
            if value or key in ("level", "code", "name")
        }

    def forms(self) -> tuple[str, str]:
        """The name with its article and with its preposition ("le Finistère", "dans le
        Finistère"). Without them in territories.yaml: an arrondissement is "le 20e
        arrondissement de Paris" / "dans le …", a commune its name with "à" contracted as
        French does ("au Havre", "aux Lilas", "à La Rochelle", "à Lille"), a département
        "dans notre département"."""
        if self.the and self.at:
            return self.the, self.at
        if self.level == "departement":
            return self.the or f"le département {self.name}", self.at or "dans notre département"
        district = _ARRONDISSEMENT.match(self.name) if self.level == "arrondissement" else None
        if district:
            city, number = district.group("city"), district.group("number")
            the = f"le {number} arrondissement de {city}"
            return self.the or the, self.at or f"dans {the}"
        return self.the or self.name, self.at or _at(self.name)


@dataclass(frozen=True)
class Segment:
    """One published segment: a ``<band>-<profile>`` main segment or a territorial pack."""

    id: str
    kind: SegmentKind = "main"
    band: str | None = None  # age band id (None for a pack: all ages)
    band_label: str = ""
    framing: str | None = None  # the band's framing key
    profile: str | None = None
    label: str = ""
    size: int = 0  # rounded to 10
    top_interests: tuple[str, ...] = ()
    territory: Territory | None = None
    theme: str | None = None  # a pack's local theme
    merged_bands: tuple[str, ...] = ()  # bands merged into ``band`` (too small alone)

    @property
    def place(self) -> str:
        """The place a territorial pack is for, as posts and cards name it ('' for a main segment)."""
        if self.kind != "territory":
            return ""
        return (self.territory.name if self.territory else "") or self.label

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Segment:
        """A segment from its segments.json entry (missing keys take their defaults)."""
        territory = data.get("territory")
        size = data.get("size")
        return cls(
            id=str(data.get("id")),
            kind="territory" if data.get("kind") == "territory" else "main",
            band=_text(data.get("band")),
            band_label=str(data.get("band_label") or ""),
            framing=_text(data.get("framing")),
            profile=_text(data.get("profile")),
            label=str(data.get("label") or ""),
            size=size if isinstance(size, int) else int(size or 0),
            top_interests=tuple(str(i) for i in data.get("top_interests") or ()),
            territory=Territory.from_json(territory) if territory else None,
            theme=_text(data.get("theme")),
            merged_bands=tuple(str(b) for b in data.get("merged_bands") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        """The segments.json entry (keys in the order the file has always had; lists, not tuples)."""
        return {
            **asdict(self),
            "territory": self.territory.to_json() if self.territory else None,
            "top_interests": list(self.top_interests),
            "merged_bands": list(self.merged_bands),
        }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
