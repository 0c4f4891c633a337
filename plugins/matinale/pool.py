"""The one process pool every stage with worker processes goes through.

One pool per task, sized to the cores this task may use (``os.process_cpu_count()``, else
the CPU affinity), or to ``MATINALE_<STAGE>_WORKERS`` / ``MATINALE_WORKERS`` (a number of
processes, ``1`` turns the pool off, ``cores`` the default). A small batch gets one process:
starting a worker costs more than it saves. Workers are forked from a fresh forkserver
process that has imported the stage's modules once, and each is initialised once (a
writer, a brand kit) rather than per item.

Threads (publish's uploads, content's storing thread) are not pools of this kind: they stay
where they are.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.context import BaseContext

__all__ = ["WORKERS_ENV", "available_cores", "pool_context", "process_pool", "worker_count"]

#: Processes for every stage of a task; ``MATINALE_<STAGE>_WORKERS`` wins for its stage.
WORKERS_ENV = "MATINALE_WORKERS"


def available_cores() -> int:
    """The cores this process may run on: its affinity (and cgroup on Python 3.13+), not the machine's."""
    counted = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counted is not None:
        return int(counted() or 1)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _chosen(stage: str | None) -> tuple[str, str]:
    """The override in force: (variable, value); ``cores`` when none is set."""
    names = ([f"MATINALE_{stage.upper()}_WORKERS"] if stage else []) + [WORKERS_ENV]
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return WORKERS_ENV, "cores"


def worker_count(
    items: int,
    *,
    per_worker: int,
    requested: int | None = None,
    stage: str | None = None,
) -> int:
    """Processes for ``items`` items of work (at least 1, never more than the items).

    ``requested``, else ``MATINALE_<STAGE>_WORKERS``, else ``MATINALE_WORKERS``: a number of
    processes, taken as it is. Else (or ``cores``, or ``0``) the cores this task may use,
    fewer for a small batch: one process per ``per_worker`` items, since a worker's start (a
    new interpreter, its imports) is only won back over that many.
    """
    if requested:
        return max(1, min(requested, items))
    name, value = _chosen(stage)
    count = 0 if value == "cores" else _number(name, value)
    if count == 0:
        return max(1, min(available_cores(), items // per_worker))
    return max(1, min(count, items))


def _number(name: str, value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        # Imported here: the workers' preloaded modules need no YAML nor pydantic.
        from matinale.yamlfile import ConfigError

        raise ConfigError(
            f"{name}={value!r}: use a number of processes (1 turns the pool off) or 'cores'"
        )
    return count


def pool_context(preload: Sequence[str]) -> BaseContext:
    """Workers forked from a fresh server process that has imported ``preload`` once.

    Not a plain fork: the parent may be an Airflow task process with threads and locks.
    Not spawn: each worker would import Jinja2, Pillow or numpy again. (The forkserver is
    started once per process: the first pool's ``preload`` is the one it keeps.)
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context


@contextmanager
def process_pool(
    workers: int,
    context: BaseContext | None,
    *,
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` processes from ``context`` (see :func:`pool_context`), each
    initialised once by ``initializer(*initargs)``; shut down on leaving, pending work
    cancelled (an error raised here stops the pool at once)."""
    import concurrent.futures

    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=initializer, initargs=initargs
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
