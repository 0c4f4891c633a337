"""The night's processes allocate Arrow memory from jemalloc unless the operator chose."""

from __future__ import annotations

import os
import subprocess
import sys

_CHILD = (
    "import pyarrow as pa\n"
    "from matinale.night.run import make_store\n"
    "from matinale.settings import load_settings\n"
    "before = pa.default_memory_pool().backend_name\n"
    "make_store(load_settings())\n"
    "print(before, pa.default_memory_pool().backend_name)\n"
)


def _pools(tmp_path, **env: str) -> list[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"},
        "MATINALE_VAR": str(tmp_path),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=environment,
    )
    return done.stdout.split()


def test_the_nights_store_makes_arrow_allocate_from_jemalloc(tmp_path) -> None:
    # The pinned pyarrow wheel has jemalloc; a pyarrow without it keeps its default (and
    # this test asks for the allocator to be measured again).
    assert _pools(tmp_path) == ["mimalloc", "jemalloc"]


def test_an_operators_choice_of_pool_is_kept(tmp_path) -> None:
    assert _pools(tmp_path, ARROW_DEFAULT_MEMORY_POOL="system") == ["system", "system"]
