"""Shim: moved to matinale.dev.local; removed once every import is updated."""

from matinale.cli import client_from_env
from matinale.dev.local import (
    airflow_env,
    fill_inbox,
    print_latest_links,
    run_demo,
    run_up,
    sample_brief_for,
)

__all__ = [
    "airflow_env",
    "client_from_env",
    "fill_inbox",
    "print_latest_links",
    "run_demo",
    "run_up",
    "sample_brief_for",
]
