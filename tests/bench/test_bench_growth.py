"""The bench flags a stage whose peak memory grows faster than its input (issue 21 item 6).

Pure arithmetic on made-up figures: no stage runs here, nothing is timed."""

from __future__ import annotations

import pytest

from matinale.dev.bench import render
from matinale.dev.bench import report as reporting


@pytest.mark.parametrize(
    ("rows", "input_ratio", "mib", "flag"),
    [
        ((1_000_000, 3_000_000), 3.0, (2279.0, 2322.0), False),  # flat: publish streamed
        ((1_000_000, 3_000_000), 3.0, (1077.0, 2595.0), False),  # with the rows, 759 MiB/M
        ((1_000_000, 3_000_000), 3.0, (1000.0, 3500.0), True),  # 1,250 MiB per million rows
        ((100_000, 1_000_000), 10.0, (100.0, 1400.0), True),  # ×14 for ×10: faster than input
        ((1_000_000, 3_000_000), 1.0, (600.0, 900.0), True),  # same cards, half more memory
        ((1_000_000, 3_000_000), 1.0, (400.0, 440.0), False),  # same cards, noise
    ],
)
def test_memory_step_flags_memory_growing_faster_than_input(
    rows: tuple[int, int], input_ratio: float, mib: tuple[float, float], flag: bool
) -> None:
    """Protects the growth flag: a stage whose peak grows faster than what it reads, or by
    more than 1 GiB per million supporters, is named with its figure."""
    step = reporting.memory_step(*rows, input_ratio, *mib)
    assert step["memory_flag"] is flag
    if flag:
        assert "MiB per million rows" in step["memory_note"]


def _run(rows: int, peak: float) -> dict:
    stage = {
        "stage": "publish",
        "ok": True,
        "unit": "rows",
        "input": rows,
        "seconds": rows / 100_000,
        "peak_mib": peak,
    }
    return {"rows": rows, "stages": [stage]}


def test_scaling_table_names_a_stage_whose_memory_outgrows_its_input() -> None:
    """Protects the report: the memory flag reaches the scaling table (time alone grows
    linearly here, so only memory can flag it)."""
    runs = [_run(1_000_000, 1000.0), _run(3_000_000, 4000.0)]
    scaling = reporting.scaling(runs)
    (publish,) = scaling["stages"]
    assert publish["memory_flagged"] and not publish["flagged"]
    assert publish["steps"][0]["mib_per_million_rows"] == 1500.0
    _, rows = render._scaling_rows({"runs": runs, "scaling": scaling})
    assert rows[0][-1] == "FASTER THAN INPUT (memory)"
    assert "+1,500 MiB/M" in rows[0][-2]
