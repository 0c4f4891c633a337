"""Benchmark: ingest and validate N generated supporters, next to the floor of reading them.

    PYTHONPATH=plugins .venv/bin/python bench/ingest_bench.py --rows 1000000

The sample file is generated once per size and seed into ``bench/cache/`` (git-ignored).
Three timings, each the best of ``repeat`` runs in this process:

- ``floor``: a bare ``pyarrow.csv`` read of the same file, every column as text;
- ``ingest``: ``ingest_supporters`` with no suppression list;
- ``ingest_suppressed``: the same with a suppression list of 1,000 plain and 1,000 hashed
  entries (hashed entries make ingest hash every address once).

``run(rows)`` returns the numbers as a dict for the benchmark suite; nothing here asserts
on time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / "cache"
SEED = 42
REFERENCE = date(2026, 11, 24)

# This checkout's library, whichever copy the virtualenv has installed.
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

__all__ = ["run", "sample_file"]


def sample_file(rows: int, seed: int = SEED) -> Path:
    """The cached sample CSV of ``rows`` supporters (written on first use)."""
    from matinale.dev.sample import generate_supporters, write_supporters

    path = CACHE / f"supporters-{rows}-{seed}.csv"
    if not path.exists():
        write_supporters(generate_supporters(rows, seed), path)
    return path


def _suppression_file(sample: Path, rows: int) -> Path:
    """1,000 plain and 1,000 hashed e-mails from the sample, as an objector list would be."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    path = CACHE / f"suppression-{sample.stem}.txt"
    if not path.exists():
        emails = pa_csv.read_csv(sample, convert_options=pa_csv.ConvertOptions(include_columns=["email"], column_types={"email": pa.string()}))
        picked = [e for e in emails.column("email").to_pylist()[: max(4000, rows // 100)] if e][:2000]
        lines = picked[:1000] + [hashlib.sha256(e.lower().encode()).hexdigest() for e in picked[1000:]]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _best(repeat: int, call: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result


def _floor(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    with path.open("rb") as handle:
        names = handle.readline().decode().strip().replace('"', "").split(",")
    return pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types={name: pa.string() for name in names}))


def run(rows: int, *, repeat: int = 3, seed: int = SEED) -> dict[str, Any]:
    """Measure ingest of ``rows`` generated supporters and its floor; return the numbers."""
    from matinale.ingest import ingest_supporters
    from matinale.privacy import load_suppression

    path = sample_file(rows, seed)
    suppression = load_suppression(_suppression_file(path, rows))
    ingest_supporters(path, reference_date=REFERENCE)  # warm: commune table, phonenumbers import
    floor, _ = _best(repeat, lambda: _floor(path))
    plain, result = _best(repeat, lambda: ingest_supporters(path, reference_date=REFERENCE))
    suppressed, with_list = _best(repeat, lambda: ingest_supporters(path, reference_date=REFERENCE, suppression=suppression))
    return {
        "stage": "ingest",
        "rows": rows,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "floor_s": round(floor, 3),
        "ingest_s": round(plain, 3),
        "ingest_suppressed_s": round(suppressed, 3),
        "floor_rows_per_s": round(rows / floor),
        "ingest_rows_per_s": round(rows / plain),
        "ingest_suppressed_rows_per_s": round(rows / suppressed),
        "ratio_to_floor": round(plain / floor, 2),
        "ratio_to_floor_suppressed": round(suppressed / floor, 2),
        "counts": result.counts,
        "counts_suppressed": with_list.counts,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run(args.rows, repeat=args.repeat)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"ingest of {result['rows']:,} rows ({result['file_mb']} MB CSV), best of {args.repeat}:".replace(",", " "))
    for label, seconds, speed in (
        ("floor: pyarrow.csv read", result["floor_s"], result["floor_rows_per_s"]),
        ("ingest + validate", result["ingest_s"], result["ingest_rows_per_s"]),
        ("  with 2,000-entry suppression", result["ingest_suppressed_s"], result["ingest_suppressed_rows_per_s"]),
    ):
        print(f"  {label:<34}{seconds:>7.2f} s {speed:>12,} rows/s".replace(",", " "))
    print(f"  ratio to floor {result['ratio_to_floor']}× ({result['ratio_to_floor_suppressed']}× with suppression), peak RSS {result['peak_rss_mb']} MB")
    print(f"  counts {result['counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
