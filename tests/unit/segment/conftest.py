"""Fixtures shared by the segmentation tests: shipped definitions, 2,500 supporters, a first night."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from segment_samples import EDITION

from matinale.dev.sample import write_sample
from matinale.ingest import ingest_supporters
from matinale.privacy import split_for_segmentation
from matinale.segment import load_definitions, segment_supporters

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def definitions():
    return load_definitions(ROOT / "segments")


@pytest.fixture(scope="module")
def profiles(definitions):
    # Four profiles keep the test data (2,500 rows) well above the minimum size per band.
    return replace(definitions.profiles, k_min=4, k_max=4)


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """2,500 realistic supporters through the real ingest and privacy stages."""
    path = write_sample(2_500, 11, tmp_path_factory.mktemp("sample") / "supporters.csv")
    valid = ingest_supporters(path, reference_date=EDITION).valid
    return split_for_segmentation(valid).features


@pytest.fixture(scope="module")
def night1(features, definitions, profiles):
    return segment_supporters(
        features,
        definitions.bands,
        profiles,
        territories=definitions.territories,
        edition=EDITION,
        run="r1",
    )
