"""
### Matinale — the nightly edition

While Paris sleeps, this DAG turns the supporter file and the evening brief into the
morning bundle activists open on their phones. It starts at `clocks.nightly_start`
(01:00 Paris, 19:00 or 20:00 Montréal) and serves the **edition** of that Paris morning.

1. **wait_for_brief** — deferrable: waits for `inbox/briefs/<edition>.yaml` until the brief
   cut-off (01:30 Paris), then fails with a clear message: no brief, no publication;
2. **prepare** — the newest supporter export and the brief, checksums recorded;
3. **ingest** → **privacy** → **segment** — validated rows, adults only, segments;
4. **content** / **visuals** — mapped over a few batches of segments per core, so a failed
   batch retries alone; **contact_sheet** — every card of the night on one image for staff;
5. **bundle** → **checks** — pages, manifest, pre-publish checks;
6. **gate** — no publication during the electoral silence (Code électoral L49), in a dry
   run, for a partial run, or for a scheduled night stuck past its day; the reason is logged
   and shown in the Matinale view;
7. **approval** (when `MATINALE_APPROVAL=on`) — staff approve or reject with a preview
   link; no answer by `clocks.approval_closes` means no publication;
8. **publish** — upload, verify, then `current.json` and `latest.json` (written last);
9. **record** — the night's status (counts, reason) for the Matinale view.

A **deadline alert** fires at the publish deadline (06:30 Paris) of the run's edition if the
run is still going; a task that fails for good alerts too (log + webhook of the Airflow
connection `matinale_alerts`). Params rerun one edition, a few segments (preview only),
without visuals, or as a dry run.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import TriggerRule, dag, get_current_context, task

from matinale.airflow import glue
from matinale.airflow.sensors import BriefSensor
from matinale.night import (
    APPROVAL,
    BUNDLE,
    CHECKS,
    CONTACT_SHEET,
    CONTENT,
    GATE,
    INGEST,
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


def stage_task(name: str) -> Any:
    """The task of the night's stage ``name`` (task id = stage name): ``glue.run_stage``
    with the run's context and, for a mapped stage, its batch of segments."""

    @task(task_id=name)
    def run_stage(ctx: dict | None = None, batch: list | None = None) -> dict:
        return glue.run_stage(name, get_current_context(), ctx, batch)

    return run_stage


@dag(
    dag_id="matinale_nightly",
    schedule=glue.nightly_timetable(),
    catchup=False,
    max_active_runs=1,
    default_args=glue.default_args(),
    deadline=glue.deadline_alert() if cached_settings().deadline_alert else None,
    tags=["matinale", "nightly"],
    doc_md=glue.nightly_doc(__doc__),
    params=glue.nightly_params(),
)
def matinale_nightly():
    # One task per stage of matinale.night.STAGES; the tasks below steer them.
    stage = {s.name: stage_task(s.name) for s in STAGES}

    @task(task_id=PLAN)
    def plan(ctx: dict) -> list:
        return glue.plan(ctx, get_current_context()["params"])

    @task.short_circuit(task_id=GATE, ignore_downstream_trigger_rules=False)
    def gate(ctx: dict) -> bool:
        return glue.gate(ctx, get_current_context())

    @task(task_id=RECORD, trigger_rule=TriggerRule.ALL_DONE)
    def record() -> dict:
        return glue.record(get_current_context())

    brief = BriefSensor(task_id=WAIT_FOR_BRIEF)
    ctx = stage[PREPARE]()
    batches = plan(ctx)
    steps = [stage[INGEST](ctx), stage[PRIVACY](ctx), stage[SEGMENT](ctx)]
    brief >> ctx >> steps[0] >> steps[1] >> steps[2] >> batches
    posts = stage[CONTENT].partial(ctx=ctx).expand(batch=batches)
    cards = stage[VISUALS].partial(ctx=ctx).expand(batch=batches)
    sheet = stage[CONTACT_SHEET](ctx)
    built = stage[BUNDLE](ctx)
    checked = stage[CHECKS](ctx)
    allowed = gate(ctx)
    cards >> sheet
    [posts, cards, sheet] >> built >> checked >> allowed
    done = stage[PUBLISH](ctx)
    if cached_settings().approval:
        from matinale.airflow.approval import EditionApproval

        approval = EditionApproval(task_id=APPROVAL)
        allowed >> approval >> done
        steps.append(approval)
    else:
        allowed >> done
    # The status record runs after everything, whatever happened, and never changes the
    # run's outcome (a teardown is not counted for the run's state).
    [
        brief,
        ctx,
        batches,
        posts,
        cards,
        sheet,
        built,
        checked,
        allowed,
        done,
        *steps,
    ] >> record().as_teardown()


matinale_nightly()
