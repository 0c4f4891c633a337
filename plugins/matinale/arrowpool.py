"""Which allocator Arrow uses in the night's processes.

pyarrow allocates from mimalloc by default. In a fresh process, as every Airflow task is,
its first large allocations cost about twice what jemalloc's do here: reading the 1M-row
supporter file took 2.2 s with mimalloc against 1.1 s with jemalloc or the system
allocator, the same call in the same process taking 0.6–0.9 s once the memory was there
(measured on the bench machine, pyarrow 26; ``make bench`` shows the effect per stage).
So the night asks for jemalloc when this pyarrow has it. An operator's own choice in
``ARROW_DEFAULT_MEMORY_POOL`` (read by pyarrow at import) is left alone.
"""

from __future__ import annotations

import os

__all__ = ["use_night_pool"]


def use_night_pool() -> str:
    """Make jemalloc Arrow's default pool (unless ``ARROW_DEFAULT_MEMORY_POOL`` chose one,
    or this pyarrow lacks it); the backend now in use."""
    import pyarrow as pa

    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:  # a pyarrow built without jemalloc: keep its default
            pass
    return str(pa.default_memory_pool().backend_name)
