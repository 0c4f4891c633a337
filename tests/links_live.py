"""The link service under a real uvicorn on 127.0.0.1, in a thread: how every server test
starts it (tests/links, the nightly end-to-end test, the live-beacon browser test)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from matinale.links import Tuning
from matinale.links.serve import server
from matinale.settings import LinkService, Settings, load_settings

__all__ = ["free_port", "link_settings", "live_service"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def link_settings(bucket: str) -> Settings:
    """The project's settings with the bundle and link state in ``bucket``, counts kept."""
    return replace(
        load_settings(),
        bundle_bucket=bucket,
        link_service=LinkService(state_bucket=bucket, counts_retention_days=100_000),
    )


@contextlib.contextmanager
def live_service(
    settings: Settings, client: Any, *, port: int, db_url: str, rate: float = 1000
) -> Iterator[str]:
    """Serve until the block ends (then a clean shutdown: counts flushed); yields the base URL."""
    uv = server(
        settings, client, port=port, db_url=db_url, tuning=Tuning(rate_per_second=rate, burst=rate)
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    try:
        while not uv.started:
            assert time.monotonic() < deadline, "the link service did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=15)
