"""
### Matinale — the nightly edition

While Paris sleeps, this DAG turns the supporter file and the evening brief into the
morning bundle activists open on their phones. It starts at `clocks.nightly_start`
(01:00 Paris, 19:00 or 20:00 Montréal) and serves the **edition** of that Paris morning.

1. **wait_for_brief** — deferrable: waits for `inbox/briefs/<edition>.yaml` until the brief
   cut-off (01:30 Paris), then fails with a clear message: no brief, no publication;
2. **prepare** — the newest supporter export and the brief, checksums recorded;
3. **ingest** → **privacy** → **segment** — validated rows, adults only, segments;
   **learn** — from the link counts of recent mornings (connection `matinale_links_db`),
   each segment's angle weights, channel order and send hour (`learned.json`);
4. **content** / **visuals** — mapped over a few batches of segments per core, so a failed
   batch retries alone; **contact_sheet** — every card of the night on one image for staff;
5. **bundle** → **checks** — pages, manifest, pre-publish checks;
6. **gate** — no publication during the electoral silence (Code électoral L49), in a dry
   run, for a partial run, or for a scheduled night stuck past its day; the reason is logged
   and shown in the Matinale view;
7. **approval** — with `MATINALE_APPROVAL=on`, staff choose « Publier » or « Ne pas publier »
   with a preview link; no answer by `clocks.approval_closes` means no publication. With
   approval off the task skips itself and the night goes on: the graph has one shape;
8. **publish** — upload, verify, then `current.json` and `latest.json` (written last); it
   updates the asset `matinale_edition` (`x-matinale://edition`; the event says which
   edition, run and prefix), so another DAG can be scheduled on a published edition;
9. **record** — the night's status (counts, reason) for the Matinale view.

The run's context (edition, run, input files) is `prepare`'s XCom; each task reads it from
there instead of taking it through an edge from `prepare`, so the graph is the night's own
chain, a cleared task (a rerun of one stage) finds it again, and every instance of a mapped
task reads the same one.

A **deadline alert** fires at the publish deadline (06:30 Paris) of the run's edition if the
run is still going; a task that fails for good alerts too (log + webhook of the Airflow
connection `matinale_alerts`). Params rerun one edition, a few segments (preview only),
without visuals, or as a dry run. The next nights' times (Paris, Montréal, UTC) are in the
Matinale view and in `matinale schedule`: this text stays the same every day, so Airflow
records a new version of the DAG only when the DAG itself changes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import TriggerRule, dag, get_current_context, task

from matinale.airflow import glue
from matinale.airflow.approval import EditionApproval
from matinale.airflow.notify import MatinaleNotifier
from matinale.airflow.sensors import BriefSensor
from matinale.night import (
    APPROVAL,
    BUNDLE,
    CHECKS,
    CONTACT_SHEET,
    CONTENT,
    GATE,
    INGEST,
    LEARN,
    PLAN,
    PREPARE,
    PRIVACY,
    PUBLISH,
    RECORD,
    SEGMENT,
    STAGES,
    VISUALS,
    WAIT_FOR_BRIEF,
)
from matinale.settings import cached_settings

# How long each task may run before Airflow stops it (a hung S3 call or a runaway input must
# not hold the night until morning). Sized from `make bench` at 1,000,000 supporters (README's
# bench table: ingest 4.7 s, checks 19.7 s, publish 52.6 s; 3M: ingest 10.9 s, publish 77 s)
# with a wide margin for a slower worker and a larger campaign: at least 10 minutes, and
# 20x or more the 1M time. A mapped task's limit holds for each batch. The brief sensor's
# limit covers its deferred wait, which ends at the brief cut-off (within the night); the
# approval's covers its work, its wait ends at the approval close (response_timeout).
MINUTE = timedelta(minutes=1)
TIMEOUTS: dict[str, timedelta] = {
    WAIT_FOR_BRIEF: timedelta(hours=24),
    PREPARE: 10 * MINUTE,
    INGEST: 20 * MINUTE,
    PRIVACY: 10 * MINUTE,
    SEGMENT: 15 * MINUTE,
    LEARN: 10 * MINUTE,
    PLAN: 10 * MINUTE,
    CONTENT: 20 * MINUTE,
    VISUALS: 30 * MINUTE,
    CONTACT_SHEET: 10 * MINUTE,
    BUNDLE: 20 * MINUTE,
    CHECKS: 30 * MINUTE,
    GATE: 10 * MINUTE,
    APPROVAL: 10 * MINUTE,
    PUBLISH: 60 * MINUTE,
    RECORD: 10 * MINUTE,
}


def stage_task(name: str) -> Any:
    """The task of the night's stage ``name`` (task id = stage name): ``glue.run_stage``
    with, for a mapped stage, its batch of segments; the run's context comes from
    ``prepare``'s XCom (``glue.run_context``)."""

    @task(task_id=name, execution_timeout=TIMEOUTS[name])
    def run_stage(batch: list | None = None) -> dict:
        return glue.run_stage(name, get_current_context(), batch=batch)

    return run_stage


@dag(
    dag_id="matinale_nightly",
    schedule=glue.nightly_timetable(),
    catchup=False,
    max_active_runs=1,
    default_args=glue.default_args(),
    # Always on under the scheduler. MATINALE_DEADLINE_ALERT=off only for `dag.test()` /
    # `airflow dags test` (make run, the end-to-end tests): Airflow 3.3.2's test loop fails at
    # the end of a run that carries a DeadlineAlert (see matinale.settings).
    deadline=glue.deadline_alert() if cached_settings().deadline_alert else None,
    tags=["matinale", "nightly"],
    doc_md=__doc__,
    params=glue.nightly_params(),
)
def matinale_nightly():
    # One task per stage of matinale.night.STAGES; the tasks below steer them.
    stage = {s.name: stage_task(s.name) for s in STAGES}

    @task(task_id=PLAN, execution_timeout=TIMEOUTS[PLAN])
    def plan() -> list:
        context = get_current_context()
        return glue.plan(glue.run_context(context), context["params"])

    # On "no", everything after the gate is skipped (approval and publish), whatever their
    # trigger rules; the status record (a teardown) still runs.
    @task.short_circuit(
        task_id=GATE, ignore_downstream_trigger_rules=True, execution_timeout=TIMEOUTS[GATE]
    )
    def gate() -> bool:
        context = get_current_context()
        return glue.gate(glue.run_context(context), context)

    @task(task_id=RECORD, trigger_rule=TriggerRule.ALL_DONE, execution_timeout=TIMEOUTS[RECORD])
    def record() -> dict:
        return glue.record(get_current_context())

    brief = BriefSensor(task_id=WAIT_FOR_BRIEF, execution_timeout=TIMEOUTS[WAIT_FOR_BRIEF])
    prepared = stage[PREPARE]()
    steps = [stage[INGEST](), stage[PRIVACY](), stage[SEGMENT](), stage[LEARN]()]
    batches = plan()
    posts = stage[CONTENT].expand(batch=batches)
    cards = stage[VISUALS].expand(batch=batches)
    sheet = stage[CONTACT_SHEET]()
    built = stage[BUNDLE]()
    checked = stage[CHECKS]()
    allowed = gate()
    # Skips itself when approval is off; a "Ne pas publier" (or no answer) skips publish.
    # execution_timeout bounds the work before the wait; response_timeout (reset when the
    # task starts, to the approval close) bounds the wait itself.
    approval = EditionApproval(
        task_id=APPROVAL, execution_timeout=TIMEOUTS[APPROVAL], response_timeout=TIMEOUTS[APPROVAL]
    )
    # none_failed: publish follows a skipped approval (approval off); the gate and a refusal
    # skip publish themselves, so a skip never reaches it through its trigger rule.
    done = stage[PUBLISH].override(
        trigger_rule=TriggerRule.NONE_FAILED,
        outlets=[glue.edition_asset()],
        # Staff hear that the edition is out (counts, overview link); a skipped publish is silent.
        on_success_callback=MatinaleNotifier(event="edition_ready"),
    )()
    brief >> prepared >> steps[0] >> steps[1] >> steps[2] >> steps[3] >> batches
    cards >> sheet
    [posts, cards, sheet] >> built >> checked >> allowed >> approval >> done
    # The status record runs after everything, whatever happened, and never changes the
    # run's outcome (a teardown is not counted for the run's state).
    [
        brief,
        prepared,
        *steps,
        batches,
        posts,
        cards,
        sheet,
        built,
        checked,
        allowed,
        approval,
        done,
    ] >> record().as_teardown()


matinale_nightly()
