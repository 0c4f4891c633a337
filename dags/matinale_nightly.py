"""
### Matinale — the nightly edition

While Paris sleeps, this DAG turns the supporter file and the day's brief into the
morning bundle activists open on their phones:

1. **prepare** — find the newest supporter export and the brief of the edition, record checksums;
2. **ingest** — read and validate supporters (quarantine report, every row accounted for);
3. **privacy** — adults only, allowed features only; consents counted per channel and legal basis;
4. **segment** — age band × profile (k-means), ids such as `65plus-p03`;
5. **content** / **visuals** — posts per channel and cards per theme × format, mapped over batches of segments;
   **contact_sheet** — every card of the night on one image for staff;
6. **bundle** — pages, manifest with checksums;
7. **publish** — upload to S3, verify, then `current.json` and `latest.json` (written last).

Schedule: `clocks.nightly_start` of `campaign.yaml` in the campaign's time zone (01:00 Paris).
Params let staff rerun one edition or a few segments from the UI.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from matinale.airflow import glue


@dag(
    dag_id="matinale_nightly",
    schedule=glue.nightly_timetable(),
    catchup=False,
    max_active_runs=1,
    default_args=glue.default_args(),
    tags=["matinale", "nightly"],
    doc_md=__doc__,
    params={
        "edition_date": Param(None, type=["null", "string"], format="date", description="Edition (Paris date) to build; empty = the next one"),
        "segments": Param([], type="array", description="Only these segment ids (empty = all)"),
    },
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
        return glue.visuals(ctx, batch)

    @task
    def contact_sheet(ctx: dict) -> dict:
        return glue.contact_sheet(ctx)

    @task
    def bundle(ctx: dict) -> dict:
        return glue.bundle(ctx)

    @task
    def publish(ctx: dict) -> dict:
        return glue.publish(ctx)

    ctx = prepare()
    batches = plan(ctx)
    ingest(ctx) >> privacy(ctx) >> segment(ctx) >> batches
    posts = content.partial(ctx=ctx).expand(batch=batches)
    cards = visuals.partial(ctx=ctx).expand(batch=batches)
    sheet = contact_sheet(ctx)
    built = bundle(ctx)
    cards >> sheet
    [posts, cards, sheet] >> built >> publish(ctx)


matinale_nightly()
