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

from airflow.sdk import TriggerRule, dag, get_current_context, task

from matinale.airflow import glue
from matinale.airflow.sensors import BriefSensor
from matinale.settings import cached_settings


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
    @task
    def prepare() -> dict:
        return glue.prepare(get_current_context())

    @task
    def ingest(ctx: dict) -> dict:
        return glue.ingest(ctx)

    @task
    def privacy(ctx: dict) -> dict:
        return glue.privacy(ctx)

    @task
    def segment(ctx: dict) -> dict:
        return glue.segment(ctx)

    @task
    def plan(ctx: dict) -> list:
        return glue.plan(ctx, get_current_context()["params"])

    @task
    def content(ctx: dict, batch: list) -> dict:
        return glue.content(ctx, batch)

    @task
    def visuals(ctx: dict, batch: list) -> dict:
        return glue.visuals(ctx, batch, get_current_context()["params"])

    @task
    def contact_sheet(ctx: dict) -> dict:
        return glue.contact_sheet(ctx)

    @task
    def bundle(ctx: dict) -> dict:
        return glue.bundle(ctx, get_current_context()["params"])

    @task
    def checks(ctx: dict) -> dict:
        return glue.checks(ctx)

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def gate(ctx: dict) -> bool:
        return glue.gate(ctx, get_current_context())

    @task
    def publish(ctx: dict) -> dict:
        return glue.publish(ctx, get_current_context())

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def record() -> dict:
        return glue.record(get_current_context())

    brief = BriefSensor(task_id="wait_for_brief")
    ctx = prepare()
    batches = plan(ctx)
    steps = [ingest(ctx), privacy(ctx), segment(ctx)]
    brief >> ctx >> steps[0] >> steps[1] >> steps[2] >> batches
    posts = content.partial(ctx=ctx).expand(batch=batches)
    cards = visuals.partial(ctx=ctx).expand(batch=batches)
    sheet = contact_sheet(ctx)
    built = bundle(ctx)
    checked = checks(ctx)
    allowed = gate(ctx)
    cards >> sheet
    [posts, cards, sheet] >> built >> checked >> allowed
    done = publish(ctx)
    if cached_settings().approval:
        from matinale.airflow.approval import EditionApproval

        approval = EditionApproval(task_id="approval")
        allowed >> approval >> done
        steps.append(approval)
    else:
        allowed >> done
    # The status record runs after everything, whatever happened, and never changes the
    # run's outcome (a teardown is not counted for the run's state).
    [brief, ctx, batches, posts, cards, sheet, built, checked, allowed, done, *steps] >> record().as_teardown()


matinale_nightly()
