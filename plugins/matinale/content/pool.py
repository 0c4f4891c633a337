"""Many segments on many cores: this process and a pool of others write segments' files."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from matinale.content.posts import PostWriter, SegmentFiles, segment_files

# Below this many segments per worker, a process costs more to start than it saves.
_MIN_SEGMENTS_PER_WORKER = 8


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def content_workers(segments: int, requested: int | None = None) -> int:
    """Processes to write ``segments``, this one included.

    ``requested``, else ``MATINALE_CONTENT_WORKERS`` (a number; ``1`` turns the pool off),
    else the cores this task may use, fewer for small batches (the pool's start, about half
    a second, is only won back over enough segments). Measured at 200 segments on 2 cores:
    3.8–4.6 s with two processes against 5.5–6.5 s with one.
    """
    chosen = (
        str(requested)
        if requested
        else os.environ.get("MATINALE_CONTENT_WORKERS", "").strip() or "cores"
    )
    if chosen == "cores":
        return max(1, min(_available_cores(), segments // _MIN_SEGMENTS_PER_WORKER))
    return max(1, min(int(chosen), segments))


_WORKER: tuple[PostWriter, str] | None = None


def _init_worker(spec: dict[str, Any], date_text: str) -> None:
    """Make the writer once per worker: rules read and templates compiled here, not per segment."""
    global _WORKER
    _WORKER = (PostWriter(**spec), date_text)


def _files_chunk(segments: Sequence[Mapping[str, Any]]) -> list[SegmentFiles]:
    assert _WORKER is not None, "worker used before _init_worker"
    writer, date_text = _WORKER
    return [segment_files(writer, segment, date_text=date_text) for segment in segments]


def _pool_context() -> Any:
    """Workers forked from a fresh server process that has imported Jinja2 and this module once.

    Not a plain fork: the parent may be an Airflow task process with threads and locks.
    Not spawn: each worker would import Jinja2 and YAML again.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["matinale.content", "matinale.store", "jinja2", "jinja2.sandbox", "yaml"]
    )
    return context


def write_segments(
    writer: PostWriter,
    segments: Sequence[Mapping[str, Any]],
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

    def take(*, back: bool) -> list[Mapping[str, Any]] | None:
        with lock:
            if not chunks:
                return None
            return chunks.pop() if back else chunks.popleft()

    def feed() -> None:
        """Keep the pool's workers busy with runs from the back; hand their files to ``done``."""
        from concurrent.futures import ProcessPoolExecutor

        try:
            pool = ProcessPoolExecutor(
                max_workers=count - 1,
                mp_context=_pool_context(),
                initializer=_init_worker,
                initargs=(writer.spec(), date_text),
            )
            try:
                window: deque[Any] = deque()
                while True:
                    while len(window) < 2 * (count - 1) and (chunk := take(back=True)) is not None:
                        window.append(pool.submit(_files_chunk, chunk))
                    if not window:
                        break
                    done.put((window.popleft().result(), None))
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
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
