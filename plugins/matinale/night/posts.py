"""The content stage: the posts of a batch of segments, and how segments are split into
batches for dynamic task mapping.

``run_content`` is a stage of ``matinale.night.STAGES`` (re-exported there); it reads the
run's ``learned.json`` when the ``learn`` stage wrote one (angles sent first in direct
messages, page weights, channel order). Nothing here imports Airflow.
"""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from matinale.night.learning import learned_of
from matinale.night.run import NightError, RunContext, segments_of, short_links
from matinale.settings import Settings
from matinale.store import Store

__all__ = ["plan_batches", "run_content"]

log = logging.getLogger(__name__)


def plan_batches(
    store: Store,
    ctx: RunContext,
    *,
    per_core: int = 1,
    cores: int = 2,
    only: list[str] | None = None,
) -> list[list[str]]:
    """Split the segments into ``per_core`` batches per core for dynamic task mapping.

    One per core: each batch's task already spreads its segments over a process pool of
    every core it may use, so more batches add task starts, pools and oversubscription
    (content and visuals map over the same batches at once), not parallelism.
    """
    ids = [s.id for s in segments_of(store, ctx) if not only or s.id in only]
    if not ids:
        return []
    count = min(len(ids), max(1, per_core * cores))
    size = math.ceil(len(ids) / count)
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def run_content(
    settings: Settings, store: Store, ctx: RunContext, batch: list[str]
) -> dict[str, Any]:
    """Posts of each segment of ``batch``: ``<segment>/posts.json`` and ``posts.md`` in the bundle."""
    from matinale.bundle import french_date
    from matinale.content import PostWriter, load_brief, write_segments

    brief = load_brief(Path(ctx.brief_file), ctx.edition, allowed_domains=settings.allowed_domains)
    writer = PostWriter.from_settings(brief, settings)
    writer.short = short_links(
        store,
        ctx,
        [t.id for t in brief.themes],
        sorted(writer.registry),
        list(writer.rules.angles),  # numbered in sorted order by short_links
    )
    learned = learned_of(store, ctx)
    if learned is not None:
        writer.learned = learned["segments"]
    by_id = {s.id: s for s in segments_of(store, ctx)}
    missing = [s for s in batch if s not in by_id]
    if missing:
        raise NightError(
            f"segments {missing} are not in segments.json of this run; rerun the segment stage"
        )
    posts = shortened = rejected = fewer = 0
    similarities: list[float] = []
    # Segments render in this process and a pool of others (one per core; MATINALE_CONTENT_WORKERS);
    # a thread stores the files meanwhile, so rendering never waits for the disk or S3.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="matinale-content-store") as storing:
        stored: deque[Future[None]] = deque()
        for files in write_segments(
            writer, [by_id[s] for s in batch], date_text=french_date(brief.edition)
        ):
            stored.append(
                storing.submit(
                    store.put_bytes, f"{ctx.bundle}/{files.segment}/posts.json", files.posts_json
                )
            )
            stored.append(
                storing.submit(
                    store.put_bytes, f"{ctx.bundle}/{files.segment}/posts.md", files.posts_md
                )
            )
            while stored and stored[0].done():
                stored.popleft().result()  # a failed write fails the task now
            posts += files.posts
            shortened += files.shortened
            for variants, rejected_here, most in files.similarity:
                rejected += rejected_here
                fewer += variants < settings.variants
                similarities.append(most)
        for future in stored:
            future.result()
    summary = {
        "segments": len(batch),
        "posts": posts,
        "shortened": shortened,
        "variants_rejected_as_similar": rejected,
        "fewer_variants_than_asked": fewer,
        "max_similarity": max(similarities, default=0.0),
    }
    log.info("Content: %s", json.dumps(summary))
    if fewer:
        log.warning(
            "Content: %d theme × channel pairs got fewer than %d variants (too similar to publish apart); "
            "posts.md shows which; add openers or call-to-action intros in content_templates/framing.yaml",
            fewer,
            settings.variants,
        )
    return summary
