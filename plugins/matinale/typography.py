"""Shim: moved to matinale.content.typography; removed once every import is updated."""

from matinale.content.typography import *  # noqa: F403
from matinale.content.typography import __all__  # noqa: F401
