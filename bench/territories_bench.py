"""Benchmark hook: priority territories, 35,000 communes against 1M supporters (``matinale.dev.bench.territories``)."""

from matinale.dev.bench.territories import run  # noqa: F401  (make bench calls run())
