"""Benchmark: segment a million supporters (budget: ≤ 4 s and < 2 GiB on the 2-core machine).

Usage: ``PYTHONPATH=plugins .venv/bin/python bench/segment_bench.py [rows]``; ``run(rows)`` returns
the measures as a dict for ``make bench``.

The supporters are generated (``matinale.dev.sample``), then go through the real ingest and
privacy stages; that setup is not timed. The measure runs in a fresh process, as the
Airflow task does: it reads the privacy stage's Parquet output, segments it with the
shipped ``segments/`` definitions (territorial packs included), and reports the wall time
of ``segment_supporters`` and the process's peak resident memory. The floor is a bare
scikit-learn ``KMeans`` fit (same k, k-means++) on the same encoded matrix of every adult:
what clustering alone costs without sampling, identities, merges, packs or the report.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["run"]

ROOT = Path(__file__).resolve().parents[1]
EDITION = date(2026, 11, 24)
BUDGET_SECONDS = 4.0
BUDGET_MIB = 2048


def _features(rows: int, folder: Path) -> Path:
    """The privacy stage's output for ``rows`` generated supporters, as Parquet."""
    from matinale.dev.sample import write_sample
    from matinale.ingest import ingest_supporters
    from matinale.privacy import split_for_segmentation

    supporters = write_sample(rows, 1, folder / "supporters.parquet")
    valid = ingest_supporters(supporters, reference_date=EDITION).valid
    path = folder / "features.parquet"
    split_for_segmentation(valid).features.to_parquet(path, index=False)
    return path


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _measure(features_path: str, queue: Any) -> None:
    """Child process: segment, then the bare KMeans floor on the same matrix."""
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    from matinale.segment import (
        assignment_drift,
        load_definitions,
        profile_matrix,
        segment_supporters,
    )

    definitions = load_definitions(ROOT / "segments")
    features = pd.read_parquet(features_path)
    # Warm the caches a real task also has warm after its first rows (INSEE tables, imports).
    segment_supporters(features.head(2_000), definitions.bands, definitions.profiles, territories=definitions.territories, edition=EDITION)

    rss_before_mib = _rss_mib()
    started = time.perf_counter()
    result = segment_supporters(features, definitions.bands, definitions.profiles, territories=definitions.territories, edition=EDITION)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    started = time.perf_counter()
    shuffled = result.assignments.sample(frac=1.0, random_state=0)
    drift = assignment_drift(shuffled, result.assignments)
    drift_seconds = time.perf_counter() - started

    k = int(result.report["model"]["k"])
    matrix, _ = profile_matrix(features, definitions.bands, definitions.profiles)
    floors = {}
    for label, threads in (("one_thread", 1), ("all_threads", None)):
        with threadpool_limits(limits=threads):
            started = time.perf_counter()
            KMeans(n_clusters=k, n_init=1, random_state=0).fit(matrix)
            floors[label] = round(time.perf_counter() - started, 3)
    queue.put(
        {
            "rows": len(features),
            "adults": int(result.report["segmented"]),
            "k": k,
            "matrix": list(np.shape(matrix)),
            "segments": len(result.segments),
            "seconds": round(seconds, 3),
            "peak_rss_mib": round(peak_mib, 1),
            "rss_before_mib": round(rss_before_mib, 1),  # imports + the input frame, read before the clock starts
            "floor_kmeans_full_matrix_seconds": floors,
            # The machine is shared: the ratio to the floor, measured in the same minute, says
            # more than seconds alone when other work loads the cores.
            "ratio_to_floor": round(seconds / floors["one_thread"], 2),
            "drift_seconds": round(drift_seconds, 3),
            "drift_check_moved_share": drift.get("moved_share"),
            "load_average": os.getloadavg()[0],
        }
    )


def run(rows: int = 1_000_000) -> dict[str, Any]:
    """Segment ``rows`` generated supporters in a fresh process; time, memory and the KMeans floor."""
    with tempfile.TemporaryDirectory(prefix="matinale-bench-") as folder:
        features = _features(rows, Path(folder))
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=_measure, args=(str(features), queue))
        child.start()
        measures = queue.get()
        child.join()
    measures["within_budget"] = measures["seconds"] <= BUDGET_SECONDS and measures["peak_rss_mib"] < BUDGET_MIB
    measures["budget"] = {"seconds": BUDGET_SECONDS, "mib": BUDGET_MIB}
    return measures


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), indent=1))
