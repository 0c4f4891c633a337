"""The ``matinale simulate`` command (added to the CLI by :func:`add_commands`).

Runs :func:`matinale.learn.simulate.simulate` with the campaign's ``learn:`` settings
(editions read, exploration floor, k-anonymity floor, pooling) and prints each policy's
share of the oracle, or ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["add_commands"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number, e.g. 30") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")


def _cmd_simulate(args: argparse.Namespace) -> int:
    from matinale.learn.simulate import simulate
    from matinale.settings import Learning, SettingsError, load_settings

    try:
        settings = load_settings()
        learning, home = settings.learning, settings.home
    except SettingsError:
        learning, home = Learning(), Path.cwd()
    start = time.perf_counter()
    report = simulate(
        args.nights,
        args.segments,
        args.seed,
        editions=learning.editions,
        floor=learning.exploration_floor,
        k_min=learning.min_exposures,
        pooling=learning.pooling,
        home=home,
        progress=None if args.json else lambda line: print(line, file=sys.stderr, flush=True),
    )
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    policies = report["policies"]
    etc = policies["explore_then_commit"]
    print(
        f"Campagne simulée : {args.segments} segments, {args.nights} nuits, graine {args.seed} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    print("Part des partages de l’oracle (qui montre toujours le meilleur angle) :")
    print(f"  uniforme (aujourd’hui)          {_percent(policies['uniform']['share_of_oracle'])}")
    print(
        f"  tester puis choisir ({etc['test_nights']} nuit(s))  {_percent(etc['share_of_oracle'])}"
    )
    print(
        f"  Thompson (ce que la nuit apprend) {_percent(policies['thompson']['share_of_oracle'])}"
    )
    print(f"Heure d’envoi juste : {_percent(report['best_hour_accuracy'])} des segments")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``matinale simulate`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "simulate",
        help="simulated campaign: what learning the angles gains over uniform variants",
    )
    parser.add_argument("--nights", type=_positive, default=30, help="nights (default 30)")
    parser.add_argument(
        "--segments", type=_positive, default=200, help="segments sharing 1M supporters (200)"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the hidden truths (42)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=_cmd_simulate)
