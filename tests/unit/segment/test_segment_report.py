"""The staff report, representativeness against INSEE, and the night's segment stage."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from segment_samples import EDITION, NEXT, next_night, segments_json

from matinale.segment import (
    INSEE_ADULTS_BY_AGE,
    STATE_KEY,
    render_report,
    representativeness,
)

# --------------------------------------------------------------------------- report


def test_insee_age_structure_constants() -> None:
    assert len(INSEE_ADULTS_BY_AGE) == 82  # 18..98 and "99 and over"
    assert sum(INSEE_ADULTS_BY_AGE) == 53_405_857


def test_representativeness_by_band_and_departement(definitions) -> None:
    group = pd.DataFrame(
        {"age": [30] * 90 + [70] * 10, "postal_code": ["75020"] * 90 + ["29200"] * 10}
    )
    result = representativeness(group, definitions.bands)
    bands = {row["band"]: row for row in result["age_bands"]}
    assert (
        bands["25-34"]["flag"] == "sur-représenté" and bands["18-24"]["flag"] == "sous-représenté"
    )
    assert sum(row["insee_share"] for row in result["age_bands"]) == pytest.approx(1.0, abs=0.001)
    deps = {row["code"]: row for row in result["departements"]}
    assert deps["75"]["supporters"] == 90 and deps["75"]["flag"] == "sur-représenté"
    assert (
        deps["59"]["flag"] == "sous-représenté" and deps["976"]["index"] is None
    )  # Mayotte: no population in the table
    assert "Insee" in result["sources"]["age"] and "2022" in result["sources"]["age"]


def test_report_is_french_and_holds_no_supporter_id(night1, features) -> None:
    text = render_report(night1.segments, night1.report)
    assert "## Segments" in text and "## Représentativité" in text and "Par département" in text
    assert "| 65plus-p" in text
    published = json.dumps(
        {"segments": segments_json(night1), "report": night1.report}, ensure_ascii=False
    )
    ids = set(features["supporter_id"])
    assert not [token for token in re.findall(r"S\d{8}", published + text) if token in ids]


# --------------------------------------------------------------------------- the night's stage


def _stage(settings, store, features: pd.DataFrame, edition: date, run: str):
    from matinale.night import RunContext, run_segment

    ctx = RunContext(
        edition=edition, run=run, supporters_file="unused.csv", brief_file="unused.yaml"
    )
    store.put_frame(f"{ctx.prefix}/private/features.parquet", features)
    store.put_json(f"{ctx.prefix}/compliance.json", {"minors_excluded": 3})
    return ctx, run_segment(settings, store, ctx)


def test_run_segment_writes_private_and_public_files_and_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, features
) -> None:
    from matinale.settings import load_settings
    from matinale.store import LocalStore

    monkeypatch.setenv("MATINALE_VAR", str(tmp_path))
    settings = load_settings()
    store = LocalStore(settings.work_dir)
    ctx, summary = _stage(settings, store, features, EDITION, "r1")
    assert summary["minors_excluded"] == 3 and summary["main"] > 0
    listing = store.list(ctx.prefix)
    assert {
        f"{ctx.prefix}/segments.json",
        f"{ctx.prefix}/segments_report.md",
        f"{ctx.prefix}/private/assignments.parquet",
        f"{ctx.prefix}/private/territories.parquet",
    } <= set(listing)
    state = store.get_json(STATE_KEY)
    assert state["current"]["assignments"] == f"{ctx.prefix}/private/assignments.parquet"
    ctx2, summary2 = _stage(settings, store, next_night(features), NEXT, "r2")
    assert "moved_share" in summary2
    report = store.get_json(f"{ctx2.prefix}/segments.json")["report"]
    assert (
        report["drift"]["base_edition"] == EDITION.isoformat()
        and report["drift"]["supporters_both_nights"] > 2000
    )
    assert (
        "Personnes ayant changé de segment"
        in store.get_bytes(f"{ctx2.prefix}/segments_report.md").decode()
    )


def test_run_segment_on_real_s3(
    s3_server, s3_buckets, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, features
) -> None:
    from matinale.settings import load_settings
    from matinale.store import S3Store

    monkeypatch.setenv("MATINALE_VAR", str(tmp_path))
    settings = load_settings()
    client = s3_server.client()
    store = S3Store(client, s3_buckets["private"], "work")
    ctx, summary = _stage(settings, store, features.head(1500), EDITION, "r1")
    keys = {
        item["Key"] for item in client.list_objects_v2(Bucket=s3_buckets["private"])["Contents"]
    }
    assert "work/state/segments.json" in keys
    assert f"work/{ctx.prefix}/segments.json" in keys
    segments = store.get_json(f"{ctx.prefix}/segments.json")["segments"]
    assert len(segments) == summary["segments"]
