"""Running the link service under uvicorn: one worker, no access log, the client address
taken from ``X-Forwarded-For`` only when the proxy in front is trusted
(``MATINALE_LINKS_TRUSTED_PROXIES``, default ``127.0.0.1``)."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

from matinale.links.app import Tuning, create_app
from matinale.links.counts import database_url
from matinale.s3types import S3Client
from matinale.settings import Settings

__all__ = ["server", "tuning_from_env"]


def tuning_from_env() -> Tuning:
    """``MATINALE_LINKS_RATE`` (requests a second per address) and ``MATINALE_LINKS_BURST``."""
    tuning = Tuning()
    rate = os.environ.get("MATINALE_LINKS_RATE")
    burst = os.environ.get("MATINALE_LINKS_BURST")
    if rate:
        tuning = replace(tuning, rate_per_second=float(rate))
    if burst:
        tuning = replace(tuning, burst=float(burst))
    return tuning


def server(
    settings: Settings,
    client: S3Client,
    *,
    host: str = "127.0.0.1",
    port: int = 8090,
    db_url: str | None = None,
    tuning: Tuning | None = None,
) -> Any:
    """A ``uvicorn.Server`` for the service (``.run()`` blocks; SIGTERM stops it cleanly,
    after a last flush of the counts)."""
    import uvicorn

    app = create_app(
        settings,
        client=client,
        db_url=db_url or database_url(settings.var_dir),
        tuning=tuning or tuning_from_env(),
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        access_log=False,  # an access log is a log of addresses and links
        log_config=None,
        log_level="info",
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("MATINALE_LINKS_TRUSTED_PROXIES", "127.0.0.1"),
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    return uvicorn.Server(config)
