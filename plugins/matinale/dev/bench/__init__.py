"""The night's benchmark: how fast each stage is, how it grows, how close to the machine's limit.

``make bench`` runs ``python -m matinale.dev.bench run``: it generates (and caches) sample
supporter files, builds a bench copy of the project's settings giving ~200 segments and a
5-theme brief (3,000 cards with three card formats), starts a local SeaweedFS, and then for
each size runs every stage of ``matinale.night`` in its own process (time, CPU time, peak
memory), measures each stage's *floor* on the same data (the bare library call the stage
cannot go below on this machine), runs the same night once through Airflow (``dag.test()``)
and writes a JSON report to ``bench/results/``. ``--smoke`` does the same on 10,000 rows
and a few cards, for ``make test``.

Modules: ``workspace`` (inputs and the bench copy of the settings), ``probe`` (child
processes and their memory), ``child`` (what runs inside them: stages, floors, Airflow),
``floors`` (the bare operations), ``links`` (the link service: redirects/s, p50/p99,
counts after a SIGTERM), ``report`` (scaling, targets, schema check), ``labels`` (how
numbers are written), ``render`` (tables, README section), ``harness`` (the whole run).
"""

from __future__ import annotations

from matinale.dev.bench.harness import BenchOptions, run_bench
from matinale.dev.bench.render import render_markdown, render_text
from matinale.dev.bench.report import check_report

__all__ = ["BenchOptions", "check_report", "render_markdown", "render_text", "run_bench"]
