"""The content stage's output, pinned: posts.json and posts.md of a realistic run, byte for byte.

``content_golden/`` holds the bench's brief (five themes, alternatives, a line per age band)
and nine segments: one per angle of framing.yaml from a real segmentation, and two
territorial packs. ``expected.json`` holds the SHA-256 of every file the stage wrote for
them, computed before the content stage was optimised. Any change to a post's text, its
order, its links, the similarity report or the JSON layout fails here; a deliberate change
must say why and update ``expected.json`` (``MATINALE_GOLDEN_UPDATE=1`` rewrites it).

The same bytes must come out whatever the order of the segments, however they are split
into batches and however many processes write them: nothing learnt on one segment may leak
into another's posts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from matinale.night import RunContext, run_content
from matinale.segment import Segment
from matinale.settings import Settings, load_settings
from matinale.store import LocalStore

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).parent / "content_golden"
EDITION = date(2026, 11, 24)
SEGMENTS = json.loads((GOLDEN / "segments.json").read_text(encoding="utf-8"))
IDS = [s["id"] for s in SEGMENTS["segments"]]
# What write_segments takes: the segments as segments_of reads them from segments.json.
TYPED = [Segment.from_json(s) for s in SEGMENTS["segments"]]


@pytest.fixture(scope="module")
def settings() -> Settings:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MATINALE_HOME", str(ROOT))
        return load_settings()


def _run(
    settings: Settings, tmp_path: Path, batches: list[list[str]]
) -> tuple[dict[str, str], list[dict]]:
    """Run the content stage on ``batches``; the SHA-256 of every file it wrote, and the summaries."""
    store = LocalStore(tmp_path / "work")
    ctx = RunContext(
        edition=EDITION,
        run="20261124T000000Z-gold",
        supporters_file="unused.csv",
        brief_file=str(GOLDEN / "brief.yaml"),
    )
    store.put_json(f"{ctx.prefix}/segments.json", SEGMENTS)
    summaries = [run_content(settings, store, ctx, batch) for batch in batches]
    prefix = len(ctx.bundle) + 1
    digests = {
        key[prefix:]: hashlib.sha256(store.get_bytes(key)).hexdigest()
        for key in store.list(ctx.bundle)
    }
    return digests, summaries


def _expected() -> dict:
    return json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))


def test_content_output_is_pinned(settings: Settings, tmp_path: Path) -> None:
    digests, (summary,) = _run(settings, tmp_path, [IDS])
    if os.environ.get("MATINALE_GOLDEN_UPDATE") == "1":  # a deliberate change of the posts
        document = {"summary": summary, "files": digests}
        (GOLDEN / "expected.json").write_text(
            json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
    expected = _expected()
    changed = sorted(
        name
        for name in expected["files"].keys() | digests.keys()
        if expected["files"].get(name) != digests.get(name)
    )
    assert not changed, f"the content stage's output changed: {changed}"
    assert summary == expected["summary"]


@pytest.mark.parametrize(
    "batches",
    [[IDS[::-1]], [[segment] for segment in IDS], [IDS[1::2], IDS[0::2]]],
    ids=["reversed", "one-per-batch", "interleaved"],
)
def test_content_output_ignores_segment_order_and_batches(
    settings: Settings, tmp_path: Path, batches: list[list[str]]
) -> None:
    digests, _ = _run(settings, tmp_path, batches)
    assert digests == _expected()["files"]


@pytest.mark.parametrize("workers", ["1", "2", "3"])
def test_content_output_ignores_the_number_of_workers(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    monkeypatch.setenv("MATINALE_CONTENT_WORKERS", workers)
    digests, (summary,) = _run(settings, tmp_path, [IDS])
    assert digests == _expected()["files"]
    assert summary == _expected()["summary"]


def test_an_error_fails_the_task_with_its_message_in_any_process(
    settings: Settings, tmp_path: Path
) -> None:
    from matinale.content import ContentError, FitError, PostWriter, load_brief, write_segments

    templates = tmp_path / "content_templates"
    shutil.copytree(
        ROOT / "content_templates", templates, ignore=shutil.ignore_patterns("fonts", "cards")
    )
    channels = templates / "channels.yaml"
    channels.write_text(
        channels.read_text(encoding="utf-8").replace("    limit: 280\n", "    limit: 60\n"),
        encoding="utf-8",
    )
    brief = load_brief(GOLDEN / "brief.yaml", EDITION, allowed_domains=settings.allowed_domains)

    def writer(templates_dir: Path) -> PostWriter:
        return PostWriter(
            brief,
            campaign=settings.campaign,
            channels=("x",),
            templates_dir=templates_dir,
            variants=settings.variants,
            allowed_domains=settings.allowed_domains,
        )

    with pytest.raises(FitError, match=r"segment \S+, channel x, theme \S+: does not fit"):
        list(
            write_segments(
                writer(templates),
                TYPED,
                date_text="mardi 24 novembre 2026",
                workers=2,
            )
        )
    # The pool takes segments from the back: a corrupt last segment fails in a worker.
    corrupt = [*TYPED, Segment(id="Not A Slug", kind="main")]
    with pytest.raises(ContentError, match="segment id 'Not A Slug' is not a slug"):
        list(
            write_segments(
                writer(ROOT / "content_templates"),
                corrupt,
                date_text="mardi 24 novembre 2026",
                workers=2,
            )
        )


def test_the_pool_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from matinale.content import content_workers

    monkeypatch.delenv("MATINALE_CONTENT_WORKERS", raising=False)
    # By default the cores this task may use, and one process for a small batch.
    assert (
        1 <= content_workers(200) <= 200 // 8
        and content_workers(9) == 1
        and content_workers(200, 2) == 2
    )
    monkeypatch.setenv("MATINALE_CONTENT_WORKERS", "3")
    assert content_workers(200) == 3 and content_workers(2) == 2
    monkeypatch.setenv("MATINALE_CONTENT_WORKERS", "cores")
    assert 1 <= content_workers(200) <= 200 // 8 and content_workers(9) == 1


def test_the_pool_hands_back_every_segment_once_when_its_feeder_ends_first(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_segments remembers, from one collect to the next, that the pool's feeder has ended.

    The pool here is threads of this process, and this process's first segment waits until
    the pool has written all the others: the feeder's last message is then read after that
    chunk, and the final wait must return at once (a flag forgotten between calls would wait
    forever for a message that never comes).
    """
    import concurrent.futures
    import threading
    import time

    from matinale.content import PostWriter, load_brief, pool, write_segments

    brief = load_brief(GOLDEN / "brief.yaml", EDITION, allowed_domains=settings.allowed_domains)
    writer = PostWriter.from_settings(brief, settings)
    date_text = "mardi 24 novembre 2026"
    expected = {
        files.segment: files
        for files in write_segments(writer, TYPED, date_text=date_text, workers=1)
    }
    pool_done = threading.Event()

    class Threads(concurrent.futures.ThreadPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            super().shutdown(wait=wait, cancel_futures=cancel_futures)
            pool_done.set()

    def threads(
        *, max_workers: int, mp_context: object, initializer: Callable[..., None], initargs: tuple
    ) -> Threads:
        return Threads(max_workers=max_workers, initializer=initializer, initargs=initargs)

    written = pool.segment_files

    def after_the_pool(writer: PostWriter, segment: dict, *, date_text: str) -> pool.SegmentFiles:
        if threading.current_thread() is reader:
            assert pool_done.wait(timeout=60), "the pool never finished"
            time.sleep(0.2)  # the feeder's last message follows the pool's shutdown
        return written(writer, segment, date_text=date_text)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", threads)
    monkeypatch.setattr(pool, "_pool_context", lambda: None)
    monkeypatch.setattr(pool, "segment_files", after_the_pool)
    monkeypatch.setattr(pool, "_WORKER", None)
    got: list[pool.SegmentFiles] = []
    reader = threading.Thread(
        target=lambda: got.extend(write_segments(writer, TYPED, date_text=date_text, workers=2)),
        daemon=True,
    )
    reader.start()
    reader.join(timeout=90)
    assert not reader.is_alive(), "write_segments kept waiting after the pool had finished"
    assert sorted(files.segment for files in got) == sorted(IDS)
    assert all(files == expected[files.segment] for files in got)


def test_workers_print_the_runs_short_links_too(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool's workers are made from the writer's spec: it carries the run's short links
    (without them a worker printed long links for the segments it wrote)."""
    import pickle

    from matinale.content import PostWriter, load_brief, pool, write_segments
    from matinale.links.short import RunLinks, ShortLinks

    brief = load_brief(GOLDEN / "brief.yaml", EDITION, allowed_domains=settings.allowed_domains)
    writer = PostWriter.from_settings(brief, settings)
    segments = list(TYPED)
    writer.short = ShortLinks(
        RunLinks.new("https://liens.example.org", "abc"),
        [s.id for s in segments],
        [t.id for t in brief.themes],
        sorted(writer.registry),
        list(writer.rules.angles),
    )
    date_text = "mardi 24 novembre 2026"
    alone = {
        f.segment: f.posts_json
        for f in write_segments(writer, segments, date_text=date_text, workers=1)
    }
    # What each pool worker does with the spec it is sent (pickled, as the pool sends it).
    monkeypatch.setattr(pool, "_WORKER", None)
    pool._init_worker(pickle.loads(pickle.dumps(writer.spec())), date_text)
    pooled = {f.segment: f.posts_json for f in pool._files_chunk(segments)}
    assert pooled == alone
    for body in pooled.values():
        posts = json.loads(body)["posts"]
        assert posts and all(p["link"].startswith("https://liens.example.org/s/abc") for p in posts)
