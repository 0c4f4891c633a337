"""The Matinale view's live state of the night, on constructed snapshots with frozen clocks.

Every state staff can meet: scheduled (both clocks) or paused, waiting for the brief, running,
awaiting approval, late, failed (plain French, a link to the task's log), published, and a
green night that did not publish (the electoral silence, a dry run) with its reason; the DST
nights and the next nights' table in both clocks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from matinale.schedule import night_of, publication_decision
from matinale.settings import Settings, load_settings
from matinale.tonight import LABELS, STATES, Snapshot, TaskState, describe, next_nights_table

ROOT = Path(__file__).resolve().parents[2]
DAG = "matinale_nightly"
RUN = "scheduled__2026-11-24T00:00:00+00:00"
RUN_PATH = "/dags/matinale_nightly/runs/scheduled__2026-11-24T00%3A00%3A00%2B00%3A00"
EDITION = date(2026, 11, 24)
START = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # 01:00 Paris, 19:00 Montréal the day before
BRIEF = "/srv/matinale/inbox/briefs/2026-11-24.yaml"
DONE = ("wait_for_brief", "prepare", "ingest", "privacy", "segment", "plan")


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(ROOT / "campaign.yaml")


def _tasks(*pairs: tuple[str, str | None], start: datetime = START) -> tuple[TaskState, ...]:
    return tuple(
        TaskState(task_id, state, start + timedelta(minutes=5 * i), None, 1)
        for i, (task_id, state) in enumerate(pairs)
    )


def _run(settings: Settings, **changes: object) -> Snapshot:
    base = {
        "dag_id": DAG,
        "paused": False,
        "next_start": START + timedelta(days=1),
        "run_id": RUN,
        "run_state": "running",
        "run_start": START,
        "edition": EDITION,
        "brief_path": BRIEF,
        "deadline": night_of(EDITION, settings.clocks).deadline,
    }
    return Snapshot(**{**base, **changes})  # type: ignore[arg-type]


def test_every_state_has_a_french_label() -> None:
    assert set(LABELS) == set(STATES)


def test_scheduled_shows_the_next_start_in_both_clocks(settings: Settings) -> None:
    now = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # 21:00 Paris, 15:00 Montréal
    snap = Snapshot(dag_id=DAG, paused=False, next_start=START)
    tonight = describe(snap, now, settings.clocks)
    assert (tonight.state, tonight.label) == ("scheduled", "Programmée")
    assert tonight.next_start == "Prochain départ : 01:00 Paris (19:00 Montréal, veille)"
    assert "Édition du 24/11/2026" in tonight.reason
    assert "06:30 Paris (00:30 Montréal)" in tonight.reason
    assert tonight.links[0].href == "/dags/matinale_nightly"


def test_paused_dag_says_so(settings: Settings) -> None:
    now = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    tonight = describe(Snapshot(dag_id=DAG, paused=True), now, settings.clocks)
    assert (tonight.state, tonight.label) == ("paused", "DAG en pause")
    assert tonight.next_start.startswith("DAG en pause")
    assert "ne démarrera pas" in tonight.reason


def test_a_finished_night_of_an_earlier_day_gives_way_to_the_next(settings: Settings) -> None:
    snap = _run(settings, run_state="success", tasks=_tasks(("publish", "success")))
    # Past midnight in Paris on the 25th: the 24th's night is over, the 25th's is scheduled.
    tonight = describe(snap, datetime(2026, 11, 24, 23, 30, tzinfo=UTC), settings.clocks)
    assert tonight.state == "scheduled" and "25/11/2026" in tonight.reason
    # The same afternoon, the morning's result is still tonight's.
    noon = describe(snap, datetime(2026, 11, 24, 11, 0, tzinfo=UTC), settings.clocks)
    assert noon.state == "published"


def test_waiting_for_the_brief_names_the_file_the_folder_and_the_cut_off(
    settings: Settings,
) -> None:
    snap = _run(settings, tasks=_tasks(("wait_for_brief", "deferred")))
    tonight = describe(snap, START + timedelta(minutes=10), settings.clocks)
    assert tonight.state == "waiting_brief"
    assert "2026-11-24.yaml dans /srv/matinale/inbox/briefs" in tonight.reason
    assert "jusqu’à 01:30 Paris (19:30 Montréal, veille)" in tonight.reason
    found = describe(
        _run(settings, tasks=_tasks(("wait_for_brief", "deferred")), brief_present=True),
        START + timedelta(minutes=10),
        settings.clocks,
    )
    assert found.state == "waiting_brief" and found.reason.startswith("Brief trouvé")


def test_running_names_the_stage_and_its_elapsed_time(settings: Settings) -> None:
    tasks = _tasks(*((t, "success") for t in DONE)) + (
        TaskState("content", "running", START + timedelta(minutes=40), None, 1, 0),
        TaskState("content", "running", START + timedelta(minutes=41), None, 1, 1),
        TaskState("visuals", "running", START + timedelta(minutes=42), None, 1, 0),
    )
    tonight = describe(_run(settings, tasks=tasks), START + timedelta(minutes=52), settings.clocks)
    assert (tonight.state, tonight.label) == ("running", "En cours")
    assert tonight.reason == (
        "Étape en cours : rédaction des posts (content, 2 lots) depuis 12 min ; "
        "en même temps : création des visuels. "
        "Nuit démarrée il y a 52 min."
    )
    assert tonight.links[0].href == f"{RUN_PATH}/tasks/content/mapped/0"


def test_a_retry_is_said(settings: Settings) -> None:
    tasks = _tasks(*((t, "success") for t in DONE[:2])) + (
        TaskState("ingest", "up_for_retry", START + timedelta(minutes=20), None, 1),
    )
    tonight = describe(
        _run(settings, tasks=tasks), START + timedelta(hours=1, minutes=25), settings.clocks
    )
    assert tonight.state == "running"
    assert "lecture du fichier des soutiens" in tonight.reason
    assert "nouvelle tentative n° 2" in tonight.reason
    assert "Nuit démarrée il y a 1 h 25." in tonight.reason


def test_awaiting_approval_links_to_the_required_action(settings: Settings) -> None:
    tasks = _tasks(*((t, "success") for t in (*DONE, "bundle", "checks", "gate"))) + (
        TaskState("approval", "awaiting_input", START + timedelta(hours=2), None, 1),
    )
    snap = _run(settings, tasks=tasks, approval_pending=True)
    tonight = describe(snap, START + timedelta(hours=2, minutes=30), settings.clocks)
    assert tonight.state == "awaiting_approval"
    assert "depuis 30 min" in tonight.reason
    assert tonight.links[0].href == f"{RUN_PATH}/tasks/approval/required_actions"
    rooted = describe(snap, START + timedelta(hours=3), settings.clocks, ui_root="/airflow")
    assert rooted.links[0].href == f"/airflow{RUN_PATH}/tasks/approval/required_actions"


def test_late_once_the_publish_deadline_has_passed(settings: Settings) -> None:
    tasks = _tasks(*((t, "success") for t in DONE)) + (
        TaskState("visuals", "running", START + timedelta(hours=1), None, 1, 3),
    )
    deadline = night_of(EDITION, settings.clocks).deadline
    before = describe(_run(settings, tasks=tasks), deadline - timedelta(minutes=1), settings.clocks)
    assert before.state == "running"
    tonight = describe(_run(settings, tasks=tasks), deadline, settings.clocks)
    assert (tonight.state, tonight.label) == ("late", "En retard")
    assert tonight.reason.startswith(
        "Heure limite de publication dépassée (06:30 Paris (00:30 Montréal))"
    )
    assert "création des visuels" in tonight.reason
    # A late night awaiting approval still links to the Required Action.
    waiting = _run(
        settings,
        tasks=(TaskState("approval", "awaiting_input", START, None, 1),),
        approval_pending=True,
    )
    late = describe(waiting, deadline + timedelta(minutes=5), settings.clocks)
    assert late.state == "late" and late.links[0].href.endswith("/required_actions")


def test_failed_says_why_in_french_and_links_to_the_log(settings: Settings) -> None:
    tasks = _tasks(*((t, "success") for t in DONE)) + (
        TaskState("visuals", "failed", START + timedelta(hours=1), None, 3, 2),
        TaskState("bundle", "upstream_failed"),
        TaskState("publish", "upstream_failed"),
    )
    snap = _run(settings, run_state="failed", tasks=tasks)
    tonight = describe(snap, START + timedelta(hours=2), settings.clocks)
    assert (tonight.state, tonight.label) == ("failed", "Échec")
    assert tonight.reason == (
        "Échec : la création des visuels a échoué (tâche visuals, lot 3, après 3 tentatives). "
        "Rien n’est publié."
    )
    assert tonight.links[0].href == f"{RUN_PATH}/tasks/visuals/mapped/2"
    # Failed while the teardown still records: already failed, not "running".
    still = describe(_run(settings, tasks=tasks), START + timedelta(hours=2), settings.clocks)
    assert still.state == "failed"


def test_missing_brief_fails_with_its_reason(settings: Settings) -> None:
    tasks = (TaskState("wait_for_brief", "failed", START, START + timedelta(minutes=30), 1),)
    tonight = describe(
        _run(settings, run_state="failed", tasks=tasks), START + timedelta(hours=1), settings.clocks
    )
    assert "le brief de l’édition n’est pas arrivé" in tonight.reason
    assert tonight.links[0].href == f"{RUN_PATH}/tasks/wait_for_brief"


def test_a_failed_publish_is_failed_never_green(settings: Settings) -> None:
    tasks = _tasks(*((t, "success") for t in (*DONE, "bundle", "checks", "gate"))) + (
        TaskState("publish", "failed", START + timedelta(hours=3), None, 3),
        TaskState("record", "success"),
    )
    failed = describe(
        _run(settings, run_state="failed", tasks=tasks), START + timedelta(hours=4), settings.clocks
    )
    assert failed.state == "failed"
    assert "la publication a échoué : l’édition n’est pas en ligne" in failed.reason
    assert failed.links[0].href == f"{RUN_PATH}/tasks/publish"
    # Even if Airflow showed the run green, the view says failed, and says it is wrong.
    green = describe(
        _run(settings, run_state="success", tasks=tasks),
        START + timedelta(hours=4),
        settings.clocks,
    )
    assert green.state == "failed" and "Airflow affiche ce run en vert" in green.reason


def test_a_failed_record_does_not_fail_a_published_night(settings: Settings) -> None:
    publish = TaskState("publish", "success", START, START + timedelta(hours=4, minutes=12), 1)
    tasks = (publish, TaskState("record", "failed"))
    tonight = describe(
        _run(settings, run_state="success", tasks=tasks),
        START + timedelta(hours=5),
        settings.clocks,
    )
    assert tonight.state == "published"
    assert tonight.reason == "Publiée à 05:12 Paris (23:12 Montréal, veille)."


@pytest.mark.parametrize("dry_run", [False, True], ids=["electoral-silence", "dry-run"])
def test_a_green_night_that_did_not_publish_says_why(settings: Settings, dry_run: bool) -> None:
    silent = load_election(settings)
    decision = publication_decision(
        EDITION, START + timedelta(hours=3), silent, explicit=False, dry_run=dry_run
    )
    assert decision.status == ("dry_run" if dry_run else "frozen")
    tasks = _tasks(*((t, "success") for t in (*DONE, "gate"))) + (
        TaskState("publish", "skipped"),
        TaskState("record", "success"),
    )
    record = {"state": "skipped", "detail": decision.status, "reason": decision.reason}
    snap = _run(settings, run_state="success", tasks=tasks, record=record)
    tonight = describe(snap, START + timedelta(hours=4), settings.clocks)
    assert (tonight.state, tonight.label) == ("skipped", "Terminée sans publication")
    assert tonight.reason == decision.reason
    # The record is not written yet: still green, and the view says where to look.
    early = describe(
        _run(settings, run_state="success", tasks=tasks),
        START + timedelta(hours=4),
        settings.clocks,
    )
    assert early.state == "skipped" and "gate et record" in early.reason


def load_election(settings: Settings) -> Settings:
    """The campaign with an election on the edition's day: its eve and morning are silent."""
    import tempfile

    text = (ROOT / "campaign.yaml").read_text(encoding="utf-8") + (
        "\nelections:\n  days:\n    - {date: 2026-11-24, name: Élection test}\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "campaign.yaml"
        path.write_text(text, encoding="utf-8")
        return load_settings(path)


def test_a_rejected_night_is_green_with_who_said_no(settings: Settings) -> None:
    record = {"state": "rejected", "reason": "Publication refusée par alice ; rien n’est publié"}
    tasks = (TaskState("approval", "success"), TaskState("publish", "skipped"))
    tonight = describe(
        _run(settings, run_state="success", tasks=tasks, record=record),
        START + timedelta(hours=5),
        settings.clocks,
    )
    assert (tonight.state, tonight.reason) == ("rejected", record["reason"])


@pytest.mark.parametrize(
    ("run_after", "edition", "brief_until", "deadline"),
    [
        # Spring forward: cut-off 01:30 CET = 20:30 Montréal (on summer time three weeks
        # already); the deadline 06:30 CEST = 00:30 Montréal: a 4 h 30 night.
        (
            datetime(2026, 3, 29, 0, 0, tzinfo=UTC),
            date(2026, 3, 29),
            "01:30 Paris (20:30 Montréal, veille)",
            "06:30 Paris (00:30 Montréal)",
        ),
        # Fall back: cut-off 01:30 CEST = 19:30 Montréal; the deadline 06:30 CET = 01:30
        # Montréal (still on summer time): a 6 h 30 night.
        (
            datetime(2026, 10, 24, 23, 0, tzinfo=UTC),
            date(2026, 10, 25),
            "01:30 Paris (19:30 Montréal, veille)",
            "06:30 Paris (01:30 Montréal)",
        ),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_dst_nights_read_in_both_clocks(
    settings: Settings, run_after: datetime, edition: date, brief_until: str, deadline: str
) -> None:
    night = night_of(edition, settings.clocks)
    snap = _run(
        settings,
        run_start=run_after,
        edition=edition,
        deadline=night.deadline,
        tasks=_tasks(("wait_for_brief", "deferred"), start=run_after),
    )
    waiting = describe(snap, run_after + timedelta(minutes=5), settings.clocks)
    assert f"jusqu’à {brief_until}" in waiting.reason
    late = describe(snap, night.deadline + timedelta(minutes=1), settings.clocks)
    assert late.state == "late" and f"({deadline})" in late.reason


def test_next_nights_table_flags_the_dst_weeks(settings: Settings) -> None:
    # From 21 October 2026: Paris falls back on the night of the 25th; Montréal on 1 November.
    rows = next_nights_table(datetime(2026, 10, 21, 12, 0, tzinfo=UTC), settings, count=12)
    assert [r["edition"] for r in rows][:2] == ["2026-10-22", "2026-10-23"]
    by_day = {r["edition"]: r for r in rows}
    assert by_day["2026-10-22"]["start"] == "01:00 Paris (19:00 Montréal, veille)"
    assert not by_day["2026-10-22"]["dst"] and not by_day["2026-10-22"]["notes"]
    fall = by_day["2026-10-25"]
    assert fall["dst"] and "la nuit dure 6 h 30" in " ".join(fall["notes"])
    assert fall["deadline"] == "06:30 Paris (01:30 Montréal)"
    short = by_day["2026-10-27"]
    assert short["dst"] and short["start"] == "01:00 Paris (20:00 Montréal, veille)"
    assert by_day["2026-10-26"]["notes"] == ["Décalage Paris–Montréal : 5 h dès cette nuit"]
    assert by_day["2026-11-02"]["notes"] == ["Décalage Paris–Montréal : 6 h dès cette nuit"]


def test_next_nights_table_flags_the_electoral_silence(settings: Settings) -> None:
    silent = load_election(settings)
    rows = next_nights_table(datetime(2026, 11, 22, 12, 0, tzinfo=UTC), silent, count=3)
    frozen = {r["edition"]: r["frozen"] for r in rows}
    assert frozen == {"2026-11-23": True, "2026-11-24": True, "2026-11-25": False}
    assert any("Silence électoral : Élection test" in n for n in rows[0]["notes"])


def test_to_dict_is_json_ready(settings: Settings) -> None:
    import json

    tonight = describe(_run(settings), START + timedelta(minutes=1), settings.clocks)
    data = json.loads(json.dumps(tonight.to_dict()))
    assert data["edition"] == "2026-11-24" and data["links"][0]["href"].startswith("/dags/")
