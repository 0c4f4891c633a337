"""What the night learns from the morning: per segment and theme, which angle gets shared
(Thompson sampling on Beta posteriors of shares over exposures, pooled across an age band
while a segment's data is thin), which channel, which hour.

Modules: ``model`` (posteriors, pooling, Thompson weights), ``learner`` (:func:`learn`: count
rows to the ``learned.json`` document), ``read`` (the counts database, the silence, the
eligible angles), ``simulate`` (a campaign with known truths, ``matinale simulate``),
``commands`` (the CLI).
"""

from matinale.learn.learner import CountRow, band_of, learn
from matinale.learn.model import Posterior, Tally, pooled, thompson_weights
from matinale.learn.read import (
    eligible_from_rules,
    learn_from_database,
    links_engine,
    read_counts,
    recent_editions,
    silence_days,
)

__all__ = [
    "CountRow",
    "Posterior",
    "Tally",
    "band_of",
    "eligible_from_rules",
    "learn",
    "learn_from_database",
    "links_engine",
    "pooled",
    "read_counts",
    "recent_editions",
    "silence_days",
    "thompson_weights",
]
