"""``matinale person find|erase`` on real S3 (SeaweedFS): the work store and delivery files in
the private bucket, the inbox on disk; after erase nothing is found and the next night has no
trace of the person."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from matinale.cli import main
from matinale.dev.sample import write_sample
from matinale.night import RunContext, make_store, run_ingest, run_privacy
from matinale.publish.delivery import DELIVERY_COLUMNS, delivery_key, write_delivery
from matinale.settings import Settings, load_settings

pytestmark = [pytest.mark.s3, pytest.mark.hostile]

ROOT = Path(__file__).resolve().parents[2]
EDITION = date(2026, 11, 24)


@pytest.fixture
def settings(s3_server, s3_buckets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.delenv("MATINALE_INBOX", raising=False)
    monkeypatch.setenv("MATINALE_WORK_STORE", "s3")
    monkeypatch.setenv("MATINALE_BUNDLE_BUCKET", s3_buckets["bundle"])
    monkeypatch.setenv("MATINALE_PRIVATE_BUCKET", s3_buckets["private"])
    monkeypatch.setenv("MATINALE_PRIVACY_KEY", "compose-secret-" + "x" * 40)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return load_settings()


def _night(settings: Settings, client: object, export: Path, run: str) -> RunContext:
    store = make_store(settings, client)  # type: ignore[arg-type]
    ctx = RunContext(EDITION, run, str(export), str(settings.inbox / "briefs" / "x.yaml"))
    digest = hashlib.sha256(export.read_bytes()).hexdigest()
    store.put_json(f"{ctx.prefix}/inputs.json", {f"inbox/supporters/{export.name}": digest})
    run_ingest(settings, store, ctx)
    run_privacy(settings, store, ctx)
    return ctx


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert main(["person", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_erase_on_s3_leaves_no_trace(
    settings: Settings, s3_server, capsys: pytest.CaptureFixture[str]
) -> None:
    client = s3_server.client()
    export = write_sample(400, 11, settings.inbox / "supporters" / "crm.csv")
    (settings.inbox / "suppression").mkdir(parents=True)
    original = export.read_bytes()
    ctx = _night(settings, client, export, "r1")
    store = make_store(settings, client)
    contacts = store.get_frame(f"{ctx.prefix}/private/contacts.parquet")
    person = contacts[(contacts["email"] != "") & contacts["consent_email"]].iloc[0]
    email, supporter_id = str(person["email"]), str(person["supporter_id"])
    delivery = pd.DataFrame(
        {
            "supporter_id": contacts["supporter_id"],
            "channel": "email",
            "address": contacts["email"],
            "segment": "s1",
            "link": "https://example.org/s1",
            "territory": "",
            "territory_link": "",
            "send_at": "2026-11-24T07:30+01:00",
        }
    )[list(DELIVERY_COLUMNS)]
    delivery = delivery[delivery["address"] != ""]
    bucket = settings.private_bucket
    write_delivery(client, bucket, EDITION, ctx.run, delivery, {"rows": len(delivery)})

    found = _cli(capsys, "find", "--email", email)
    where = {place["where"] for place in found["places"]}
    prefix = f"s3://{bucket}/work/{ctx.prefix}/private"
    assert {
        f"{prefix}/valid.parquet",
        f"{prefix}/contacts.parquet",
        f"{prefix}/features.parquet",
    } <= where
    assert f"s3://{bucket}/{delivery_key(EDITION, ctx.run)}" in where
    assert str(export) in where
    assert found["suppressed"] is False and found["unchecked"] == []

    delivered = client.get_object(Bucket=bucket, Key=delivery_key(EDITION, ctx.run))["Body"].read()
    record = _cli(capsys, "erase", "--email", email, "--yes")
    assert record["rows_removed"]["delivery"] == 1

    after = _cli(capsys, "find", "--id", supporter_id)
    assert after["places"] == [] and after["suppressed"] is True
    assert _cli(capsys, "find", "--email", email)["places"] == []
    # Everything else byte for byte: the export and the delivery file minus one line each.
    lines = original.split(b"\n")
    assert export.read_bytes() == b"\n".join(
        line for line in lines if supporter_id.encode() not in line
    )
    rows = delivered.split(b"\n")
    now = client.get_object(Bucket=bucket, Key=delivery_key(EDITION, ctx.run))["Body"].read()
    assert now == b"\n".join(r for r in rows if not r.startswith(supporter_id.encode() + b","))
    saved = store.get_bytes(record["record"]).decode()
    assert email not in saved and supporter_id not in saved

    # Tomorrow the CRM sends the same export again: the night suppresses the person.
    tomorrow = settings.inbox / "supporters" / "crm-tomorrow.csv"
    tomorrow.write_bytes(original)
    ctx2 = _night(settings, client, tomorrow, "r2")
    for name in ("valid", "contacts", "features"):
        frame = store.get_frame(f"{ctx2.prefix}/private/{name}.parquet")
        assert supporter_id not in set(frame["supporter_id"])
    assert store.get_json(f"{ctx2.prefix}/ingest.json")["suppressed"] >= 1
