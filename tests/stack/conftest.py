"""The stack test runs in the background of ``make test`` (``scripts/test-suite.sh``): a
background job of a script starts with SIGINT ignored, and the script's trap on Ctrl-C sends it
SIGTERM. Both stop it like Ctrl-C in the foreground would: as a KeyboardInterrupt, so the stack
it started (PostgreSQL, Redis, SeaweedFS, Airflow) is stopped by its own teardown rather than
left running."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pytest


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(autouse=True, scope="session")
def _signals_interrupt() -> Iterator[None]:
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)
