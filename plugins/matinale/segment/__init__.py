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

Modules: ``definitions`` (the YAML files, checked), ``features`` (allowed and forbidden
criteria, encoders), ``adults`` (who is segmented, per-adult arrays), ``model`` (pipeline,
choice of k, fit), ``identity`` (state, matching, drift), ``describe`` (descriptors, labels,
rounded sizes), ``types`` (``Segment``, what segments.json holds per segment),
``territories`` (packs), ``build`` (``segment_supporters``), ``report``
(representativeness, Markdown report), ``errors``. Commune look-ups live in ``matinale.geo``.

``Segment`` and the errors load with the package; everything else loads on first use
(PEP 562), because the stages that only read segments.json (content and its worker
processes, cards, bundle) must not pay for scikit-learn and pandas (1.5 s per process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matinale.lazy import lazy_exports
from matinale.segment.errors import (
    ForbiddenCriterionError,
    NotEnoughSupportersError,
    SegmentationError,
    SegmentDefinitionError,
)
from matinale.segment.types import Segment, SegmentKind, Territory, band_of

if TYPE_CHECKING:
    from matinale.segment.adults import ages_on
    from matinale.segment.build import SegmentationResult, segment_supporters
    from matinale.segment.definitions import (
        AgeBand,
        Definitions,
        ProfileConfig,
        TerritoryPack,
        load_age_bands,
        load_definitions,
        load_profiles,
        load_territories,
    )
    from matinale.segment.describe import round_size
    from matinale.segment.features import (
        ALLOWED_FEATURES,
        CNIL_RULE,
        DEFAULT_INTERESTS,
        FORBIDDEN_CRITERIA,
        check_criterion,
    )
    from matinale.segment.identity import STATE_KEY, assignment_drift
    from matinale.segment.model import build_profile_pipeline, profile_matrix
    from matinale.segment.report import (
        INSEE_ADULTS_BY_AGE,
        INSEE_AGE_SOURCE,
        render_report,
        representativeness,
    )

# Public name → the submodule that defines it, imported on first access.
_LAZY: dict[str, str] = {
    "ages_on": "matinale.segment.adults",
    "SegmentationResult": "matinale.segment.build",
    "segment_supporters": "matinale.segment.build",
    "AgeBand": "matinale.segment.definitions",
    "Definitions": "matinale.segment.definitions",
    "ProfileConfig": "matinale.segment.definitions",
    "TerritoryPack": "matinale.segment.definitions",
    "load_age_bands": "matinale.segment.definitions",
    "load_definitions": "matinale.segment.definitions",
    "load_profiles": "matinale.segment.definitions",
    "load_territories": "matinale.segment.definitions",
    "round_size": "matinale.segment.describe",
    "ALLOWED_FEATURES": "matinale.segment.features",
    "CNIL_RULE": "matinale.segment.features",
    "DEFAULT_INTERESTS": "matinale.segment.features",
    "FORBIDDEN_CRITERIA": "matinale.segment.features",
    "check_criterion": "matinale.segment.features",
    "STATE_KEY": "matinale.segment.identity",
    "assignment_drift": "matinale.segment.identity",
    "build_profile_pipeline": "matinale.segment.model",
    "profile_matrix": "matinale.segment.model",
    "INSEE_ADULTS_BY_AGE": "matinale.segment.report",
    "INSEE_AGE_SOURCE": "matinale.segment.report",
    "render_report": "matinale.segment.report",
    "representativeness": "matinale.segment.report",
}


__getattr__ = lazy_exports(__name__, _LAZY)


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
    "Segment",
    "SegmentDefinitionError",
    "SegmentKind",
    "SegmentationError",
    "SegmentationResult",
    "Territory",
    "band_of",
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
