"""Many segments on many cores: this process and a pool of others write segments' files.

The pool is the task's one pool of :mod:`matinale.pool` (sizing, forkserver, workers
initialised once); this module decides what each process writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from matinale.content.posts import PostWriter, SegmentFiles, segment_files
from matinale.pool import pool_context, process_pool, worker_count
from matinale.segment import Segment

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

# Below this many segments per worker, a process costs more to start than it saves.
_MIN_SEGMENTS_PER_WORKER = 8


def content_workers(segments: int, requested: int | None = None) -> int:
    """Processes to write ``segments``, this one included.

    ``requested``, else ``MATINALE_CONTENT_WORKERS`` or ``MATINALE_WORKERS`` (a number;
    ``1`` turns the pool off), else the cores this task may use, fewer for small batches
    (the pool's start is only won back over enough segments; README, "How fast the night
    is", has the measured gain).
    """
    return worker_count(
        segments, per_worker=_MIN_SEGMENTS_PER_WORKER, requested=requested, stage="content"
    )


_WORKER: tuple[PostWriter, str] | None = None


def _init_worker(spec: dict[str, Any], date_text: str) -> None:
    """Make the writer once per worker: rules read and templates compiled here, not per segment."""
    global _WORKER
    _WORKER = (PostWriter(**spec), date_text)


def _files_chunk(segments: Sequence[Segment]) -> list[SegmentFiles]:
    assert _WORKER is not None, "worker used before _init_worker"
    writer, date_text = _WORKER
    return [segment_files(writer, segment, date_text=date_text) for segment in segments]


def _pool_context() -> BaseContext | None:
    """Workers forked from a server process that has imported Jinja2 and this package once."""
    return pool_context(["matinale.content", "matinale.store", "jinja2", "jinja2.sandbox", "yaml"])


def write_segments(
    writer: PostWriter,
    segments: Sequence[Segment],
    *,
    date_text: str,
    workers: int | None = None,
) -> Iterator[SegmentFiles]:
    """The files of every segment, written by this process and a pool of others, as they come.

    ``date_text`` is the edition as posts.md headings write it. ``workers`` counts the
    processes that write, this one included (see :func:`content_workers`). The writer is
    made (brief, rules and templates checked) by the caller, so a bad template fails once,
    before any process starts. A segment's files depend on that segment only: the bytes do
    not depend on the number of workers nor on which process wrote which segment; only the
    order in which files come back does.

    This process does not wait for the pool to start (a new interpreter importing Jinja2,
    about half a second): it writes segments from the front of the list while the pool,
    fed by a thread, takes runs from the back. Each process thus works on neighbouring
    segments (same bands, mostly the same angles), which its text caches serve best.
    """
    segments = list(segments)
    count = content_workers(len(segments), workers)
    if count <= 1:
        for segment in segments:
            yield segment_files(writer, segment, date_text=date_text)
        return

    import queue
    import threading
    from collections import deque

    size = max(1, -(-len(segments) // (count * _CHUNKS_PER_WORKER)))
    chunks = deque(segments[start : start + size] for start in range(0, len(segments), size))
    lock = threading.Lock()
    done: queue.SimpleQueue[tuple[list[SegmentFiles] | None, BaseException | None]] = (
        queue.SimpleQueue()
    )

    def take(*, back: bool) -> list[Segment] | None:
        with lock:
            if not chunks:
                return None
            return chunks.pop() if back else chunks.popleft()

    def feed() -> None:
        """Keep the pool's workers busy with runs from the back; hand their files to ``done``."""
        try:
            with process_pool(
                count - 1,
                _pool_context(),
                initializer=_init_worker,
                initargs=(writer.spec(), date_text),
            ) as pool:
                window: deque[Any] = deque()
                while True:
                    while len(window) < 2 * (count - 1) and (chunk := take(back=True)) is not None:
                        window.append(pool.submit(_files_chunk, chunk))
                    if not window:
                        break
                    done.put((window.popleft().result(), None))
        except BaseException as exc:  # handed to the caller's thread, raised there
            done.put((None, exc))
        finally:
            done.put((None, None))  # the feeder has finished

    # True until the feeder's last message: shared by every call of collect().
    feeding = True

    def collect(*, wait: bool) -> Iterator[SegmentFiles]:
        nonlocal feeding
        while feeding:
            try:
                files, error = done.get(block=wait)
            except queue.Empty:
                return
            if error is not None:
                raise error
            if files is None:
                feeding = False
                return
            yield from files

    feeder = threading.Thread(target=feed, name="matinale-content-pool", daemon=True)
    feeder.start()
    try:
        while (chunk := take(back=False)) is not None:
            for segment in chunk:
                yield segment_files(writer, segment, date_text=date_text)
            yield from collect(wait=False)
        yield from collect(wait=True)
    finally:
        with lock:
            chunks.clear()  # on an error here, the pool gets nothing more
        feeder.join()


_CHUNKS_PER_WORKER = 8
