"""``matinale simulate``: a campaign whose truths are known, to score the learner.

Hidden truths, all drawn from the seed:

* segments: ``<band>-pNN`` over the bands of ``segments/age_bands.yaml`` in turn; their
  sizes share 1,000,000 supporters, proportional to log-normal draws (σ = 0.8: the largest
  of 200 segments holds about 20 times the smallest, as profiles of unequal appeal do);
* themes: the sample brief's three; per segment and theme, the angles ``framing.yaml``
  makes eligible for its band (padded from the file's other angles to at least 3), each
  with a true share rate per exposure from Beta(2, 60) (mean ≈ 3 %), multiplied every night
  by a log-normal factor (σ = 0.1: the news moves);
* exposures per segment, theme and night: Poisson, mean 0.1 × the segment's size;
* per band, an hourly profile of opens (a main peak and a smaller one); opens per segment
  and night Poisson(0.05 × size), a third of them followed by a click.

Policies, on the same draws (same truths, drifts and exposures; the outcomes of a policy
come from its own generator, seeded alike, so equal allocations give equal outcomes):

* ``uniform``: today, every eligible angle alike;
* ``explore_then_commit``: uniform for L test nights, then every exposure to the angle with
  the best observed share rate (what Action Network's automatic A/B test does), L = 1–5,
  the best L reported;
* ``thompson``: each night the real :func:`~matinale.learn.learner.learn` reads the counts
  (written through the link service's own :class:`~matinale.links.counts.Counts` writer into
  SQLite) and its weights split the exposures.

``share_of_oracle``: a policy's cumulative expected shares (its exposures per angle times the
true rates, so the ratio carries no binomial noise) over those of the oracle, which always
shows the true best angle. ``best_hour_accuracy``: over nights 2 onwards, the share of
segments whose learned ``send_hour`` is their band's true busiest hour.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from matinale.learn.learner import learn
from matinale.learn.read import read_counts, recent_editions

__all__ = ["THEMES", "World", "make_world", "simulate"]

THEMES = ("pouvoir-achat", "sante", "transition-ecologique")
"""The sample brief's themes (content_templates/sample_brief.yaml)."""
SUPPORTERS = 1_000_000
EXPOSED = 0.1
OPENED = 0.05
CLICKED = 1 / 3
DRIFT = 0.1
CHANNELS = ("whatsapp", "facebook", "x")
START = date(2027, 1, 4)  # no DST change and no election in the 30 nights that follow
SENT_AT = 8  # Paris hour of the cell events (exposures, copies, shares, previews)
PARIS = ZoneInfo("Europe/Paris")
_PEAKS = (7, 8, 12, 18, 19, 20, 21)


@dataclass
class World:
    """The hidden truths of one simulated campaign."""

    segments: dict[str, str]  # id → band
    sizes: np.ndarray  # per segment, in order of ``segments``
    groups: list[tuple[str, str, tuple[str, ...]]]  # (segment, theme, eligible angles)
    group_segment: np.ndarray  # index of each group's segment
    rates: np.ndarray  # (groups, max angles) first night's true share rates, 0 where no angle
    present: np.ndarray  # (groups, max angles) bool
    profiles: dict[str, np.ndarray]  # band → 24 probabilities of an open per Paris hour
    mix: np.ndarray  # (groups, channels) how a group's exposures spread over channels

    def eligible(self, segment: str, theme: str) -> list[str]:
        return list(self._eligible[(segment, theme)])

    def __post_init__(self) -> None:
        self._eligible = {(s, t): a for s, t, a in self.groups}


def _profile(rng: np.random.Generator) -> np.ndarray:
    hours = np.arange(24)
    main, second = rng.choice(_PEAKS, size=2, replace=False)

    def bump(peak: int, width: float) -> np.ndarray:
        distance = np.minimum(abs(hours - peak), 24 - abs(hours - peak))
        return np.exp(-(distance**2) / (2 * width**2))

    shape = 0.05 + bump(main, 1.2) + 0.6 * bump(second, 1.5)
    shape[1:6] *= 0.2  # few open anything between 01:00 and 06:00
    return shape / shape.sum()


def make_world(seed: int, n_segments: int, templates_dir: Path, segments_dir: Path) -> World:
    """Draw the truths of a campaign of ``n_segments`` segments (module docstring)."""
    from matinale.content.rules import eligible_angles, load_rules
    from matinale.segment import load_age_bands

    rng = np.random.default_rng([seed, 1])
    rules = load_rules(templates_dir)
    bands = [band.id for band in load_age_bands(segments_dir / "age_bands.yaml")]
    segments = {
        f"{bands[i % len(bands)]}-p{i // len(bands) + 1:02d}": bands[i % len(bands)]
        for i in range(n_segments)
    }
    raw = rng.lognormal(0.0, 0.8, n_segments)
    sizes = np.maximum(np.round(raw / raw.sum() * SUPPORTERS), 1)
    groups = []
    for segment, band in segments.items():
        for theme in THEMES:
            angles = eligible_angles(rules, theme, band, "vous")
            angles += [a for a in rules.angles if a not in angles][: max(0, 3 - len(angles))]
            groups.append((segment, theme, tuple(angles)))
    width = max(len(a) for _, _, a in groups)
    present = np.array([[i < len(a) for i in range(width)] for _, _, a in groups])
    rates = np.where(present, rng.beta(2, 60, size=present.shape), 0.0)
    index = {segment: i for i, segment in enumerate(segments)}
    profiles = {band: _profile(rng) for band in bands}
    mix = rng.dirichlet(np.full(len(CHANNELS), 4.0), size=len(groups))
    return World(
        segments=segments,
        sizes=sizes,
        groups=groups,
        group_segment=np.array([index[s] for s, _, _ in groups]),
        rates=rates,
        present=present,
        profiles=profiles,
        mix=mix,
    )


def _write(
    counts: Any,
    clock: list[datetime],
    world: World,
    edition: date,
    shown: np.ndarray,
    rates: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """One night of the Thompson policy's counts (``shown`` exposures per group and angle,
    shared at tonight's ``rates``), through the service's writer."""
    by_channel = rng.multinomial(shown, world.mix[:, None, :])  # (groups, angles, channels)
    shares = rng.binomial(by_channel, rates[..., None])
    copies = rng.binomial(shares, 0.5)
    previews = rng.binomial(shares, 0.5)
    day = edition.isoformat()
    clock[0] = datetime.combine(edition, time(SENT_AT), tzinfo=PARIS)
    for g, a, c in zip(*np.nonzero(by_channel), strict=True):
        segment, theme, angles = world.groups[g]
        cell = (theme, CHANNELS[c], angles[a])
        counts.add(day, segment, "variant_shown", cell, int(by_channel[g, a, c]))
        for event, n in (
            ("copy", copies[g, a, c]),
            ("share", shares[g, a, c] - copies[g, a, c]),
            ("preview", previews[g, a, c]),
        ):
            if n:
                counts.add(day, segment, event, cell, int(n))
    opens = rng.poisson(OPENED * world.sizes)
    names = list(world.segments)
    per_hour = np.stack(
        [rng.multinomial(opens[i], world.profiles[world.segments[s]]) for i, s in enumerate(names)]
    )
    clicks = rng.binomial(per_hour, CLICKED)
    for hour in range(24):
        clock[0] = datetime.combine(edition, time(hour), tzinfo=PARIS)
        for i in np.nonzero(per_hour[:, hour])[0]:
            counts.add(day, names[i], "open", n=int(per_hour[i, hour]))
            if clicks[i, hour]:
                counts.add(day, names[i], "click", n=int(clicks[i, hour]))
    counts.flush()


def _weights(world: World, learned: dict[str, Any]) -> np.ndarray:
    weights = np.zeros(world.present.shape)
    for g, (segment, theme, angles) in enumerate(world.groups):
        table = learned["segments"][segment]["themes"][theme]["weights"]
        weights[g, : len(angles)] = [table[a] for a in angles]
    return weights / weights.sum(axis=1, keepdims=True)


def _share(shares: float, oracle: float) -> float:
    return round(shares / oracle, 4) if oracle else 0.0


def simulate(
    nights: int = 30,
    segments: int = 200,
    seed: int = 42,
    *,
    editions: int = 14,
    floor: float = 0.05,
    k_min: int = 50,
    pooling: float = 100.0,
    home: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the simulated campaign (module docstring) and score the policies."""
    from matinale.links.counts import Counts, make_engine, migrate
    from matinale.settings import project_home

    home = home or project_home()
    world = make_world(seed, segments, home / "content_templates", home / "segments")
    truth = np.random.default_rng([seed, 2])
    uniform_rng, thompson_rng = np.random.default_rng([seed, 3]), np.random.default_rng([seed, 3])
    writer_rng = np.random.default_rng([seed, 4])
    uniform_p = world.present / world.present.sum(axis=1, keepdims=True)
    rates = world.rates.copy()
    tests = range(1, min(5, nights) + 1)
    test_shown, test_shares = np.zeros(rates.shape), np.zeros(rates.shape)
    winners: dict[int, np.ndarray] = {}
    totals = {"oracle": 0.0, "uniform": 0.0, "thompson": 0.0} | {f"etc{n}": 0.0 for n in tests}
    hits: list[float] = []
    busiest = {band: f"{int(np.argmax(p)):02d}:00" for band, p in world.profiles.items()}
    with tempfile.TemporaryDirectory(prefix="matinale-simulate-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'links.db'}")
        migrate(engine)
        clock = [datetime.combine(START, time(0), tzinfo=PARIS)]
        counts = Counts(engine, clock=lambda: clock[0])
        for night in range(nights):
            edition = START + timedelta(days=night)
            if night:
                rates = np.where(
                    world.present, rates * truth.lognormal(0.0, DRIFT, rates.shape), 0.0
                )
                rates = np.minimum(rates, 1.0)
            exposures = truth.poisson(EXPOSED * world.sizes[world.group_segment])
            totals["oracle"] += float((exposures * rates.max(axis=1)).sum())
            shown = uniform_rng.multinomial(exposures, uniform_p)
            shared = uniform_rng.binomial(shown, rates)
            totals["uniform"] += float((shown * rates).sum())
            for n in tests:
                if n in winners:
                    totals[f"etc{n}"] += float(
                        (exposures * rates[np.arange(len(rates)), winners[n]]).sum()
                    )
                else:
                    totals[f"etc{n}"] += float((shown * rates).sum())
            if night < len(tests):
                test_shown += shown
                test_shares += shared
                rate = np.where(world.present, (test_shares + 1) / (test_shown + 2), -1.0)
                winners[night + 1] = rate.argmax(axis=1)
            read = recent_editions(engine, edition.isoformat(), editions)
            learned = learn(
                read_counts(engine, read),
                segments=world.segments,
                themes=THEMES,
                eligible=world.eligible,
                edition=edition.isoformat(),
                editions=read,
                floor=floor,
                k_min=k_min,
                seed=seed * 1000 + night,
                pooling=pooling,
            )
            if night:
                hits.append(
                    float(
                        np.mean(
                            [
                                learned["segments"][s]["send_hour"] == busiest[band]
                                for s, band in world.segments.items()
                            ]
                        )
                    )
                )
            shown = thompson_rng.multinomial(exposures, _weights(world, learned))
            totals["thompson"] += float((shown * rates).sum())
            _write(counts, clock, world, edition, shown, rates, writer_rng)
            if progress:
                progress(f"night {night + 1}/{nights}: {edition} learnt from {len(read)} editions")
        engine.dispose()
    oracle = totals["oracle"]
    by_test = {str(n): _share(totals[f"etc{n}"], oracle) for n in tests}
    best = max(tests, key=lambda n: totals[f"etc{n}"])
    return {
        "nights": nights,
        "segments": segments,
        "seed": seed,
        "supporters": SUPPORTERS,
        "settings": {"editions": editions, "floor": floor, "k_min": k_min, "pooling": pooling},
        "policies": {
            "uniform": {"share_of_oracle": _share(totals["uniform"], oracle)},
            "explore_then_commit": {
                "share_of_oracle": by_test[str(best)],
                "test_nights": best,
                "by_test_nights": by_test,
            },
            "thompson": {"share_of_oracle": _share(totals["thompson"], oracle)},
        },
        "best_hour_accuracy": round(float(np.mean(hits)), 4) if hits else None,
    }
