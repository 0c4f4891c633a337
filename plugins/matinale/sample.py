"""Shim: moved to matinale.dev.sample; removed once every import is updated."""

from matinale.dev.sample import (
    COLUMNS,
    FICTION_PHONE_BLOCKS,
    INTERESTS,
    REFERENCE_DATE,
    generate_supporters,
    write_sample,
    write_supporters,
)

__all__ = [
    "COLUMNS",
    "FICTION_PHONE_BLOCKS",
    "INTERESTS",
    "REFERENCE_DATE",
    "generate_supporters",
    "write_sample",
    "write_supporters",
]
