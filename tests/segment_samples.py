"""Hand-made supporters and a next night's file for the segmentation tests.

Importable from any test because tests/conftest.py puts this folder on sys.path.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

EDITION = date(2026, 11, 24)
NEXT = date(2026, 11, 25)
#: A segment as segments.json holds it: 65+, devoir civique, health first (content tests).
SENIORS: dict[str, Any] = {
    "id": "65plus-p01",
    "band": "65plus",
    "band_label": "65 ans et +",
    "framing": "devoir-civique",
    "profile": "p01",
    "label": "65 ans et + · santé",
    "size": 120,
    "top_interests": ["sante", "ecole"],
}


def people(ages: list[int], *, insee: str = "29019", start: int = 0) -> pd.DataFrame:
    """Hand-made adults for edge cases: deterministic interests and engagement."""
    n = len(ages)
    keys = ["sante", "ecole", "securite|sante", "transition-ecologique", "pouvoir-achat|emploi"]
    return pd.DataFrame(
        {
            "supporter_id": pd.array([f"H{start + i:06d}" for i in range(n)], dtype="string"),
            "age": np.asarray(ages, dtype=np.int64),
            "interests": pd.array([keys[i % len(keys)] for i in range(n)], dtype="string"),
            "events_attended": np.arange(n, dtype=np.int64) % 4,
            "shares_30d": (np.arange(n, dtype=np.int64) * 7) % 11,
            "donor": np.arange(n) % 5 == 0,
            "volunteer": np.arange(n) % 3 == 0,
            "insee_com": pd.array([insee] * n, dtype="string"),
            "postal_code": pd.array([""] * n, dtype="string"),
        }
    )


def next_night(features: pd.DataFrame) -> pd.DataFrame:
    """Tomorrow's file: 4 % left, 4 % joined, a few people more active."""
    rng = np.random.default_rng(5)
    kept = features[rng.random(len(features)) >= 0.04]
    joined = features.sample(frac=0.04, random_state=3).copy()
    joined["supporter_id"] = ("N" + joined["supporter_id"].str[1:]).astype("string")
    tomorrow = pd.concat([kept, joined], ignore_index=True)
    busier = rng.random(len(tomorrow)) < 0.03
    tomorrow.loc[busier, "events_attended"] += 2
    return tomorrow


def segments_json(result: Any) -> list[dict[str, Any]]:
    """A SegmentationResult's segments as segments.json holds them."""
    return [segment.to_json() for segment in result.segments]
