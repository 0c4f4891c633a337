"""The learner's arithmetic: Beta posteriors of share rates, pooled across an age band, and
Thompson-sampling weights with an exploration floor.

A cell is one (segment, theme, angle) over the editions read: its *exposures* are its
``variant_shown`` events, its *shares* its ``copy`` plus ``share`` events, capped at the
exposures (so a posterior is never improper, whatever the beacons said).

The posterior of a cell, in three layers (each one only from cells at or above the
k-anonymity floor ``k_min``: a cell under it teaches nothing):

1. *prior*: ``Beta(m·s, (1 − m)·s)``, ``m`` the theme's share rate over every band cell that
   passes the floor (``(shares + 1) / (exposures + 2)``; 1/2 with none), ``s`` =
   :data:`PRIOR_STRENGTH` pseudo-exposures: wide, so an angle nobody has seen yet still gets
   tried;
2. *band*: the band cell (the segment cells of the band summed first, then the floor
   applied) added to the prior; the result is then scaled down, keeping its mean, to at most
   ``pooling`` pseudo-exposures (:data:`POOLING`): what the band lends to one segment
   (``pooling`` 0: nothing, each segment learns alone);
3. *segment*: the segment's own cell, when it passes the floor, added to that.

A thin segment thus reads like its band; once its own exposures pass ``pooling`` by far,
its own counts decide. ``source`` says which layer is the last that had data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DRAWS",
    "POOLING",
    "PRIOR_STRENGTH",
    "Posterior",
    "Tally",
    "pooled",
    "theme_prior",
    "thompson_weights",
]

PRIOR_STRENGTH = 10.0
"""Pseudo-exposures of the theme-wide prior."""
POOLING = 100.0
"""At most this many pseudo-exposures lent by a band to one of its segments."""
DRAWS = 1000
"""Thompson draws per angle: the weight of an angle is the share of draws it wins."""
_CHUNK = 512  # groups sampled at once (bounds memory: chunk × angles × draws floats)


@dataclass(frozen=True)
class Tally:
    """Shares (copy + share, capped at exposures) over exposures (``variant_shown``)."""

    shares: int = 0
    exposures: int = 0

    @classmethod
    def capped(cls, shares: int, exposures: int) -> Tally:
        return cls(min(max(shares, 0), max(exposures, 0)), max(exposures, 0))

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.shares + other.shares, self.exposures + other.exposures)

    def passes(self, k_min: int) -> bool:
        """At or above the k-anonymity floor (and not empty)."""
        return self.exposures > 0 and self.exposures >= k_min


@dataclass(frozen=True)
class Posterior:
    """``Beta(alpha, beta)`` and the last layer that had data (segment, band or prior)."""

    alpha: float
    beta: float
    source: str

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def interval(self, mass: float = 0.9) -> tuple[float, float]:
        """The central credible interval holding ``mass`` of the posterior."""
        from scipy.special import betaincinv  # not at import: the CLI loads this package

        tail = (1.0 - mass) / 2
        low, high = betaincinv(self.alpha, self.beta, [tail, 1.0 - tail])
        return float(low), float(high)


def theme_prior(band_cells: Sequence[Tally], k_min: int) -> Posterior:
    """The prior of every cell of a theme, from its band cells at or above the floor."""
    shares = sum(c.shares for c in band_cells if c.passes(k_min))
    exposures = sum(c.exposures for c in band_cells if c.passes(k_min))
    mean = (shares + 1) / (exposures + 2)
    return Posterior(mean * PRIOR_STRENGTH, (1 - mean) * PRIOR_STRENGTH, "prior")


def pooled(
    prior: Posterior,
    band: Tally,
    own: Tally,
    *,
    k_min: int,
    pooling: float = POOLING,
) -> Posterior:
    """A segment cell's posterior: prior, then its band (scaled to at most ``pooling``
    pseudo-exposures), then its own counts; cells under ``k_min`` are left out."""
    alpha, beta, source = prior.alpha, prior.beta, prior.source
    if band.passes(k_min) and pooling > 0:
        alpha += band.shares
        beta += band.exposures - band.shares
        source = "band"
        if alpha + beta > pooling:
            scale = pooling / (alpha + beta)
            alpha, beta = alpha * scale, beta * scale
    if own.passes(k_min):
        alpha += own.shares
        beta += own.exposures - own.shares
        source = "segment"
    return Posterior(alpha, beta, source)


def thompson_weights(
    groups: Sequence[Sequence[Posterior]],
    *,
    floor: float,
    rng: np.random.Generator,
    draws: int = DRAWS,
) -> list[list[float]]:
    """Per group (one segment and theme), each angle's weight: the share of ``draws`` joint
    samples of the posteriors in which it is best, mixed with ``floor`` of uniform.

    A group whose posteriors are all the prior (nothing learnt) gets exact uniform weights
    and draws nothing. Groups are sampled in the order given, so the same posteriors and
    the same generator state give the same weights."""
    weights: list[list[float]] = [[1.0 / len(g)] * len(g) if g else [] for g in groups]
    learnt = [i for i, g in enumerate(groups) if any(p.source != "prior" for p in g)]
    for start in range(0, len(learnt), _CHUNK):
        chunk = learnt[start : start + _CHUNK]
        width = max(len(groups[i]) for i in chunk)
        alpha = np.ones((len(chunk), width))
        beta = np.ones((len(chunk), width))
        present = np.zeros((len(chunk), width), dtype=bool)
        for row, index in enumerate(chunk):
            for col, posterior in enumerate(groups[index]):
                alpha[row, col], beta[row, col] = posterior.alpha, posterior.beta
                present[row, col] = True
        samples = rng.beta(alpha[..., None], beta[..., None], size=(len(chunk), width, draws))
        samples[~present] = -1.0
        best = samples.argmax(axis=1)
        wins = np.stack([(best == col).mean(axis=1) for col in range(width)], axis=1)
        for row, index in enumerate(chunk):
            size = len(groups[index])
            weights[index] = [
                float((1.0 - floor) * wins[row, col] + floor / size) for col in range(size)
            ]
    return weights
