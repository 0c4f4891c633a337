"""The campaign simulator (issue 18, item 6): its JSON, the real writer, the policies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matinale.cli import main
from matinale.dev.bench.learn import learn_lines
from matinale.learn.simulate import make_world, simulate

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def small() -> dict:
    """Six nights of ten segments (100,000 supporters each): a few seconds."""
    return simulate(6, 10, 3, home=ROOT)


def test_simulator_reports_the_issue_shape_and_thompson_beats_uniform(small: dict) -> None:
    """Protects the loop: counts written through the service's writer, read back and learnt
    from each night, shift exposures to the angles that get shared."""
    policies = small["policies"]
    assert set(policies) == {"uniform", "explore_then_commit", "thompson"}
    for policy in policies.values():
        assert 0 < policy["share_of_oracle"] <= 1
    assert policies["thompson"]["share_of_oracle"] > policies["uniform"]["share_of_oracle"] + 0.1
    etc = policies["explore_then_commit"]
    assert etc["share_of_oracle"] == max(etc["by_test_nights"].values())
    assert set(etc["by_test_nights"]) == {"1", "2", "3", "4", "5"}
    assert 0 <= small["best_hour_accuracy"] <= 1
    json.dumps(small)  # plain JSON


def test_simulator_is_reproducible_from_its_seed(small: dict) -> None:
    """Protects: the same seed draws the same truths and gives the same report."""
    assert simulate(6, 10, 3, home=ROOT) == small


def test_world_has_at_least_three_angles_and_a_million_supporters() -> None:
    """Protects the hidden truths the issue specifies."""
    world = make_world(42, 200, ROOT / "content_templates", ROOT / "segments")
    assert len(world.segments) == 200
    assert world.sizes.sum() == pytest.approx(1_000_000, abs=200)
    assert all(len(angles) >= 3 for _, _, angles in world.groups)
    assert world.rates[world.present].mean() == pytest.approx(2 / 62, rel=0.1)
    assert set(world.segments.values()) == {"18-24", "25-34", "35-49", "50-64", "65plus"}


def test_simulate_command_prints_json(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    """Protects ``matinale simulate --json``: the issue's keys, nothing else on stdout."""
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    assert main(["simulate", "--nights", "2", "--segments", "5", "--seed", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["policies"]) == {"uniform", "explore_then_commit", "thompson"}
    assert (report["nights"], report["segments"], report["seed"]) == (2, 5, 1)
    assert "best_hour_accuracy" in report


def test_bench_lines_show_each_policy(small: dict) -> None:
    """Protects the bench's table: every policy's figure and the targets' verdict."""
    text = "\n".join(learn_lines({**small, "seconds": 3.2, "met": False}))
    for figure in (
        small["policies"]["uniform"]["share_of_oracle"],
        small["policies"]["thompson"]["share_of_oracle"],
    ):
        assert f"{figure:.3f}" in text
    assert "NOT met" in text
    assert learn_lines(None) == ["What the night learns: not measured."]
