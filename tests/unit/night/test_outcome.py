"""The night's outcome without Airflow: the publication decision, the status record's state,
the tasks' states in night order, and the counts the record keeps."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from matinale.night import STAGES, TASKS
from matinale.night.outcome import counts, decide, only_segments, outcome, task_states, total
from matinale.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
PARIS = ZoneInfo("Europe/Paris")
CTX = {"edition": "2026-11-24", "run": "20261124T000000Z-abcd"}


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    return load_settings()


def test_outcome_of_the_night() -> None:
    ok = {"gate": "success", "approval": "success"}
    go = {"publish": True, "status": "publish", "reason": "ok"}
    assert outcome({**ok, "publish": "success"}, go, None, None, {})[0] == "published"
    state, reason, _ = outcome(
        {"wait_for_brief": "failed", "prepare": "upstream_failed"}, None, None, None, {}
    )
    assert state == "failed" and "wait_for_brief" in reason and "prepare" not in reason
    frozen = {"publish": False, "status": "frozen", "reason": "Silence électoral …"}
    assert outcome({"gate": "success", "publish": "skipped"}, frozen, None, None, {}) == (
        "skipped",
        "Silence électoral …",
        "frozen",
    )
    rejected = outcome(
        {**ok, "publish": "skipped"},
        go,
        {"chosen": ["Reject"], "by": "Claire", "timed_out": False},
        None,
        {},
    )
    assert rejected == (
        "rejected",
        "Publication refusée par Claire ; rien n'est publié",
        "rejected",
    )
    timeout = outcome(
        {**ok, "publish": "skipped"},
        go,
        {"chosen": ["Reject"], "by": None, "timed_out": True},
        None,
        {},
    )
    assert (
        timeout[0] == "rejected" and timeout[2] == "timeout" and "n'est pas publiée" in timeout[1]
    )


def test_an_approved_night_the_law_stopped_at_publish_time(settings: Settings) -> None:
    approved = {"gate": "success", "approval": "success", "publish": "skipped"}
    go = {"publish": True, "status": "publish", "reason": "ok"}
    answer = {"chosen": ["Approve"], "by": "Claire", "timed_out": False}
    # Two days later, the scheduled edition is stale: publish said no, and the record says why.
    late = outcome(
        approved,
        go,
        answer,
        CTX,
        {},
        settings=settings,
        now=datetime(2026, 11, 26, 3, 0, tzinfo=PARIS),
    )
    assert late[0] == "skipped" and late[2] == "stale"
    # Still allowed now: the night is not over yet as far as the record can tell.
    on_time = outcome(
        approved,
        go,
        answer,
        CTX,
        {},
        settings=settings,
        now=datetime(2026, 11, 24, 3, 0, tzinfo=PARIS),
    )
    assert on_time == ("running", "En cours", None)


def test_a_partial_run_is_never_published(settings: Settings) -> None:
    now = datetime(2026, 11, 24, 3, 0, tzinfo=PARIS)
    assert decide(CTX, {"segments": []}, now, settings).publish
    partial = decide(CTX, {"segments": ["65plus-p03"]}, now, settings)
    assert (partial.publish, partial.status) == (
        False,
        "partial",
    ) and "65plus-p03" in partial.reason
    assert (
        decide(CTX, {"segments": ["65plus-p03"], "dry_run": True}, now, settings).status
        == "dry_run"
    )
    assert (
        only_segments({"segments": ["", "65plus-p03"]}) == ["65plus-p03"]
        and only_segments(None) == []
    )


def test_task_states_keep_the_worst_instance_in_night_order() -> None:
    raw = {
        "record": "running",
        "publish": "skipped",
        "visuals_1": "failed",
        "visuals_0": "success",
        "content_0": "success",
        "content_1": "skipped",
        "prepare": "success",
        "wait_for_brief": "success",
        "cleanup": "success",  # a task the night does not know keeps its state, last
    }
    task_ids = {"wait_for_brief", "prepare", "content", "visuals", "publish", "record", "cleanup"}
    states = task_states(raw, task_ids)
    assert states == {
        "wait_for_brief": "success",
        "prepare": "success",
        "content": "skipped",
        "visuals": "failed",
        "publish": "skipped",
        "record": "running",
        "cleanup": "success",
    }
    assert list(states) == [
        "wait_for_brief",
        "prepare",
        "content",
        "visuals",
        "publish",
        "record",
        "cleanup",
    ]


def test_the_records_counts() -> None:
    assert total([{"posts": 3}, {"posts": 4}, None], "posts") == 7
    assert total({"cards": 2}, "cards") == 2 and total(None, "cards") == 0
    assert counts({"rows_read": 10.0, "repaired": True, "note": "x"}, None, {"adults": 8}) == {
        "rows_read": 10,
        "adults": 8,
    }


def test_tasks_list_every_stage_in_night_order() -> None:
    names = [stage.name for stage in STAGES]
    assert [task for task in TASKS if task in names] == names
    assert len(set(TASKS)) == len(TASKS)


def test_the_outcome_needs_no_airflow() -> None:
    code = (
        "import sys\nimport matinale.night.outcome, matinale.night, matinale.night.run, matinale.night.cards, matinale.night.release\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert found.stdout.strip() == "[]"
