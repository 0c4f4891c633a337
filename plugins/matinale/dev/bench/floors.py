"""Floors: the bare library call each stage cannot go below, on this machine, on the same data.

A floor is timed after its imports and warm-up, so it measures the work only. Where the
operation spreads over cores by itself (Arrow's CSV reader, scikit-learn's KMeans) it does
so; where it does not, the floor uses what the machine offers: card encodes run on one
process per core, S3 uploads on a few threads. Jinja2 renders stay on one thread: a process
pool would cost more to start than the renders.

Each function returns ``{"seconds": ..., "what": ..., ...}``; ``what`` says in words what
was timed, for the report.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "S3_FLOOR_THREADS",
    "blank_encodes",
    "card_encodes",
    "cpu_count",
    "csv_read",
    "file_hashes",
    "jinja_renders",
    "kmeans_fit",
    "parquet_round_trip",
    "read_hash_write",
    "read_scan_hash",
    "s3_uploads",
]

S3_FLOOR_THREADS = 8
# A floor shorter than this is timed twice and the faster kept: short timings are noisy.
_SHORT = 1.0


def _best(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    if seconds < _SHORT:
        started = time.perf_counter()
        run()
        seconds = min(seconds, time.perf_counter() - started)
    return seconds


def file_hashes(paths: Iterable[Path]) -> dict[str, Any]:
    """SHA-256 of each file (what recording the inputs' checksums costs at least)."""
    files = [Path(p) for p in paths]

    def run() -> None:
        for path in files:
            with path.open("rb") as handle:
                hashlib.file_digest(handle, "sha256")

    size = sum(p.stat().st_size for p in files)
    return {
        "seconds": _best(run),
        "what": f"SHA-256 of the {len(files)} input files",
        "bytes": size,
    }


def csv_read(path: Path) -> dict[str, Any]:
    """A bare ``pyarrow.csv.read_csv`` of the supporter file, every column as text.

    Text, because that is how ingest must read it (codes keep their leading zeros), and it
    spares Arrow's type inference; Arrow uses all the threads it wants.
    """
    import csv

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    options = pa_csv.ConvertOptions(column_types={name: pa.string() for name in header})
    rows = 0

    def run() -> None:
        nonlocal rows
        rows = pa_csv.read_csv(path, convert_options=options).num_rows

    seconds = _best(run)
    return {
        "seconds": seconds,
        "what": "pyarrow.csv.read_csv of the same file, all text",
        "rows": rows,
        "bytes": Path(path).stat().st_size,
    }


def parquet_round_trip(data: bytes) -> dict[str, Any]:
    """Read a Parquet file's bytes into Arrow and write it back once, in memory."""
    import pyarrow.parquet as pq

    def run() -> None:
        table = pq.read_table(io.BytesIO(data))
        pq.write_table(table, io.BytesIO())

    return {
        "seconds": _best(run),
        "what": "pyarrow: read the valid supporters' Parquet and write it back",
        "bytes": len(data),
    }


def kmeans_fit(*, fit_rows: int, predict_rows: int, columns: int, k: int) -> dict[str, Any]:
    """One k-means++ fit (``n_init=1``) on ``fit_rows`` × ``columns``, then labels for ``predict_rows``.

    The matrix has ``k`` Gaussian clusters (``make_blobs``), so the fit converges like it
    does on real, clustered data; a uniform matrix would run to ``max_iter``. Timed on one
    thread and on all of them, the faster kept: on a busy 2-core machine OpenMP's threads
    can cost more than they give.
    """
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs
    from threadpoolctl import threadpool_limits

    k = max(1, min(k, fit_rows))
    fit, _ = make_blobs(n_samples=fit_rows, n_features=columns, centers=k, random_state=0)
    every, _ = make_blobs(n_samples=predict_rows, n_features=columns, centers=k, random_state=1)

    def run() -> None:
        model = KMeans(n_clusters=k, n_init=1, random_state=0).fit(fit)
        model.predict(every)

    all_threads = _best(run)
    with threadpool_limits(limits=1):
        one_thread = _best(run)
    return {
        "seconds": min(all_threads, one_thread),
        "one_thread_seconds": one_thread,
        "all_threads_seconds": all_threads,
        "what": f"sklearn KMeans fit (k={k}, n_init=1) on {fit_rows:,} × {columns}, predict {predict_rows:,}",
        "fit_rows": fit_rows,
        "predict_rows": predict_rows,
        "columns": columns,
        "k": k,
    }


_POST = (
    "{{ theme.title }} — {{ theme.key_message }}\n"
    "{{ framing }} {{ theme.call_to_action }} : {{ link }}\n"
    "{% for tag in theme.hashtags %}#{{ tag }} {% endfor %}"
)


def jinja_renders(posts: int) -> dict[str, Any]:
    """``posts`` renders of one compiled short-post template with a theme-shaped context.

    ``posts`` counts template renders: an e-mail post is three (subject, text, HTML).
    """
    from jinja2 import Environment

    template = Environment(autoescape=False).from_string(_POST)
    context = {
        "theme": {
            "title": "Pouvoir d'achat : des prix justes",
            "key_message": "Bloquer les prix de l'énergie pour les ménages modestes et revaloriser les petites retraites.",
            "call_to_action": "Signez la pétition",
            "hashtags": ["PouvoirDAchat", "EnsembleDemain"],
        },
        "framing": "Des solutions concrètes pour le quotidien.",
        "link": "https://ensemble-demain.example.org/pouvoir-achat?utm_source=matinale&utm_medium=x",
    }

    def run() -> None:
        for _ in range(posts):
            template.render(context)

    return {
        "seconds": _best(run),
        "what": f"{posts:,} bare Jinja2 renders of a short post (one thread)",
        "renders": posts,
    }


def _encode_blank(job: tuple[int, int, str, int, int]) -> int:
    """Worker: encode ``count`` blank images of ``width``×``height`` (top level: picklable)."""
    from PIL import Image

    width, height, fmt, quality, count = job
    image = Image.new("RGB", (width, height), (255, 255, 255))
    for _ in range(count):
        out = io.BytesIO()
        if fmt == "WEBP":
            image.save(out, format="WEBP", quality=quality, method=0)
        elif fmt == "PNG":
            image.save(out, format="PNG")
        else:
            image.save(out, format="JPEG", quality=quality, optimize=False)
    return count


def blank_encodes(
    sizes: dict[tuple[int, int, str], int], *, quality: int, workers: int
) -> dict[str, Any]:
    """Encode as many blank cards of each size and format as the stage made, on ``workers`` processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    total = sum(sizes.values())
    if total == 0:
        return {"seconds": 0.0, "what": "no card to encode", "cards": 0}
    workers = max(1, min(workers, total))
    jobs = []
    for (width, height, fmt), count in sorted(sizes.items()):
        share = math.ceil(count / workers)
        for start in range(0, count, share):
            jobs.append((width, height, fmt, quality, min(share, count - start)))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        # Start and warm every worker (imports, first encode) before the clock runs.
        list(pool.map(_encode_blank, [(64, 64, "JPEG", quality, 1)] * workers))
        started = time.perf_counter()
        done = sum(pool.map(_encode_blank, jobs))
        seconds = time.perf_counter() - started
    kinds = ", ".join(f"{count:,} {fmt} {w}×{h}" for (w, h, fmt), count in sorted(sizes.items()))
    return {
        "seconds": seconds,
        "what": f"Pillow encodes of blank cards ({kinds}) on {workers} processes",
        "cards": done,
        "workers": workers,
    }


_SAMPLES: dict[tuple[int, int], list[Any]] = {}


def _decode_samples(samples: dict[tuple[int, int], list[bytes]]) -> None:
    """Worker initializer: decode the night's sample cards to pixels, once per process."""
    from PIL import Image

    for size, files in samples.items():
        images = []
        for data in files:
            with Image.open(io.BytesIO(data)) as image:
                images.append(image.convert("RGB"))
        _SAMPLES[size] = images


def _encode_real(job: tuple[tuple[int, int], int, Any]) -> tuple[int, float]:
    """Worker: encode ``count`` cards of one size, cycling through its decoded samples;
    gives the count and the CPU seconds it took (comparable on a busy machine)."""
    from matinale.visuals.encode import encode_image

    size, count, encoder = job
    images = _SAMPLES[size]
    started = time.process_time()
    for index in range(count):
        encode_image(images[index % len(images)], encoder)
    return count, time.process_time() - started


def card_encodes(
    samples: dict[tuple[int, int], list[bytes]],
    counts: dict[tuple[int, int], int],
    *,
    encoder: Any,
    workers: int,
) -> dict[str, Any]:
    """Encode as many cards of each size as the stage made, from the night's own cards.

    ``samples`` are a few of the night's card files per size, decoded to pixels once per
    worker before the clock runs; each size's ``counts`` cards are then encoded from those
    pixels with the night's ``encoder`` (a :class:`matinale.visuals.Encoder`) on ``workers``
    processes. Real cards, not blank ones: a blank image compresses to nothing.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    total = sum(counts.values())
    if total == 0:
        return {"seconds": 0.0, "what": "no card to encode", "cards": 0}
    workers = max(1, min(workers, total))
    jobs = []
    for size, count in sorted(counts.items()):
        share = math.ceil(count / workers)
        for start in range(0, count, share):
            jobs.append((size, min(share, count - start), encoder))
    warm = [(size, 1, encoder) for size in sorted(counts)] * workers
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_decode_samples, initargs=(samples,)
    ) as pool:
        # Start every worker, decode its samples and encode once before the clock runs.
        list(pool.map(_encode_real, warm))
        started = time.perf_counter()
        results = list(pool.map(_encode_real, jobs))
        seconds = time.perf_counter() - started
    done = sum(count for count, _ in results)
    kinds = ", ".join(f"{count:,} {w}×{h}" for (w, h), count in sorted(counts.items()))
    sampled = sum(len(files) for files in samples.values())
    return {
        "seconds": seconds,
        "what": (
            f"Pillow encodes ({encoder.describe()}) of the night's cards ({kinds}, from "
            f"{sampled} decoded samples) on {workers} processes, "
            f"{sum(cpu for _, cpu in results):.1f} cpu s"
        ),
        "cards": done,
        "workers": workers,
        "cpu_seconds": sum(cpu for _, cpu in results),
    }


def read_hash_write(
    keys: list[str], read: Callable[[str], bytes], scratch: Path, *, write: bool = True
) -> dict[str, Any]:
    """Read each file, SHA-256 it and (if ``write``) write it once into ``scratch``."""
    scratch = Path(scratch)
    total = 0

    def run() -> None:
        nonlocal total
        total = 0
        for index, key in enumerate(keys):
            data = read(key)
            hashlib.sha256(data).digest()
            total += len(data)
            if write:
                (scratch / f"{index:06d}").write_bytes(data)

    scratch.mkdir(parents=True, exist_ok=True)
    seconds = _best(run)
    verb = "read, SHA-256 and write once" if write else "read and SHA-256"
    return {
        "seconds": seconds,
        "what": f"{verb} the bundle's {len(keys):,} files",
        "files": len(keys),
        "bytes": total,
    }


#: The floor's one precompiled pattern: the id-like tokens the PII scan looks up (runs of
#: letters, digits and ``_.-@+``, six or more, ending on a letter or digit).
_SCAN = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.@+-]{4,}[0-9A-Za-z]")
_SCANNED = (".html", ".json", ".md", ".txt", ".csv")


def read_scan_hash(keys: list[str], read: Callable[[str], bytes]) -> dict[str, Any]:
    """What the checks stage cannot go below: read and SHA-256 every file of the bundle,
    open the packs, and run one precompiled regex over each distinct text (files and zip
    members, decoded as UTF-8) once, as the checks scan each distinct text once."""
    texts = members = scanned = 0
    total = 0

    def run() -> None:
        nonlocal texts, members, scanned, total
        texts = members = scanned = total = 0
        seen: set[bytes] = set()
        pending: list[bytes] = []
        for key in keys:
            data = read(key)
            hashlib.sha256(data).digest()
            total += len(data)
            if key.endswith(_SCANNED):
                texts += 1
                pending.append(data)
            elif key.endswith(".zip"):
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    for info in archive.infolist():
                        if info.filename.endswith(_SCANNED):
                            members += 1
                            pending.append(archive.read(info))
            for text in pending:
                if text not in seen:
                    seen.add(text)
                    scanned += len(text)
                    _SCAN.findall(text.decode("utf-8", errors="replace"))
            pending.clear()

    seconds = _best(run)
    return {
        "seconds": seconds,
        "what": (
            f"read and SHA-256 the bundle's {len(keys):,} files, open the packs, and run one "
            f"precompiled regex over each distinct text ({texts:,} files, {members:,} zip "
            f"members, {scanned / 1e6:.1f} MB)"
        ),
        "files": len(keys),
        "bytes": total,
        "scanned_bytes": scanned,
    }


def s3_uploads(
    client: Any, bucket: str, prefix: str, files: list[tuple[str, bytes]]
) -> dict[str, Any]:
    """``put_object`` of every file (bytes already in memory) on ``S3_FLOOR_THREADS`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    threads = max(1, min(S3_FLOOR_THREADS, len(files)))

    def put(item: tuple[str, bytes]) -> None:
        name, data = item
        client.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=data)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(put, files[:threads]))  # open the connections before the clock runs
        started = time.perf_counter()
        list(pool.map(put, files))
        seconds = time.perf_counter() - started
    size = sum(len(data) for _, data in files)
    return {
        "seconds": seconds,
        "what": f"boto3 put_object of the bundle's {len(files):,} files ({size / 1e6:.1f} MB) on {threads} threads",
        "files": len(files),
        "bytes": size,
        "threads": threads,
    }


def delivery_write_upload(client: Any, bucket: str, key: str, csv_bytes: bytes) -> dict[str, Any]:
    """The delivery file's share of publish: Arrow writes its rows as CSV (the table already
    in memory, parsed from the file publish wrote) and the bytes go up in parts by publish's
    own ``delivery_stream._stream``. The joins that make the rows are left out: a floor, not
    a second publish."""
    import csv
    import io

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from matinale.publish.delivery_stream import _stream

    header = next(csv.reader(io.StringIO(csv_bytes[: csv_bytes.find(b"\n")].decode("utf-8-sig"))))
    options = pa_csv.ConvertOptions(column_types={name: pa.string() for name in header})
    table = pa_csv.read_csv(io.BytesIO(csv_bytes), convert_options=options)

    def run() -> None:
        sink = io.BytesIO()
        pa_csv.write_csv(table, sink)
        _stream(client, bucket, key, [sink.getvalue()])  # publish's own part-by-part upload

    seconds = _best(run)
    return {
        "seconds": seconds,
        "rows": table.num_rows,
        "bytes": len(csv_bytes),
    }


def cpu_count() -> int:
    """Cores this process may use (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def beta_draws(cells: int, angles: int, draws: int = 1000) -> dict[str, Any]:
    """The learn stage's core: ``draws`` joint Beta draws of ``angles`` posteriors for each
    of ``cells`` segment × theme cells, and the winner of each draw (one NumPy call)."""
    import numpy as np

    rng = np.random.default_rng(0)
    alpha = np.full((cells, angles, 1), 2.0)
    beta = np.full((cells, angles, 1), 60.0)

    def run() -> None:
        rng.beta(alpha, beta, size=(cells, angles, draws)).argmax(axis=1)

    return {
        "seconds": _best(run),
        "what": f"{cells:,} × {angles} Beta posteriors, {draws:,} joint draws each (NumPy)",
        "cells": cells,
    }
