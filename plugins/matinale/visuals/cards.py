"""What the night's visuals stage calls: every job's cards on a process pool, their file names.

Cards are rendered on all the task's cores by the task's process pool (:mod:`matinale.pool`,
used by :func:`render_cards`, sized by :func:`worker_count`); the workers adopt the parent's checked kit (:mod:`.draw` holds their
side). Output does not depend on the number of workers. :func:`render_card` draws one card
in-process.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from matinale.pool import pool_context, process_pool
from matinale.pool import worker_count as _pool_size
from matinale.visuals.draw import (
    CardJob,
    CardSink,
    RenderedCard,
    _draw,
    _encode,
    _init_worker,
    _render_chunk,
    _render_job,
    card_filename,
)
from matinale.visuals.errors import CardError
from matinale.visuals.kit import load_kit

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

__all__ = ["card_filename", "render_card", "render_cards", "worker_count"]


# Spawning a worker costs about as much as rendering this many cards in-process.
_MIN_CARDS_PER_WORKER = 48


def render_card(fields: Mapping[str, str], *, templates_dir: Path, format: str = "square") -> bytes:
    """Draw one card in-process and return its encoded bytes (tests, previews)."""
    kit = load_kit(templates_dir)
    if format not in kit.layouts:
        raise CardError(f"format {format!r} is not in brand.yaml cards.formats {list(kit.formats)}")
    return _encode(_draw(kit, kit.layouts[format], fields), kit)


def _pool_context() -> BaseContext | None:
    """Workers forked from a server process that has imported the renderer once."""
    return pool_context(["matinale.visuals", "PIL.Image", "PIL.ImageFont", "numpy", "segno"])


def worker_count(cards: int, requested: int | None = None) -> int:
    """Processes to render ``cards``: the cores this task may use, fewer for small batches.

    ``requested``, ``MATINALE_VISUALS_WORKERS`` or ``MATINALE_WORKERS`` overrides the core
    count (e.g. when several mapped tasks share a machine); a small batch still gets one
    process per ``_MIN_CARDS_PER_WORKER`` cards, whatever the count.
    """
    count = _pool_size(
        cards, per_worker=_MIN_CARDS_PER_WORKER, requested=requested, stage="visuals"
    )
    return min(count, max(1, cards // _MIN_CARDS_PER_WORKER))


def render_cards(
    jobs: Sequence[CardJob],
    *,
    templates_dir: Path,
    workers: int | None = None,
    formats: Sequence[str] | None = None,
    sink: CardSink | None = None,
) -> Iterator[RenderedCard]:
    """Render every job's cards, in job order, on a process pool sized to the cores.

    ``formats`` defaults to the brand kit's. The kit is loaded and checked here first, so a
    bad brand kit fails once, clearly, before any process starts. Output does not depend on
    the number of workers. With a ``sink`` (a store every worker can write to), each card's
    file and preview are written by the process that drew it, and the cards yielded carry
    no bytes (``written``).
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
            yield from _render_job(kit, job, formats, sink)
        return

    for name in formats:
        kit.base(name)  # drawn once here, handed to every worker with the kit
    with process_pool(
        count, _pool_context(), initializer=_init_worker, initargs=(kit, sink)
    ) as pool:
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
