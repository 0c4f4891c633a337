"""The benchmark's inputs: cached supporter files and a bench copy of the project's settings.

The project's own ``segments/`` and ``content_templates/`` are never changed: the bench
copies ``campaign.yaml``, ``segments/`` and ``content_templates/`` into a folder of its own
(``MATINALE_HOME`` of every stage it runs) and edits the copy so that a night makes about
``segments`` segments and ``themes`` themes:

* ``profiles.yaml``: ``clusters`` = segments / age bands, territorial packs off (so the
  segment count is what was asked for, not that plus the packs of the day);
* ``age_bands.yaml``: the project's bands, split into finer ones only when segments / bands
  would need more profiles than segment definitions accept (30); a finer band keeps the
  framing of the band it comes from;
* the brief: the sample brief's themes, cut or extended to ``themes`` with more French
  themes built on the first one's shape (so whatever fields the brief schema requires stay
  filled), and a framing line for each bench band.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from matinale.errors import MatinaleError
from matinale.yamlfile import load_yaml

__all__ = [
    "BENCH_EDITION",
    "MAX_PORTABLE_CLUSTERS",
    "BenchHome",
    "BenchWorkspaceError",
    "bench_brief",
    "fill_inbox",
    "make_home",
    "split_bands",
    "supporters_file",
]

#: The edition every bench night builds (a fixed date: same brief, same ages, same output).
BENCH_EDITION = date(2026, 11, 24)
#: The most profiles every segment definition accepts (``profiles.yaml`` ``clusters``).
MAX_PORTABLE_CLUSTERS = 30
# Ages above this count no more for the width of a band: 65-120 is as wide as 65-90 in people.
_OLDEST_FOR_WIDTH = 90

# More themes for a longer brief: titles ≤ 80 characters, links on the campaign's domain,
# sources on domains campaign.yaml allows (a data file).
_EXTRA_THEMES: tuple[dict[str, Any], ...] = tuple(
    json.loads(
        (Path(__file__).resolve().parents[2] / "data" / "bench_themes.json").read_text(
            encoding="utf-8"
        )
    )["themes"]
)


class BenchWorkspaceError(MatinaleError, RuntimeError):
    """The bench copy of the settings cannot be made: the message names the file and the fix."""


@dataclass(frozen=True)
class BenchHome:
    """The bench copy of the project's settings and what it is set to produce."""

    path: Path
    bands: tuple[str, ...]
    clusters: int
    themes: tuple[str, ...]
    card_formats: tuple[str, ...]
    brief_text: str

    @property
    def segments(self) -> int:
        """Segments asked for: bands × profiles (fewer if small ones are merged)."""
        return len(self.bands) * self.clusters

    @property
    def cards_expected(self) -> int:
        """Cards a night makes when every segment is kept: segments × themes × formats."""
        return self.segments * len(self.themes) * max(1, len(self.card_formats))

    def to_json(self) -> dict[str, Any]:
        return {
            "bands": list(self.bands),
            "clusters": self.clusters,
            "segments_asked": self.segments,
            "themes": list(self.themes),
            "card_formats": list(self.card_formats),
            "cards_expected": self.cards_expected,
        }


def supporters_file(
    cache_dir: Path, rows: int, seed: int, *, env: dict[str, str] | None = None
) -> tuple[Path, float | None]:
    """The cached sample file of ``rows`` supporters, generated on first use.

    Generation runs in a process of its own (``matinale sample``): 3M rows take a few GiB
    that the harness, alive for the whole run, should not keep. The file is written aside
    then renamed, so a killed run leaves no half file. Returns the path and the seconds
    generation took (``None`` when it came from the cache).
    """
    path = Path(cache_dir) / f"supporters-{rows}-{seed}.csv"
    if path.is_file():
        return path, None
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "matinale.cli",
        "sample",
        "--rows",
        str(rows),
        "--seed",
        str(seed),
        "--out",
        str(path),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not path.is_file():
        raise BenchWorkspaceError(
            f"generating {rows:,} sample supporters failed (exit {done.returncode}): {done.stderr[-2000:]}"
        )
    return path, time.perf_counter() - started


def _load_yaml(path: Path) -> Any:
    return load_yaml(path, error=BenchWorkspaceError).data


def _dump_yaml(path: Path, value: Any) -> None:
    path.write_text(yaml.safe_dump(value, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _band_label(low: int, high: int, last: bool) -> str:
    return f"{low} ans et +" if last else f"{low}–{high} ans"


def _band_id(low: int, high: int, last: bool) -> str:
    return f"{low}plus" if last else f"{low}-{high}"


def split_bands(bands: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` finer age bands cut from ``bands`` (sorted, no gap), widest first.

    Each band gets a share of ``count`` in proportion to its width (ages above 90 do not
    widen a band: there are few people there), at least one; a band cut in ``n`` parts
    gives ``n`` bands of equal width, the last keeping the original upper age. A finer
    band keeps its parent's ``framing`` and remembers the parent's id in ``parent``.
    """
    ordered = sorted(bands, key=lambda b: int(b["min"]))
    if count < len(ordered):
        raise BenchWorkspaceError(f"cannot split {len(ordered)} age bands into fewer ({count})")
    widths = [max(1, min(int(b["max"]), _OLDEST_FOR_WIDTH) - int(b["min"]) + 1) for b in ordered]
    parts = [1] * len(ordered)
    for _ in range(count - len(ordered)):
        # Give the next cut to the band whose parts are widest now.
        widest = max(range(len(ordered)), key=lambda i: (widths[i] / parts[i], -i))
        parts[widest] += 1
    result = []
    for index, (band, pieces) in enumerate(zip(ordered, parts, strict=True)):
        low, high = int(band["min"]), int(band["max"])
        step = widths[index] / pieces
        for piece in range(pieces):
            start = low + round(piece * step)
            end = high if piece == pieces - 1 else low + round((piece + 1) * step) - 1
            last = index == len(ordered) - 1 and piece == pieces - 1
            if pieces == 1:
                item = {**band}
            else:
                item = {
                    **band,
                    "id": _band_id(start, end, last),
                    "label": _band_label(start, end, last),
                    "min": start,
                    "max": end,
                }
            item["parent"] = str(band["id"])
            result.append(item)
    return result


def _plan_bands(real: int, segments: int) -> tuple[int, int]:
    """(bands, profiles) with bands ≥ ``real``, bands × profiles = ``segments``, profiles ≤ 30."""
    for bands in range(real, segments + 1):
        if segments % bands == 0 and segments // bands <= MAX_PORTABLE_CLUSTERS:
            return bands, segments // bands
    # No exact split: as close as possible from below.
    bands = max(real, math.ceil(segments / MAX_PORTABLE_CLUSTERS))
    return bands, max(1, segments // bands)


def _theme_from(template: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """A new theme shaped like ``template`` (same keys, same kinds of value)."""
    theme = copy.deepcopy(template)
    theme.update({key: extra[key] for key in ("id", "title", "key_message", "link")})
    theme["hashtags"] = list(extra["hashtags"])
    calls = extra["call_to_action"]
    theme["call_to_action"] = (
        list(calls) if isinstance(template.get("call_to_action"), list) else calls[0]
    )
    facts = template.get("facts")
    if isinstance(facts, list) and facts and isinstance(facts[0], dict):
        fact = copy.deepcopy(facts[0])
        fact.update({"text": extra["fact"], "source": extra["source"]})
        theme["facts"] = [fact]
    return theme


def bench_brief(
    sample: dict[str, Any], *, edition: date, themes: int, bands: list[dict[str, Any]]
) -> dict[str, Any]:
    """The sample brief dated ``edition`` with ``themes`` themes and a framing line per band."""
    brief = copy.deepcopy(sample)
    brief["edition"] = edition
    found = list(brief.get("themes") or [])
    if not found:
        raise BenchWorkspaceError(
            "content_templates/sample_brief.yaml has no theme to build the bench brief on"
        )
    known = {str(t.get("id")) for t in found}
    extras = [_theme_from(found[0], extra) for extra in _EXTRA_THEMES if extra["id"] not in known]
    chosen = (found + extras)[:themes]
    if len(chosen) < themes:
        raise BenchWorkspaceError(
            f"the bench brief can have at most {len(found) + len(extras)} themes, {themes} asked"
        )
    brief["themes"] = chosen
    for theme in chosen:  # a finer band hears what its parent band hears
        texts = theme.get("bands")
        if isinstance(texts, dict) and texts:
            own: dict[str, Any] = {}
            for band in bands:
                for key in (str(band["id"]), str(band.get("parent", ""))):
                    if key in texts:
                        own[str(band["id"])] = copy.deepcopy(texts[key])  # no YAML alias
                        break
            theme["bands"] = own
    framing = dict(brief.get("framing") or {})
    if framing:
        lines = {}
        for band in bands:
            line = framing.get(str(band["id"])) or framing.get(str(band.get("parent", "")))
            if line:
                lines[str(band["id"])] = line
        brief["framing"] = lines
    return brief


def make_home(project: Path, target: Path, *, segments: int, themes: int) -> BenchHome:
    """Copy the project's settings into ``target`` and set them up for the bench night."""
    project, target = Path(project), Path(target)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    campaign = _load_yaml(project / "campaign.yaml")
    if not isinstance(campaign, dict):
        raise BenchWorkspaceError(f"{project / 'campaign.yaml'}: must be a mapping")
    # The bench's finer bands share their parent's texts (and the extra themes have none per
    # band), so most of their posts read alike: the similarity check still runs and is
    # timed, but does not stop the bench night (a campaign's night keeps the 5 % limit).
    campaign.setdefault("content", {})["max_close_share"] = 1.0
    _dump_yaml(target / "campaign.yaml", campaign)
    for folder in ("segments", "content_templates"):
        shutil.copytree(project / folder, target / folder, symlinks=False)

    bands_path = target / "segments" / "age_bands.yaml"
    raw_bands = _load_yaml(bands_path) or {}
    real = list(raw_bands.get("bands") or []) if isinstance(raw_bands, dict) else []
    if not real:
        raise BenchWorkspaceError(
            f"{project / 'segments' / 'age_bands.yaml'}: no 'bands' to build the bench segments on"
        )
    band_count, clusters = _plan_bands(len(real), segments)
    bands = split_bands(real, band_count)
    if band_count != len(real):
        raw_bands["bands"] = [{k: v for k, v in b.items() if k != "parent"} for b in bands]
        _dump_yaml(bands_path, raw_bands)

    profiles_path = target / "segments" / "profiles.yaml"
    profiles = _load_yaml(profiles_path) or {}
    if not isinstance(profiles, dict):
        raise BenchWorkspaceError(f"{profiles_path}: must be a mapping")
    profiles["clusters"] = clusters
    if "territories" in profiles:
        profiles["territories"] = None  # packs would add segments on top of bands × profiles
    _dump_yaml(profiles_path, profiles)

    sample = _load_yaml(target / "content_templates" / "sample_brief.yaml")
    if not isinstance(sample, dict):
        raise BenchWorkspaceError(
            f"{project / 'content_templates' / 'sample_brief.yaml'}: must be a mapping"
        )
    brief = bench_brief(sample, edition=BENCH_EDITION, themes=themes, bands=bands)
    brief_text = (
        "# Bench brief: the sample brief, made longer by matinale.bench.\n"
        + yaml.safe_dump(brief, allow_unicode=True, sort_keys=False)
    )
    formats = tuple(sorted(p.stem for p in (target / "content_templates" / "cards").glob("*.yaml")))
    return BenchHome(
        path=target,
        bands=tuple(str(b["id"]) for b in bands),
        clusters=clusters,
        themes=tuple(str(t["id"]) for t in brief["themes"]),
        card_formats=formats,
        brief_text=brief_text,
    )


def fill_inbox(var_dir: Path, home: BenchHome, supporters: Path) -> Path:
    """An inbox holding only ``supporters`` (linked, not copied), the bench brief and no suppression."""
    inbox = Path(var_dir) / "inbox"
    folder = inbox / "supporters"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / supporters.name
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(supporters.resolve(), link)
    (inbox / "suppression").mkdir(parents=True, exist_ok=True)
    briefs = inbox / "briefs"
    briefs.mkdir(parents=True, exist_ok=True)
    (briefs / f"{BENCH_EDITION.isoformat()}.yaml").write_text(home.brief_text, encoding="utf-8")
    return inbox
