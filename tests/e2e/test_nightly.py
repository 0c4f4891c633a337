"""The real night: matinale_nightly under Airflow (dag.test) against a real SeaweedFS."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from links_live import free_port, live_service

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EDITION = date(2026, 11, 24)


def _read(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def _check_published(client, bucket: str, pointer: dict) -> dict:
    manifest = json.loads(_read(client, bucket, pointer["manifest"]))
    assert manifest["edition"] == EDITION.isoformat()
    assert manifest["files"], "the manifest lists no file"
    for entry in manifest["files"]:
        data = _read(client, bucket, pointer["prefix"] + entry["path"])
        assert len(data) == entry["bytes"], entry["path"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
    return manifest


def _states(run_id: str) -> dict[str, str]:
    from airflow.models import TaskInstance
    from airflow.settings import Session
    from sqlalchemy import select

    with Session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_id == "matinale_nightly", TaskInstance.run_id == run_id
            )
        ).all()
    return {task_id: str(state) for task_id, state in rows}


def _edition_event(run_id: str) -> dict:
    """The extra of the matinale_edition asset event the run's publish task emitted."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.settings import Session
    from sqlalchemy import select

    with Session() as session:
        extras = session.scalars(
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(
                AssetModel.name == "matinale_edition",
                AssetEvent.source_dag_id == "matinale_nightly",
                AssetEvent.source_run_id == run_id,
                AssetEvent.source_task_id == "publish",
            )
        ).all()
    assert len(extras) == 1, extras
    return dict(extras[0])


def _check_links(
    night_env: dict, pointer: dict, manifest: dict, base: str, rows: list[str]
) -> None:
    """Issue 17 end to end: every link the night handed out goes through the service, which
    sends each to what was published (pages, cards) or registered (short links)."""
    import httpx

    from matinale.links import LinkState

    settings, client, bucket = (
        night_env["settings"],
        night_env["client"],
        night_env["bundle_bucket"],
    )
    state = LinkState(
        client, settings.link_service.state_bucket, settings.link_service.state_prefix
    )
    tokens = state.active(state.tokens())
    table = json.loads(_read(client, bucket, state.table_key(EDITION, pointer["run"])))
    compliance = json.loads(_read(client, bucket, pointer["prefix"] + "compliance.json"))
    assert (
        compliance["link_counts"]["retention_days"] == settings.link_service.counts_retention_days
    )
    # The delivery file's link is the segment's stable /p/ link (about 45 characters).
    territorial = 0
    for row in rows:
        segment, link, territory, territory_link = row.split(",")[3:7]
        assert link == f"{base}/p/{tokens[segment]}"
        # Issue 19: people in a territorial pack's territory get its stable link as well.
        assert territory_link == (f"{base}/p/{tokens[territory]}" if territory else "")
        territorial += bool(territory)
    packs = [s["id"] for s in manifest["segments"] if s["id"].startswith("t-")]
    assert territorial > 0 or not packs, packs
    with live_service(
        settings, client, port=int(base.rsplit(":", 1)[1]), db_url=night_env["links_db"]
    ):
        segment = manifest["segments"][0]["id"]
        page = httpx.get(f"{base}/p/{tokens[segment]}", follow_redirects=True)
        assert page.status_code == 200, (page.history, page.url, page.text[:300])
        assert "X-Amz-Signature" not in page.text
        card = f"{base}/p/{tokens[segment]}/cards/"
        assert card in page.text, "the page links to its full-size cards through the service"
        card_link = page.text.split(card, 1)[1].split('"', 1)[0]
        image = httpx.get(card + card_link, follow_redirects=True)
        assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
        # Issue 21 item 5: the cards are stored once; the service builds the pack from them.
        pack_link = f"{base}/p/{tokens[segment]}/pack.zip"
        assert f'href="{pack_link}"' in page.text
        assert manifest["packs"] == "served"
        assert not [f for f in manifest["files"] if f["path"].endswith("pack.zip")]
        pack = httpx.get(pack_link)
        assert pack.status_code == 200, pack.text[:300]
        archive = zipfile.ZipFile(io.BytesIO(pack.content))
        assert {f"{segment}/posts.json", f"{segment}/textes-alternatifs.txt"} <= set(
            archive.namelist()
        )
        assert any("/cards/" in name for name in archive.namelist())
        for name in archive.namelist():
            assert archive.read(name) == _read(client, bucket, pointer["prefix"] + name), name
        posts = json.loads(_read(client, bucket, f"{pointer['prefix']}{segment}/posts.json"))
        # Every post's link is a short link of at most 60 characters, Instagram's too (it
        # prints it in words); its destination keeps the tracking, with an opaque code.
        for post in posts["posts"]:
            assert post["link"].startswith(f"{base}/s/") and len(post["link"]) <= 60, post
            code = post["link"].rsplit("/", 1)[1]
            assert post["destination"].endswith(f"utm_content={code}") or (
                "utm_" not in post["destination"]
            ), post
            assert post["link"] in (post.get("html") or post["text"])
            code = post["link"].rsplit("/", 1)[1]
            assert table["links"][code]["destination"] == post["destination"]
            answer = httpx.get(post["link"])
            assert (answer.status_code, answer.headers["location"]) == (302, post["destination"])
        cards = json.loads(_read(client, bucket, f"{pointer['prefix']}{segment}/cards.json"))
        code = cards["cards"][0]["link"].rsplit("/", 1)[1]
        assert table["links"][code]["channel"] == "card"
        # Another segment's file is not reachable with this segment's token (encoded: an
        # HTTP client would resolve a plain "/../" before sending it)
        other = manifest["segments"][-1]["id"]
        if other != segment:
            stranger = httpx.get(f"{base}/p/{tokens[segment]}/..%2F{other}%2Fposts.json")
            assert stranger.status_code == 404


def _mornings_before(db_url: str) -> None:
    """Counts of the four editions before EDITION, written by the link service's writer."""
    from matinale.links.counts import Counts, make_engine, migrate

    engine = make_engine(db_url)
    migrate(engine)
    cell = ("sante", "whatsapp")
    for day in ("2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"):
        moment = datetime.fromisoformat(f"{day}T18:10+01:00").astimezone(UTC)
        writer = Counts(engine, clock=lambda moment=moment: moment)
        # A segment of the band that is not tonight's: it teaches its band (pooling).
        for angle, shares in (("familles", 300), ("devoir-civique", 5)):
            writer.add(day, "65plus-p99", "variant_shown", (*cell, angle), 1000)
            writer.add(day, "65plus-p99", "share", (*cell, angle), shares)
        writer.add(day, "65plus-p99", "open", ("", "", ""), 500)
        writer.flush()
    engine.dispose()


def _check_learned(client, bucket: str, pointer: dict, manifest: dict, rows: list[str]) -> None:
    """The counts changed tonight's page weights and the delivery file's send_at."""
    seniors = [s["id"] for s in manifest["segments"] if s["id"].startswith("65plus-")]
    assert seniors, [s["id"] for s in manifest["segments"]]
    posts = json.loads(_read(client, bucket, f"{pointer['prefix']}{seniors[0]}/posts.json"))
    sante = [p for p in posts["posts"] if p["theme"] == "sante" and p["channel"] == "whatsapp"]
    weights = {p["angle"]: p["weight"] for p in sante}
    assert "familles" in weights and weights["familles"] == max(weights.values()), weights
    assert len(set(weights.values())) > 1, weights  # no longer even
    page = _read(client, bucket, f"{pointer['prefix']}{seniors[0]}/index.html").decode()
    assert 'data-poids="' in page
    send_at = {}
    for row in rows:
        cells = row.split(",")
        send_at.setdefault(cells[3].split("-p")[0], set()).add(cells[7])
    assert send_at["65plus"] == {"2026-11-24T18:00+01:00"}, send_at
    assert all(v == {"2026-11-24T07:30+01:00"} for k, v in send_at.items() if k != "65plus")


def test_nightly_dag_publishes_a_verified_bundle(night_env, nightly_dag, monkeypatch) -> None:
    from matinale.settings import cached_settings, load_settings

    client, bucket = night_env["client"], night_env["bundle_bucket"]
    # The night's links point at a link service on this machine (as under `make up`)
    base = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MATINALE_LINKS_PUBLIC_URL", base)
    cached_settings.cache_clear()
    night_env["settings"] = load_settings()

    # Issue 18 item 7: the mornings before, as the link service counted them in SQLite: the
    # 65+ band shares "familles" on santé far more than "devoir-civique" and opens at 18:00.
    _mornings_before(night_env["links_db"])
    # Published at 06:00 Paris on the edition's morning, whatever today's date.
    from matinale.publish import stage as publish_stage

    monkeypatch.setattr(publish_stage, "_now", lambda: datetime(2026, 11, 24, 5, 0, tzinfo=UTC))

    first = nightly_dag.test(run_conf={"edition_date": EDITION.isoformat()})
    assert first.state == "success"
    pointer = json.loads(_read(client, bucket, "latest.json"))
    assert pointer == json.loads(_read(client, bucket, f"editions/{EDITION}/current.json"))
    manifest = _check_published(client, bucket, pointer)

    # One graph whatever MATINALE_APPROVAL says: approval (off here) skipped itself, publish
    # went on, and Airflow recorded the edition asset's event, saying what was published.
    states = _states(first.run_id)
    assert (states["approval"], states["publish"]) == ("skipped", "success")
    event = _edition_event(first.run_id)
    assert event["edition"] == EDITION.isoformat() and event["run"] == pointer["run"]
    assert event["prefix"] == pointer["prefix"] and event["latest_moved"] is True

    paths = {entry["path"] for entry in manifest["files"]}
    assert "index.html" in paths
    assert "contact-sheet.jpg" in paths  # staff's overview of every card of the night
    assert {"territories.json", "territories.png"} <= paths  # the night's priority territories
    segment_ids = [s["id"] for s in manifest["segments"]]
    assert segment_ids, "no segment reached the bundle"
    for segment_id in segment_ids:
        assert {
            f"{segment_id}/index.html",
            f"{segment_id}/posts.json",
            f"{segment_id}/cards.json",
        } <= paths
        assert any(p.startswith(f"{segment_id}/cards/") and p.endswith(".jpg") for p in paths)
    assert set(manifest["inputs"]) >= {"campaign.yaml", "code_version"}

    # Checked on the exact bytes published; the delivery file is private and names this run.
    compliance = json.loads(_read(client, bucket, pointer["prefix"] + "compliance.json"))
    assert compliance["checks"]["stage"] == "publish" and compliance["checks"]["passed"] is True
    assert compliance["checks"]["checks"]["pii"]["reference_people"] > 0
    private = night_env["settings"].private_bucket
    delivery = json.loads(_read(client, private, f"delivery/{EDITION}/current.json"))
    assert delivery["run"] == pointer["run"]
    header, *rows = _read(client, private, delivery["delivery"]).decode().splitlines()
    assert (
        header == ("supporter_id,channel,address,segment,link,territory,territory_link,send_at")
        and rows
    )
    assert {row.split(",")[3] for row in rows} <= set(segment_ids)
    _check_learned(client, bucket, pointer, manifest, rows)
    _check_links(night_env, pointer, manifest, base, rows)
    # Issue 20: the heaviest three-theme activist page, beacons and all, within 150 KB
    pages = [e["bytes"] for e in manifest["files"] if e["kind"] == "page"]
    assert pages and max(pages) <= 150_000, max(pages)

    # A second run of the same edition publishes under its own prefix and is promoted;
    # the first run stays intact.
    second = nightly_dag.test(run_conf={"edition_date": EDITION.isoformat()})
    assert second.state == "success"
    newer = json.loads(_read(client, bucket, "latest.json"))
    assert newer["run"] != pointer["run"]
    _check_published(client, bucket, newer)
    _check_published(client, bucket, pointer)

    # The private work store keeps assignments; the bundle never holds a supporter id.
    ids = night_env["supporter_ids"]
    for entry in manifest["files"]:
        if entry["content_type"].startswith(("text/", "application/json")):
            text = _read(client, bucket, pointer["prefix"] + entry["path"]).decode()
            leaked = [i for i in ids if i in text]
            assert not leaked, f"{entry['path']} holds supporter ids {leaked[:3]}"
