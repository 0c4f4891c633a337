"""Bench of what the night learns: ``matinale simulate`` at its defaults (30 nights, 200
segments sharing 1M supporters, seed 42, the campaign's ``learn:`` settings), timed.

``run()`` returns the simulator's report plus ``seconds`` and whether the issue's targets
are met (Thompson ≥ 0.90 of the oracle and ahead of explore-then-commit, uniform < 0.85);
:func:`learn_lines` writes its lines of the bench's text and README tables. The harness
calls it after the link service (not in ``--smoke``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["TARGET_THOMPSON", "TARGET_UNIFORM_BELOW", "bench_learn", "learn_lines", "run"]

TARGET_THOMPSON = 0.90
TARGET_UNIFORM_BELOW = 0.85


def run(
    nights: int = 30, segments: int = 200, seed: int = 42, home: Path | None = None
) -> dict[str, Any]:
    """Run the simulator once; its report, its run time and the targets."""
    from matinale.learn.simulate import simulate
    from matinale.settings import Learning, SettingsError, load_settings

    try:
        learning = load_settings(home / "campaign.yaml" if home else None).learning
    except SettingsError:
        learning = Learning()
    start = time.perf_counter()
    report = simulate(
        nights,
        segments,
        seed,
        editions=learning.editions,
        floor=learning.exploration_floor,
        k_min=learning.min_exposures,
        pooling=learning.pooling,
        home=home,
    )
    report["seconds"] = round(time.perf_counter() - start, 1)
    policies = report["policies"]
    thompson = policies["thompson"]["share_of_oracle"]
    report["met"] = (
        thompson >= TARGET_THOMPSON
        and thompson > policies["explore_then_commit"]["share_of_oracle"]
        and policies["uniform"]["share_of_oracle"] < TARGET_UNIFORM_BELOW
    )
    return report


def bench_learn(home: Path, *, out: Callable[[str], None] = print) -> dict[str, Any]:
    """:func:`run` for the harness, saying what it does first."""
    out("What the night learns: matinale simulate --nights 30 --segments 200 --seed 42")
    return run(home=home)


def learn_lines(learned: dict[str, Any] | None) -> list[str]:
    """The simulator's lines of the bench's text and README tables (``report["learn"]``)."""
    if not learned or "policies" not in learned:
        return ["What the night learns: not measured."]
    policies = learned["policies"]
    etc = policies["explore_then_commit"]
    accuracy = learned.get("best_hour_accuracy")
    settings = learned.get("settings") or {}
    return [
        f"**What the night learns** (`matinale simulate`: {learned['nights']} nights, "
        f"{learned['segments']} segments sharing {learned.get('supporters', 1_000_000):,} "
        f"supporters, seed {learned['seed']}, floor {settings.get('floor', 0.05):.0%}, "
        f"{settings.get('editions', '?')} editions read; {learned.get('seconds', '?')} s):",
        "",
        "| policy | share of the oracle's shares |",
        "|---|---:|",
        f"| uniform (today) | {policies['uniform']['share_of_oracle']:.3f} |",
        f"| explore then commit (best test length: {etc['test_nights']} nights) "
        f"| {etc['share_of_oracle']:.3f} |",
        f"| Thompson (the learner) | {policies['thompson']['share_of_oracle']:.3f} |",
        "",
        f"Send hour right for {accuracy:.0%} of segments. Target Thompson ≥ "
        f"{TARGET_THOMPSON:.2f} and ahead of explore-then-commit, uniform < "
        f"{TARGET_UNIFORM_BELOW:.2f}: {'met' if learned.get('met') else 'NOT met'}."
        if accuracy is not None
        else "Send hour: not measured.",
    ]
