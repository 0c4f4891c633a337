"""What the night's visuals stage calls: every job's cards on a process pool, their file names.

Cards are rendered on all the task's cores by a process pool (:func:`render_cards`, sized by
:func:`worker_count`); the workers adopt the parent's checked kit (:mod:`.draw` holds their
side). Output does not depend on the number of workers. :func:`render_card` draws one card
in-process.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from matinale.visuals.draw import (
    CardJob,
    RenderedCard,
    _draw,
    _encode,
    _init_worker,
    _render_chunk,
    _render_job,
)
from matinale.visuals.errors import CardError
from matinale.visuals.kit import CardKit, load_kit

__all__ = ["card_filename", "render_card", "render_cards", "worker_count"]


# Spawning a worker costs about as much as rendering this many cards in-process.
_MIN_CARDS_PER_WORKER = 48


def render_card(fields: Mapping[str, str], *, templates_dir: Path, format: str = "square") -> bytes:
    """Draw one card in-process and return its encoded bytes (tests, previews)."""
    kit = load_kit(templates_dir)
    if format not in kit.layouts:
        raise CardError(f"format {format!r} is not in brand.yaml cards.formats {list(kit.formats)}")
    return _encode(_draw(kit, kit.layouts[format], fields), kit)


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _pool_context() -> Any:
    """Workers forked from a fresh server process that has imported the renderer once.

    Not a plain fork: the parent may be an Airflow task process with threads and locks.
    Not spawn: each worker would import Pillow, numpy and segno again.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["matinale.visuals", "PIL.Image", "PIL.ImageFont", "numpy", "segno"]
    )
    return context


def worker_count(cards: int, requested: int | None = None) -> int:
    """Processes to render ``cards``: the cores this task may use, fewer for small batches.

    ``MATINALE_VISUALS_WORKERS`` overrides the core count (e.g. when several mapped tasks
    share a machine).
    """
    cores = (
        requested or int(os.environ.get("MATINALE_VISUALS_WORKERS", "0") or 0) or _available_cores()
    )
    return max(1, min(cores, cards // _MIN_CARDS_PER_WORKER))


def render_cards(
    jobs: Sequence[CardJob],
    *,
    templates_dir: Path,
    workers: int | None = None,
    formats: Sequence[str] | None = None,
) -> Iterator[RenderedCard]:
    """Render every job's cards, in job order, on a process pool sized to the cores.

    ``formats`` defaults to the brand kit's. The kit is loaded and checked here first, so a
    bad brand kit fails once, clearly, before any process starts. Output does not depend on
    the number of workers.
    """
    kit = load_kit(templates_dir)
    formats = tuple(formats or kit.formats)
    unknown = [name for name in formats if name not in kit.layouts]
    if unknown:
        raise CardError(
            f"formats {unknown} are not in brand.yaml cards.formats {list(kit.formats)}"
        )
    keys = [(job.segment, job.theme) for job in jobs]
    if len(set(keys)) != len(keys):
        raise CardError(
            "two card jobs share a segment and theme: their files would overwrite each other"
        )
    count = worker_count(len(jobs) * len(formats), workers)
    if count <= 1:
        for job in jobs:
            yield from _render_job(kit, job, formats)
        return

    from concurrent.futures import ProcessPoolExecutor

    for name in formats:
        kit.base(name)  # drawn once here, handed to every worker with the kit
    pool = ProcessPoolExecutor(
        max_workers=count,
        mp_context=_pool_context(),
        initializer=_init_worker,
        initargs=(kit,),
    )
    try:
        size = max(1, min(8, math.ceil(len(jobs) / (count * 8))))
        chunks = iter([jobs[start : start + size] for start in range(0, len(jobs), size)])
        # A bounded window of chunks in flight: results wait in memory only while the
        # caller uploads, and never more than a few per worker.
        pending = deque(
            pool.submit(_render_chunk, chunk, formats) for chunk in islice(chunks, count * 4)
        )
        while pending:
            cards = pending.popleft().result()
            following = next(chunks, None)
            if following is not None:
                pending.append(pool.submit(_render_chunk, following, formats))
            yield from cards
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def card_filename(theme: str, format: str, kit: CardKit) -> str:
    """``cards/<theme>-<format>.<ext>`` inside the segment's folder."""
    return f"cards/{theme}-{format}.{kit.extension}"
