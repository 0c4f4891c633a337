"""Status records, the editions staff see, and the Matinale view's routes (real S3)."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from matinale.status import StatusError, card_keys, recent_editions, write_status
from matinale.tonight import Snapshot, TaskState

ROOT = Path(__file__).resolve().parents[2]
LIVE = Snapshot(
    dag_id="matinale_nightly",
    paused=False,
    next_start=datetime(2026, 11, 26, 0, 0, tzinfo=UTC),
    run_id="scheduled__2026-11-25T00:00:00+00:00",
    run_state="running",
    run_start=datetime(2026, 11, 25, 0, 0, tzinfo=UTC),
    edition=date(2026, 11, 25),
    tasks=(
        TaskState("wait_for_brief", "success"),
        TaskState("content", "running", datetime(2026, 11, 25, 0, 40, tzinfo=UTC), None, 1, 0),
    ),
    deadline=datetime(2026, 11, 25, 5, 30, tzinfo=UTC),
)


def _jpeg(color: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (1080, 1080), color).save(out, "JPEG", quality=80)
    return out.getvalue()


def _publish_fake_run(client, bucket: str, edition: str, run: str) -> None:
    """A published run's pointer, manifest and cards, in the layout publish writes."""
    prefix = f"editions/{edition}/{run}/"
    files = []
    for segment in ("18-24-p01", "65plus-p02"):
        for theme, color in (("ecole", "navy"), ("sante", "teal")):
            path = f"{segment}/cards/{theme}-square.jpg"
            client.put_object(
                Bucket=bucket, Key=prefix + path, Body=_jpeg(color), ContentType="image/jpeg"
            )
            files.append({"path": path, "kind": "card", "segment": segment})
    client.put_object(
        Bucket=bucket,
        Key=prefix + "index.html",
        Body=b"<!doctype html><html lang='fr'><p>Edition</p></html>",
        ContentType="text/html; charset=utf-8",
    )
    files.append({"path": "index.html", "kind": "page", "segment": None})
    manifest = {
        "edition": edition,
        "run": run,
        "segments": [{"id": "18-24-p01", "label": "18–24", "size": 120}],
        "files": files,
    }
    client.put_object(
        Bucket=bucket, Key=prefix + "manifest.json", Body=json.dumps(manifest).encode()
    )
    pointer = {
        "edition": edition,
        "run": run,
        "prefix": prefix,
        "manifest": prefix + "manifest.json",
        "published_at": "2026-11-24T05:12:00+00:00",
    }
    client.put_object(
        Bucket=bucket, Key=f"editions/{edition}/current.json", Body=json.dumps(pointer).encode()
    )
    client.put_object(Bucket=bucket, Key="latest.json", Body=json.dumps(pointer).encode())


@pytest.fixture
def editions(s3_server, s3_buckets) -> dict:
    client = s3_server.client()
    private, bundle = s3_buckets["private"], s3_buckets["bundle"]
    _publish_fake_run(client, bundle, "2026-11-24", "20261124T000012Z-aaaa")
    write_status(
        client,
        private,
        {
            "edition": "2026-11-24",
            "run": "20261124T000012Z-aaaa",
            "state": "published",
            "reason": "Publiée",
            "counts": {"rows_read": 3000, "segments": 1},
            "finished_at": "2026-11-24T05:12:00+00:00",
        },
    )
    write_status(
        client,
        private,
        {
            "edition": "2026-11-24",
            "run": "20261124T031500Z-bbbb",
            "state": "skipped",
            "reason": "Essai à blanc",
            "counts": {},
        },
    )
    write_status(
        client,
        private,
        {
            "edition": "2026-11-23",
            "run": "20261123T000000Z-cccc",
            "state": "skipped",
            "reason": "<script>alert(1)</script> Silence",
            "counts": {"rows_read": 10},
        },
    )
    client.put_object(Bucket=private, Key="status/not-a-date/x.json", Body=b"{}")
    return {"client": client, "private": private, "bundle": bundle}


def test_recent_editions_join_status_and_pointers(editions) -> None:
    found = recent_editions(
        editions["client"], private_bucket=editions["private"], bundle_bucket=editions["bundle"]
    )
    assert [e["edition"] for e in found] == ["2026-11-24", "2026-11-23"], (
        "newest first, stray folders ignored"
    )
    first = found[0]
    assert first["is_latest"] and first["current"]["run"] == "20261124T000012Z-aaaa"
    assert [r["run"] for r in first["runs"]] == ["20261124T031500Z-bbbb", "20261124T000012Z-aaaa"]
    assert first["segments"] == [{"id": "18-24-p01", "label": "18–24", "size": 120}]
    # One thumbnail per theme first, then per segment: they differ.
    names = [key.rsplit("/", 1)[-1] for key in first["cards"]]
    assert names[:2] == ["ecole-square.jpg", "sante-square.jpg"] and len(first["cards"]) == 4
    assert found[1]["current"] is None and found[1]["cards"] == []
    assert (
        len(
            recent_editions(
                editions["client"],
                private_bucket=editions["private"],
                bundle_bucket=editions["bundle"],
                limit=1,
            )
        )
        == 1
    )


def test_status_records_are_checked(s3_server, s3_buckets) -> None:
    client = s3_server.client()
    with pytest.raises(StatusError, match="state"):
        write_status(
            client,
            s3_buckets["private"],
            {"edition": "2026-11-24", "run": "20261124T000012Z-aaaa", "state": "done"},
        )
    with pytest.raises(StatusError, match="run slug"):
        write_status(
            client,
            s3_buckets["private"],
            {"edition": "2026-11-24", "run": "../../latest", "state": "failed"},
        )
    assert card_keys({"files": []}, "editions/x/") == []


@pytest.fixture
def view(editions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from fastapi.testclient import TestClient

    from matinale.airflow.view import create_app
    from matinale.settings import load_settings
    from matinale.store import LocalStore

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("MATINALE_BUNDLE_BUCKET", editions["bundle"])
    monkeypatch.setenv("MATINALE_PRIVATE_BUCKET", editions["private"])
    settings = load_settings()
    store = LocalStore(settings.work_dir)
    store.put_bytes(
        "runs/2026-11-24/20261124T031500Z-bbbb/bundle/index.html", b"<html lang='fr'>preview</html>"
    )
    store.put_bytes("runs/2026-11-24/20261124T031500Z-bbbb/private/contacts.parquet", b"PERSONAL")
    anonymous = TestClient(create_app(settings, editions["client"]))
    # Airflow's metadata DB, as the view's reader would find it at 02:10 Paris: content running.
    app = create_app(
        settings,
        editions["client"],
        snapshot=lambda _settings, _client: LIVE,
        clock=lambda: datetime(2026, 11, 25, 1, 10, tzinfo=UTC),
        ui_root="",
    )
    # Airflow's login is checked for real against an API server in tests/e2e/test_matinale_view.py.
    app.dependency_overrides[app.state.require_reader] = lambda: "staff"
    return {"staff": TestClient(app), "anonymous": anonymous}


def test_view_requires_an_airflow_login(view) -> None:
    for path in (
        "/",
        "/api/editions",
        "/files/editions/2026-11-24/current.json",
        "/preview/2026-11-24/20261124T031500Z-bbbb/index.html",
    ):
        assert view["anonymous"].get(path).status_code == 401, path
    page = view["anonymous"].get("/", headers={"Accept": "text/html"})
    assert page.status_code == 401 and "connectez-vous à Airflow" in page.text


def test_view_page_shows_editions_with_escaped_reasons(view) -> None:
    page = view["staff"].get("/")
    assert page.status_code == 200
    assert 'data-edition="2026-11-24"' in page.text and 'data-state="published"' in page.text
    assert "mardi 24 novembre 2026" in page.text and 'data-count="rows_read">3 000<' in page.text
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt; Silence" in page.text and "<script>" not in page.text
    )
    assert 'href="files/editions/2026-11-24/20261124T000012Z-aaaa/index.html"' in page.text
    data = view["staff"].get("/api/editions").json()
    assert data["next_night"]["start"].startswith("01:00 Paris (")
    assert [e["state"] for e in data["editions"]] == ["published", "skipped"]


def test_view_shows_tonight_live_and_the_next_nights(view) -> None:
    page = view["staff"].get("/")
    assert 'data-tonight="running"' in page.text
    assert "Étape en cours : rédaction des posts (content) depuis 30 min." in page.text
    run = "/dags/matinale_nightly/runs/scheduled__2026-11-25T00%3A00%3A00%2B00%3A00"
    assert f'href="{run}/tasks/content/mapped/0" target="_top"' in page.text
    assert "Prochain départ : 01:00 Paris (19:00 Montréal, veille)" in page.text
    data = view["staff"].get("/api/editions").json()
    assert data["tonight"]["state"] == "running" and data["tonight"]["edition"] == "2026-11-25"
    # The next nights, from the view's clock: 26 November on, both clocks.
    assert data["next_nights"][0]["edition"] == "2026-11-26"
    assert data["next_nights"][0]["label"] == "jeudi 26 novembre 2026"
    assert len(data["next_nights"]) == 7 and 'data-night="2026-11-26"' in page.text
    # Every run row says why.
    runs = {r["run"]: r["why"] for e in data["editions"] for r in e["runs"]}
    assert runs["20261124T031500Z-bbbb"] == "Essai à blanc"
    assert '<td class="why">Essai à blanc</td>' in page.text


def test_view_without_the_metadata_db_still_lists_editions(editions, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from matinale.airflow.view import create_app
    from matinale.settings import load_settings

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_BUNDLE_BUCKET", editions["bundle"])
    monkeypatch.setenv("MATINALE_PRIVATE_BUCKET", editions["private"])

    def broken(_settings, _client):
        raise RuntimeError("no such table: dag")

    app = create_app(load_settings(), editions["client"], snapshot=broken, ui_root="")
    app.dependency_overrides[app.state.require_reader] = lambda: "staff"
    page = TestClient(app).get("/")
    assert page.status_code == 200 and 'data-tonight="unknown"' in page.text
    assert "L’état en direct est indisponible" in page.text
    assert 'data-edition="2026-11-24"' in page.text


def test_view_serves_only_bundle_files(view) -> None:
    staff = view["staff"]
    assert (
        staff.get("/files/editions/2026-11-24/20261124T000012Z-aaaa/index.html").status_code == 200
    )
    thumb = staff.get(
        "/thumbs/editions/2026-11-24/20261124T000012Z-aaaa/18-24-p01/cards/ecole-square.jpg"
    )
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    from PIL import Image

    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 240
    for path in (
        "/files/latest.json",  # not under editions/
        "/files/editions/../status/2026-11-23/20261123T000000Z-cccc.json",
        "/files/editions/2026-11-24/nope.json",
        "/thumbs/editions/2026-11-24/20261124T000012Z-aaaa/index.html",  # not an image
        "/preview/2026-11-24/20261124T031500Z-bbbb/../private/contacts.parquet",
        "/preview/2026-11-24/20261124T031500Z-bbbb/%2E%2E/private/contacts.parquet",
        "/preview/2026-11-24/..%2F..%2Fruns/index.html",
        "/preview/24-11-2026/20261124T031500Z-bbbb/index.html",
    ):
        response = staff.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert b"PERSONAL" not in response.content
    preview = staff.get("/preview/2026-11-24/20261124T031500Z-bbbb/index.html")
    assert preview.status_code == 200 and "preview" in preview.text


def test_the_preview_builds_a_served_pack_from_the_work_store(view, tmp_path: Path) -> None:
    """Staff preview an unpublished run whose packs the link service will build: the page's
    "Tout télécharger" gets the same pack here, built from the run's checked files."""
    import zipfile

    from bundle_samples import build

    from matinale.bundle import make_pack
    from matinale.checks import served_packs
    from matinale.settings import load_settings
    from matinale.store import LocalStore

    store = LocalStore(load_settings().work_dir)
    root = "runs/2026-11-24/20261124T031500Z-dddd/bundle"
    build(store, root, packs="served")
    manifest = json.loads(store.get_bytes(f"{root}/manifest.json"))
    members = served_packs(manifest)["65plus-p01/pack.zip"]
    url = "/preview/2026-11-24/20261124T031500Z-dddd/65plus-p01/pack.zip"
    pack = view["staff"].get(url)
    assert pack.status_code == 200 and pack.headers["content-type"] == "application/zip"
    assert pack.content == make_pack({m: store.get_bytes(f"{root}/{m}") for m in members})
    assert (
        "65plus-p01/textes-alternatifs.txt" in zipfile.ZipFile(io.BytesIO(pack.content)).namelist()
    )
    assert view["staff"].get(url.replace("65plus-p01", "nope-p09")).status_code == 404
    store.put_bytes(f"{root}/65plus-p01/posts.md", b"changed after the checks")
    changed = view["staff"].get(url)
    assert changed.status_code == 409 and "65plus-p01/posts.md: not the bytes" in changed.text


def test_view_reports_unreachable_s3(editions, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from fastapi.testclient import TestClient

    from matinale.airflow.view import create_app
    from matinale.settings import load_settings

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    dead = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
    )
    app = create_app(load_settings(), dead)
    app.dependency_overrides[app.state.require_reader] = lambda: "staff"
    page = TestClient(app).get("/", headers={"Accept": "text/html"})
    assert page.status_code == 503 and "Stockage S3 injoignable" in page.text


def test_editions_payload_times_in_both_clocks(editions) -> None:
    from matinale.airflow.view import editions_payload
    from matinale.settings import load_settings

    settings = load_settings()
    settings = type(settings)(
        **{
            **settings.__dict__,
            "bundle_bucket": editions["bundle"],
            "private_bucket": editions["private"],
        }
    )
    data = editions_payload(
        editions["client"], settings, now=datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    )
    assert data["next_night"]["label"] == "dimanche 29 mars 2026"
    assert data["next_night"]["deadline"] == "06:30 Paris (00:30 Montréal)"
    assert data["editions"][0]["published_at"] == "06:12 Paris (00:12 Montréal)"


def test_view_shows_yesterdays_link_counts_per_segment(
    view, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The view's clock is 25 November 02:10 Paris: yesterday's edition (24th) is shown."""
    from matinale.links.counts import Counts, make_engine, migrate

    page = view["staff"].get("/")  # no counts database yet: said plainly
    assert 'data-links="2026-11-24"' in page.text and "Pas encore de comptes" in page.text
    url = f"sqlite:///{tmp_path / 'counts.db'}"
    engine = make_engine(url)
    migrate(engine)
    counts = Counts(engine, clock=lambda: datetime(2026, 11, 24, 7, 0, tzinfo=UTC))
    counts.add("2026-11-24", "s01", "open", n=12)
    counts.add("2026-11-24", "s01", "share", ("logement", "x", "mobiliser"), n=3)
    counts.add("2026-11-25", "s01", "open", n=99)
    counts.flush()
    engine.dispose()
    monkeypatch.setenv("MATINALE_LINKS_DB_URL", url)
    page = view["staff"].get("/")
    assert (
        '<tr data-segment="s01"><td>s01</td><td>12</td><td>0</td><td>0</td><td>3</td></tr>'
        in page.text
    )
    assert "99" not in page.text.split('data-links="2026-11-24"', 1)[1].split("</details>")[0]
    assert view["staff"].get("/api/editions").json()["links"]["rows"] == [
        {"segment": "s01", "open": 12, "click": 0, "copy": 0, "share": 3}
    ]
    monkeypatch.setenv("MATINALE_LINKS_DB_URL", "postgresql+psycopg2://u:p@127.0.0.1:9/x")
    page = view["staff"].get("/")
    assert page.status_code == 200 and "Base des comptes de liens injoignable" in page.text


def test_view_shows_what_works_of_the_published_run(view, tmp_path: Path) -> None:
    """Issue 18 item 5: "Ce qui marche" in the Matinale view: the published run's first
    sentences, its chart (served from the run's bundle) and a link to the detail."""
    from matinale.learn.report import CHART, TABLE
    from matinale.settings import load_settings
    from matinale.store import LocalStore

    store = LocalStore(load_settings().work_dir)
    bundle = "runs/2026-11-24/20261124T000012Z-aaaa/bundle"
    sentence = "65 ans et + · santé, Santé : le devoir civique ×1,8 face à l’argument suivant"
    store.put_json(
        f"{bundle}/{TABLE}",
        {"rows": [{"sentence": sentence}], "editions_read": ["2026-11-22", "2026-11-23"]},
    )
    out = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (140, 70), "white").save(out, "PNG")
    store.put_bytes(f"{bundle}/{CHART}", out.getvalue())
    page = view["staff"].get("/").text
    section = page[page.index('data-what-works="2026-11-24"') :]
    assert sentence in section and "Appris des partages de 2 éditions" in section
    chart = "preview/2026-11-24/20261124T000012Z-aaaa/what-works.png"
    assert f'src="{chart}"' in section
    served = view["staff"].get("/" + chart)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    # A run without a learn stage (2026-11-23 here): no section.
    assert 'data-what-works="2026-11-23"' not in page
