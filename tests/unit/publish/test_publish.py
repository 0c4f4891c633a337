"""Publishing against a real S3 server (SeaweedFS): checks, upload, read-back, pointers last,
delivery file, access, fault injection, rollback."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from bundle_samples import EDITION, SEGMENTS, build, settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from matinale.checks import ChecksFailed, PiiScanner, limits_from
from matinale.dev.seaweed import S3Credentials, SeaweedS3
from matinale.publish import (
    DELIVERY_COLUMNS,
    LATEST,
    Presigner,
    PublishConfig,
    PublishError,
    S3AccessError,
    current_key,
    list_editions,
    make_client,
    publish_bundle,
    read_pointer,
    rollback,
)
from matinale.publish.delivery_stream import Audience
from matinale.publish.pointers import edition_prefix
from matinale.store import LocalStore

CONTACTS = pd.DataFrame(
    {
        "supporter_id": ["S0000001", "S0000002", "S0000003", "S0000004", "S0000005", "S0000006"],
        "first_name": ["Hélène", "Jean", "Zoé", "Marc", "Inès", "Paul"],
        "last_name": ["Dupont", "Le Gall", "N'Diaye", "Petit", "Roux", "Morel"],
        "email": [
            "Helene.Dupont@example.org",
            "jean@example.fr",
            "pas-une-adresse",
            "",
            "=cmd@example.org",
            "paul@example.org",
        ],
        "phone": [
            "06 39 98 00 01",
            "",
            "06 39 98 00 03",
            "+33 6 39 98 00 04",
            "",
            "06 39 98 00 06",
        ],
        "consent_email": [True, False, True, False, True, True],
        "consent_sms": [True, True, False, True, False, True],
    }
)
ASSIGNMENTS = pd.DataFrame(
    {
        "supporter_id": [
            "S0000001",
            "S0000002",
            "S0000003",
            "S0000004",
            "S0000005",
            "S0000006",
            "S0000001",
        ],
        "segment_id": [
            "65plus-p01",
            "65plus-p01",
            "18-24-p02",
            "18-24-p02",
            "18-24-p02",
            "35-49-p09",
            "t-29019",
        ],
    }
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    store = LocalStore(tmp_path_factory.mktemp("work"))
    build(store, "b")
    return store


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner.from_frames([CONTACTS], settings().pii_allowlist)


def _config(buckets: dict[str, str], **overrides) -> PublishConfig:
    s = settings()
    values = {
        "bucket": buckets["bundle"],
        "private_bucket": buckets["private"],
        "campaign": s.campaign,
        "expiry": timedelta(hours=s.presign_expiry_hours),
        "allowed_domains": s.allowed_domains,
        "limits": limits_from(s.raw),
        "zone": s.clocks.campaign_tz,
        **overrides,
    }
    return PublishConfig(**values)


def _publish(
    client,
    store,
    buckets,
    run: str,
    scanner,
    *,
    edition: date = EDITION,
    prefix: str = "b",
    **kwargs,
):
    return publish_bundle(
        client,
        store,
        prefix,
        edition=edition,
        run=run,
        config=_config(buckets),
        scanner=scanner,
        audience=(CONTACTS, ASSIGNMENTS),
        **kwargs,
    )


def _read(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def _keys(client, bucket: str, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_full_publish(s3_server, s3_buckets, store, scanner) -> None:
    client, bucket, private = s3_server.client(), s3_buckets["bundle"], s3_buckets["private"]
    result = _publish(client, store, s3_buckets, "20261124T000000Z-aaaa", scanner)

    pointer = read_pointer(client, bucket, LATEST)
    assert pointer["run"] == "20261124T000000Z-aaaa" and pointer["prefix"] == result["prefix"]
    assert read_pointer(client, bucket, current_key(EDITION))["run"] == pointer["run"]
    manifest = json.loads(_read(client, bucket, pointer["manifest"]))
    assert manifest["published_at"] and manifest["link_expiry_hours"] == 48
    for entry in manifest["files"]:
        data = _read(client, bucket, pointer["prefix"] + entry["path"])
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"]), (
            entry["path"]
        )
    assert (
        len(_keys(client, bucket, pointer["prefix"]))
        == result["files"]
        == len(manifest["files"]) + 1
    )

    compliance = json.loads(_read(client, bucket, pointer["prefix"] + "compliance.json"))
    assert compliance["checks"]["stage"] == "publish" and compliance["checks"]["passed"] is True
    assert compliance["checks"]["checks"]["pii"]["reference_people"] == len(CONTACTS)

    # The pages carry presigned links; the bucket is private.
    page_url = result["sample_page_url"]
    status, page = _get(page_url)
    assert status == 200 and b'<html lang="fr">' in page
    pack_link = next(
        line for line in page.decode().splitlines() if "pack.zip" in line and "href=" in line
    )
    href = pack_link.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert href.startswith(s3_server.endpoint_url) and "X-Amz-Signature=" in href
    assert _get(href)[1] == _read(client, bucket, pointer["prefix"] + "65plus-p01/pack.zip")
    assert (
        _get(f"{s3_server.endpoint_url}/{bucket}/{pointer['prefix']}65plus-p01/index.html")[0]
        == 403
    )
    assert _get(f"{s3_server.endpoint_url}/{bucket}/{LATEST}")[0] == 403

    # The delivery file is private: consenting supporters only, their main segment's page.
    assert not [k for k in _keys(client, bucket) if "delivery" in k]
    rows = list(
        csv.DictReader(io.StringIO(_read(client, private, result["delivery"]["key"]).decode()))
    )
    assert [(r["supporter_id"], r["channel"], r["address"], r["segment"]) for r in rows] == [
        ("S0000005", "email", "'=cmd@example.org", "18-24-p02"),  # a formula is neutralised
        ("S0000004", "sms", "+33639980004", "18-24-p02"),
        ("S0000001", "email", "helene.dupont@example.org", "65plus-p01"),  # main segment, not t-…
        ("S0000001", "sms", "+33639980001", "65plus-p01"),
    ]
    links = {r["segment"]: r["link"] for r in rows}
    assert links["18-24-p02"] != links["65plus-p01"]
    status, body = _get(links["18-24-p02"])
    assert status == 200 and "18–24 ans · climat".encode() in body
    body = _read(client, private, result["delivery"]["key"])
    assert result["delivery"]["bytes"] == len(body)  # the bench reports it
    summary = json.loads(_read(client, private, result["delivery"]["key"].replace(".csv", ".json")))
    assert summary["left_out"] == {"no_page": 2, "invalid_address": 1}
    assert compliance["delivery"]["by_channel"] == summary["by_channel"] == {"email": 2, "sms": 2}
    assert (
        read_pointer(client, private, f"delivery/{EDITION}/current.json")["run"] == pointer["run"]
    )


def test_rerun_retry_and_older_edition(s3_server, s3_buckets, store, scanner) -> None:
    client, bucket = s3_server.client(), s3_buckets["bundle"]
    first = _publish(client, store, s3_buckets, "20261124T000000Z-aaaa", scanner)
    old_page = _read(client, bucket, first["prefix"] + "65plus-p01/index.html")

    # A rerun publishes under its own prefix and is promoted; the first run stays intact.
    second = _publish(client, store, s3_buckets, "20261124T010000Z-bbbb", scanner)
    assert (
        read_pointer(client, bucket, LATEST)["run"] == "20261124T010000Z-bbbb"
        and second["latest_moved"]
    )
    assert _read(client, bucket, first["prefix"] + "65plus-p01/index.html") == old_page

    # A retry of a promoted run re-uploads nothing: the promoted objects are never rewritten.
    before = client.head_object(Bucket=bucket, Key=second["prefix"] + "65plus-p01/index.html")[
        "ETag"
    ]
    retry = _publish(client, store, s3_buckets, "20261124T010000Z-bbbb", scanner)
    assert retry["already_promoted"] and retry["files"] is None
    assert (
        client.head_object(Bucket=bucket, Key=second["prefix"] + "65plus-p01/index.html")["ETag"]
        == before
    )

    # A late retry of a run that was replaced since never rewrites it: rollback is the way back.
    with pytest.raises(
        PublishError, match="matinale rollback --to 2026-11-24/20261124T000000Z-aaaa"
    ):
        _publish(client, store, s3_buckets, "20261124T000000Z-aaaa", scanner)
    assert _read(client, bucket, first["prefix"] + "65plus-p01/index.html") == old_page

    # Republishing an older edition promotes it for its date but leaves latest.json alone.
    older = _publish(
        client, store, s3_buckets, "20261123T010000Z-cccc", scanner, edition=date(2026, 11, 23)
    )
    assert not older["latest_moved"]
    assert (
        read_pointer(client, bucket, current_key(date(2026, 11, 23)))["run"]
        == "20261123T010000Z-cccc"
    )
    assert read_pointer(client, bucket, LATEST)["run"] == "20261124T010000Z-bbbb"


def test_personal_data_blocks_before_anything_is_uploaded(
    s3_server, s3_buckets, store, scanner, tmp_path: Path
) -> None:
    client, bucket = s3_server.client(), s3_buckets["bundle"]
    _publish(client, store, s3_buckets, "20261124T000000Z-aaaa", scanner)
    leaky = LocalStore(tmp_path)
    build(leaky, "b", extra_text="\nAvec Zoé N'Diaye, appelez le 06 39 98 00 03")
    with pytest.raises(ChecksFailed) as failure:
        _publish(client, leaky, s3_buckets, "20261124T020000Z-dddd", scanner)
    assert "supporter full name" in str(failure.value) and "phone number" in str(failure.value)
    assert "Diaye" not in str(failure.value) and "39 98 00 03" not in str(failure.value)
    assert _keys(client, bucket, f"editions/{EDITION}/20261124T020000Z-dddd/") == []
    assert read_pointer(client, bucket, LATEST)["run"] == "20261124T000000Z-aaaa"


def test_tampered_work_store_is_not_published(
    s3_server, s3_buckets, tmp_path: Path, scanner
) -> None:
    client = s3_server.client()
    tampered = LocalStore(tmp_path)
    build(tampered, "b", segments=SEGMENTS[:1])
    tampered.put_bytes("b/65plus-p01/posts.md", b"changed after the manifest")
    with pytest.raises(PublishError, match="does not match its manifest"):
        _publish(client, tampered, s3_buckets, "20261124T000000Z-eeee", scanner)
    assert read_pointer(client, s3_buckets["bundle"], LATEST) is None


def test_served_packs_need_the_link_service(s3_server, s3_buckets, tmp_path: Path, scanner) -> None:
    """A bundle built for a link service (packs built on request) is not published without
    one: its pages' download buttons would lead nowhere. Nothing is uploaded."""
    client = s3_server.client()
    served = LocalStore(tmp_path)
    build(served, "b", segments=SEGMENTS[:1], packs="served")
    with pytest.raises(PublishError, match="no link service is configured"):
        _publish(client, served, s3_buckets, "20261124T000000Z-ffff", scanner)
    assert _keys(client, s3_buckets["bundle"]) == []


def test_wrong_credentials_or_missing_bucket_give_one_clear_error(
    s3_server, s3_buckets, store, scanner
) -> None:
    wrong = make_client(
        s3_server.endpoint_url, s3_server.credentials.access_key, "not-the-secret", max_attempts=2
    )
    with pytest.raises(S3AccessError, match="refused the credentials") as failure:
        _publish(wrong, store, s3_buckets, "20261124T000000Z-ffff", scanner)
    assert s3_server.credentials.secret_key not in str(failure.value)
    with pytest.raises(S3AccessError, match="'no-such-bucket' does not exist"):
        _publish(
            s3_server.client(),
            store,
            {**s3_buckets, "bundle": "no-such-bucket"},
            "20261124T000000Z-ffff",
            scanner,
        )
    assert make_client(s3_server.endpoint_url, "k", "s").meta.config.retries == {
        "total_max_attempts": 6,
        "mode": "standard",
    }


def test_presigned_link_works_then_expires(s3_server, s3_buckets) -> None:
    client, bucket = s3_server.client(), s3_buckets["bundle"]
    client.put_object(Bucket=bucket, Key="editions/2026-11-24/r/index.html", Body=b"<p>ok</p>")
    presign = Presigner(client, bucket, "editions/2026-11-24/r", timedelta(seconds=1))
    url = presign("index.html")
    assert presign.owns(url) and not presign.owns(url.split("?")[0])
    assert _get(url) == (200, b"<p>ok</p>")
    time.sleep(2.5)  # let the one-second signature expire
    assert _get(url)[0] == 403
    with pytest.raises(PublishError, match="7 days"):
        Presigner(client, bucket, "x", timedelta(days=8))


def test_links_are_signed_for_the_address_phones_reach(
    s3_server, s3_buckets, store, scanner
) -> None:
    # The workers reach S3 at 127.0.0.1 (compose: http://s3:8333); phones at another name.
    client = s3_server.client()
    assert "127.0.0.1" in s3_server.endpoint_url
    public = s3_server.endpoint_url.replace("127.0.0.1", "localhost")
    config = _config(s3_buckets, public_url=public)
    result = publish_bundle(
        client,
        store,
        "b",
        edition=EDITION,
        run="20261124T000000Z-pub1",
        config=config,
        scanner=scanner,
    )
    assert result["overview_url"].startswith(public + "/")
    status, overview = _get(result["overview_url"])
    assert status == 200 and b"Pages par segment" in overview
    page = _get(result["sample_page_url"])
    assert page[0] == 200
    # Every link inside the page is signed for the public name, and works from there.
    links = sorted(set(re.findall(r'href="([^"]+)"', page[1].decode())))
    own = [html.unescape(link) for link in links if "X-Amz-Signature=" in link]
    assert own and all(link.startswith(public + "/") for link in own)
    assert _get(own[0])[0] == 200
    # The host is part of the signature: the same link sent to the workers' address is refused.
    assert _get(own[0].replace(public, s3_server.endpoint_url, 1))[0] == 403


def test_rollback_and_editions(s3_server, s3_buckets, store, scanner, monkeypatch, capsys) -> None:
    client, bucket = s3_server.client(), s3_buckets["bundle"]
    _publish(
        client, store, s3_buckets, "20261123T010000Z-0001", scanner, edition=date(2026, 11, 23)
    )
    _publish(client, store, s3_buckets, "20261124T010000Z-0002", scanner)
    _publish(client, store, s3_buckets, "20261124T020000Z-0003", scanner)
    client.put_object(
        Bucket=bucket,
        Key="editions/2026-11-24/20261124T030000Z-0004/65plus-p01/index.html",
        Body=b"half",
    )

    statuses = {(r["edition"], r["run"]): r["status"] for r in list_editions(client, bucket)}
    assert statuses == {
        ("2026-11-23", "20261123T010000Z-0001"): "current",
        ("2026-11-24", "20261124T010000Z-0002"): "promoted before",
        ("2026-11-24", "20261124T020000Z-0003"): "latest",
        ("2026-11-24", "20261124T030000Z-0004"): "incomplete",
    }

    # --to <date>: the run promoted last for that date before the one served now.
    back = rollback(
        client,
        bucket,
        "2026-11-24",
        actor="directrice-com",
        reason="message mal reçu",
        private_bucket=s3_buckets["private"],
    )
    assert back["run"] == "20261124T010000Z-0002" and back["links_expire_at"]
    assert (
        read_pointer(client, bucket, LATEST)["run"]
        == read_pointer(client, bucket, current_key(EDITION))["run"]
        == "20261124T010000Z-0002"
    )
    assert (
        read_pointer(client, s3_buckets["private"], f"delivery/{EDITION}/current.json")["run"]
        == "20261124T010000Z-0002"
    )
    events = [json.loads(_read(client, bucket, k)) for k in _keys(client, bucket, "history/")]
    assert (
        events[-1]["event"] == "rollback"
        and events[-1]["actor"] == "directrice-com"
        and events[-1]["reason"] == "message mal reçu"
    )

    with pytest.raises(PublishError, match="never promoted"):
        rollback(client, bucket, "2026-11-24/20261124T030000Z-0004", actor="x")
    with pytest.raises(PublishError, match="YYYY-MM-DD"):
        rollback(client, bucket, "hier", actor="x")

    # The command line: back to the previous day's edition, then the list.
    from matinale.cli import main

    for name, value in {
        **s3_server.env(),
        "MATINALE_BUNDLE_BUCKET": bucket,
        "MATINALE_PRIVATE_BUCKET": s3_buckets["private"],
    }.items():
        monkeypatch.setenv(name, value)
    assert (
        main(
            [
                "rollback",
                "--to",
                "2026-11-23/20261123T010000Z-0001",
                "--by",
                "lead",
                "--reason",
                "test",
            ]
        )
        == 0
    )
    assert read_pointer(client, bucket, LATEST)["edition"] == "2026-11-23"
    assert main(["editions"]) == 0
    out = capsys.readouterr().out
    assert "now name run 20261123T010000Z-0001 (by lead)" in out
    assert (
        "2026-11-23  20261123T010000Z-0001  latest" in out
        and "20261124T030000Z-0004  incomplete" in out
    )
    assert main(["rollback", "--to", "2026-11-24/nope"]) == 2
    assert "never promoted" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.s3
def test_s3_stopped_mid_publish_leaves_pointers_then_rerun_completes(
    tmp_path: Path, store, scanner
) -> None:
    """Fault injection on a dedicated server: kill it during the uploads of a rerun."""
    server = SeaweedS3(tmp_path / "s3", S3Credentials.generate(), s3_port=_free_port())
    buckets = {"bundle": "fault-bundle", "private": "fault-private"}
    server.start()
    try:
        server.ensure_buckets(*buckets.values())
        client = make_client(
            server.endpoint_url,
            server.credentials.access_key,
            server.credentials.secret_key,
            max_attempts=2,
            connect_timeout=1,
        )
        _publish(client, store, buckets, "20261124T000000Z-good", scanner)

        def stop_midway(step: str, done: int, total: int) -> None:
            if step == "upload" and done == 5:
                server.stop(grace=0)  # SIGKILL: the server vanishes mid-upload

        with pytest.raises(
            PublishError, match="not promoted: the pointers still name the previous run"
        ):
            _publish(client, store, buckets, "20261124T010000Z-dead", scanner, progress=stop_midway)
        assert not server.running

        server.start()
        assert read_pointer(client, buckets["bundle"], LATEST)["run"] == "20261124T000000Z-good"
        assert (
            read_pointer(client, buckets["bundle"], current_key(EDITION))["run"]
            == "20261124T000000Z-good"
        )
        assert {r["run"]: r["status"] for r in list_editions(client, buckets["bundle"])}[
            "20261124T010000Z-dead"
        ] == "incomplete"

        rerun = _publish(client, store, buckets, "20261124T020000Z-redo", scanner)
        assert read_pointer(client, buckets["bundle"], LATEST)["run"] == "20261124T020000Z-redo"
        assert _get(rerun["sample_page_url"])[0] == 200
    finally:
        server.stop(grace=1)


def test_make_up_prints_working_links(
    s3_server, s3_buckets, store, scanner, monkeypatch, capsys
) -> None:
    from matinale.cli import client_from_env
    from matinale.dev.local import print_latest_links
    from matinale.settings import load_settings

    for name, value in {**s3_server.env(), "MATINALE_BUNDLE_BUCKET": s3_buckets["bundle"]}.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    client = client_from_env(s)
    assert print_latest_links(client, s) is None
    assert "No edition published yet" in capsys.readouterr().out
    _publish(s3_server.client(), store, s3_buckets, "20261124T000000Z-aaaa", scanner)
    assert print_latest_links(client, s) == (EDITION.isoformat(), "20261124T000000Z-aaaa")
    out = capsys.readouterr().out
    overview = out.split("Overview (staff): ", 1)[1].split()[0]
    page = out.split("Page of segment 65plus-p01: ", 1)[1].split()[0]
    assert _get(overview)[0] == 200 and "Pages par segment" in _get(overview)[1].decode()
    assert "Votre matinale du mardi 24 novembre 2026" in _get(page)[1].decode()


def test_delivery_csv_neutralises_formulas_cell_by_cell() -> None:
    from matinale.publish.delivery import DELIVERY_COLUMNS, _csv_cell, _delivery_csv

    values = [
        "=cmd",
        "+33639980004",
        "+3363998",
        "+33639980004\n",
        "-1",
        "@a",
        "\tb",
        "\rc",
        "",
        "a,b",
        'q"q',
        "é",
        "+33 6",
        "12",
        "+1234567890123456",
    ]
    rows = pd.DataFrame(
        {column: values[i:] + values[:i] for i, column in enumerate(DELIVERY_COLUMNS)}
    )
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\n")
    writer.writerow(DELIVERY_COLUMNS)
    writer.writerows(
        [_csv_cell(str(value)) for value in record]
        for record in rows.itertuples(index=False, name=None)
    )
    assert _delivery_csv(rows) == expected.getvalue().encode("utf-8")


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            *[
                st.one_of(
                    st.text(
                        alphabet=st.sampled_from(list('=+-@\t\r\n,"; 0123456789aé')), max_size=14
                    ),
                    st.integers(-99, 10**12),
                    st.none(),
                )
                for _ in DELIVERY_COLUMNS
            ]
        ),
        max_size=12,
    )
)
def test_delivery_csv_is_what_the_csv_module_writes_cell_by_cell(records: list[tuple]) -> None:
    from matinale.publish.delivery import DELIVERY_COLUMNS, _csv_cell, _delivery_csv

    rows = (
        pd.DataFrame(records, columns=list(DELIVERY_COLUMNS))
        if records
        else pd.DataFrame(columns=list(DELIVERY_COLUMNS))
    )
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\n")
    writer.writerow(DELIVERY_COLUMNS)
    writer.writerows(
        [_csv_cell(str(value)) for value in record]
        for record in rows.itertuples(index=False, name=None)
    )
    assert _delivery_csv(rows) == expected.getvalue().encode("utf-8")


# --- what publishing checks again after the checks stage ------------------------------------


class _Client:
    """A real client whose put_object goes through ``put(real, **kwargs)`` (fault injection)."""

    def __init__(self, real, put) -> None:
        self._real, self._put = real, put
        self.read = []  # keys read with get_object

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    def put_object(self, **kwargs):
        return self._put(self._real, **kwargs)

    def get_object(self, **kwargs):
        self.read.append(kwargs["Key"])
        return self._real.get_object(**kwargs)


def _checked_run(tmp_path: Path):
    """A bundle that went through the night's checks stage, and the scanner publish would use."""
    from matinale.night import RunContext, _pii_scanner, run_checks

    ctx = RunContext(
        edition=EDITION, run="20261124T000000Z-chkd", supporters_file="-", brief_file="-"
    )
    store = LocalStore(tmp_path)
    build(store, ctx.bundle)
    store.put_frame(
        f"{ctx.prefix}/private/valid.parquet", CONTACTS[["supporter_id", "first_name", "last_name"]]
    )
    assert run_checks(settings(), store, ctx)["pii"] == 0
    return store, ctx, _pii_scanner(settings(), store, ctx)


def test_files_the_checks_stage_passed_are_not_scanned_again_but_pages_are(
    s3_server, s3_buckets, tmp_path: Path
) -> None:
    client, bucket = s3_server.client(), s3_buckets["bundle"]
    store, ctx, scanner = _checked_run(tmp_path)
    result = _publish(
        client, store, s3_buckets, "20261124T000000Z-skip", scanner, prefix=ctx.bundle
    )
    compliance = json.loads(_read(client, bucket, result["prefix"] + "compliance.json"))["checks"][
        "checks"
    ]
    pages = 1 + len(SEGMENTS)
    # compliance.json and the pages (rendered again with presigned links) are scanned; the rest was passed.
    assert compliance["pii"]["files_scanned"] == pages + 1
    assert (
        compliance["pii"]["files_unchanged_since_checks"]
        == compliance["manifest"]["files_listed"] - pages - 1
    )
    assert compliance["links"]["absolute_links"] > 0 and compliance["links"]["relative_links"] > 0


def test_a_file_changed_after_the_checks_stage_is_scanned_again(
    s3_server, s3_buckets, tmp_path: Path
) -> None:
    from matinale.bundle import read_bundle_files, rebuild_manifest, write_manifest

    client, bucket = s3_server.client(), s3_buckets["bundle"]
    store, ctx, scanner = _checked_run(tmp_path)
    # Changed after the checks, the manifest rebuilt to match: the work store looks consistent.
    posts = store.get_bytes(f"{ctx.bundle}/18-24-p02/posts.md") + "\nAvec Zoé N'Diaye".encode()
    store.put_bytes(f"{ctx.bundle}/18-24-p02/posts.md", posts)
    manifest = json.loads(store.get_bytes(f"{ctx.bundle}/manifest.json"))
    store.put_bytes(
        f"{ctx.bundle}/manifest.json",
        write_manifest(rebuild_manifest(manifest, read_bundle_files(store, ctx.bundle))),
    )
    with pytest.raises(ChecksFailed, match="18-24-p02/posts.md: line .*supporter full name"):
        _publish(client, store, s3_buckets, "20261124T000000Z-tamp", scanner, prefix=ctx.bundle)
    assert _keys(client, bucket, f"editions/{EDITION}/20261124T000000Z-tamp/") == []
    # Other settings than the checks stage's (here the allowlist): every file is scanned again.
    other = PiiScanner.from_frames([CONTACTS], [*settings().pii_allowlist, "Zoé N'Diaye"])
    store2, ctx2, _ = _checked_run(tmp_path / "again")
    result = _publish(
        client, store2, s3_buckets, "20261124T000000Z-allw", other, prefix=ctx2.bundle
    )
    checks = json.loads(_read(client, bucket, result["prefix"] + "compliance.json"))["checks"][
        "checks"
    ]
    assert (
        "files_unchanged_since_checks" not in checks["pii"]
        and checks["pii"]["files_scanned"] > 2 * len(SEGMENTS) * 4
    )


def test_a_body_that_does_not_match_its_checksum_is_refused(
    s3_server, s3_buckets, store, scanner
) -> None:
    def corrupt(real, **kwargs):
        if kwargs["Key"].endswith("65plus-p01/posts.json"):
            kwargs["Body"] = kwargs["Body"] + b" "
        return real.put_object(**kwargs)

    client = _Client(s3_server.client(), corrupt)
    with pytest.raises(
        PublishError, match="BadDigest.*not promoted: the pointers still name the previous run"
    ):
        _publish(client, store, s3_buckets, "20261124T000000Z-corr", scanner)
    assert read_pointer(client, s3_buckets["bundle"], LATEST) is None


def _unverified(flip: str | None = None):
    def put(real, **kwargs):  # a server that ignores checksums, and maybe a byte flipped on the way
        kwargs.pop("ChecksumSHA256", None)
        if flip and kwargs["Key"].endswith(flip):
            kwargs["Body"] = kwargs["Body"][:-1] + bytes([kwargs["Body"][-1] ^ 1])
        response = real.put_object(**kwargs)
        response.pop("ChecksumSHA256", None)
        response.pop("ChecksumCRC32", None)
        return response

    return put


def test_without_checksums_every_object_is_read_back(s3_server, s3_buckets, store, scanner) -> None:
    client = _Client(s3_server.client(), _unverified())
    _publish(client, store, s3_buckets, "20261124T000000Z-nock", scanner)
    uploaded = set(
        _keys(client, s3_buckets["bundle"], "editions/2026-11-24/20261124T000000Z-nock/")
    )
    assert len(uploaded) > 20 and uploaded <= set(client.read)

    client = _Client(s3_server.client(), _unverified(flip="65plus-p01/posts.md"))
    with pytest.raises(
        PublishError, match="65plus-p01/posts.md: read back .* bytes that do not match the manifest"
    ):
        _publish(client, store, s3_buckets, "20261124T000000Z-flip", scanner)
    assert read_pointer(client, s3_buckets["bundle"], LATEST)["run"] == "20261124T000000Z-nock"


def test_an_object_lost_after_its_upload_stops_the_promotion(
    s3_server, s3_buckets, store, scanner
) -> None:
    def lose(real, **kwargs):
        response = real.put_object(**kwargs)
        if kwargs["Key"].endswith("/manifest.json"):  # uploaded last: delete another object now
            real.delete_object(
                Bucket=kwargs["Bucket"],
                Key=kwargs["Key"].replace("manifest.json", "65plus-p01/cards.json"),
            )
        return response

    client = _Client(s3_server.client(), lose)
    with pytest.raises(PublishError, match="65plus-p01/cards.json: missing after its upload"):
        _publish(client, store, s3_buckets, "20261124T000000Z-lost", scanner)
    assert read_pointer(client, s3_buckets["bundle"], LATEST) is None
    # Checksums confirmed: nothing read back.
    assert not [key for key in client.read if "/20261124T000000Z-lost/" in key]


# The delivery file is written on a thread while the bundle uploads: what that overlap must
# not break.
EDITION_RUN = "20261124T050000Z-fail"


def _delivery_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("matinale-delivery-*")}


def test_a_spill_that_fails_after_uploads_began_promotes_nothing_and_leaves_nothing(
    s3_server, s3_buckets, store, scanner
) -> None:
    client, bucket = s3_server.client(), s3_buckets["bundle"]
    _publish(client, store, s3_buckets, "20261124T040000Z-good", scanner)
    uploading = threading.Event()

    def contacts() -> Iterator[pd.DataFrame]:
        yield CONTACTS.iloc[:3]
        # Fail only once the bundle is going up: the overlap's own failure case.
        assert uploading.wait(timeout=60)
        raise OSError("contacts.parquet: Input/output error")

    def progress(step: str, done: int, total: int) -> None:
        if step == "upload" and done == 3:
            uploading.set()

    before = _delivery_folders()
    with pytest.raises(OSError, match="Input/output error"):
        publish_bundle(
            client,
            store,
            "b",
            edition=EDITION,
            run=EDITION_RUN,
            config=_config(s3_buckets),
            scanner=scanner,
            audience=Audience(contacts, lambda: ASSIGNMENTS, lambda: None),
            progress=progress,
        )

    assert uploading.is_set()  # it did fail mid-upload
    assert read_pointer(client, bucket, LATEST)["run"] == "20261124T040000Z-good"
    assert _keys(client, bucket, f"{edition_prefix(EDITION, EDITION_RUN)}/") == []
    assert [k for k in _keys(client, s3_buckets["private"]) if EDITION_RUN in k] == []
    assert _delivery_folders() <= before  # the spilled rows are removed too


def test_the_counts_in_compliance_are_those_of_the_file_spilled_meanwhile(
    s3_server, s3_buckets, store, scanner
) -> None:
    import json

    client = s3_server.client()
    result = _publish(client, store, s3_buckets, "20261124T060000Z-ok", scanner)
    compliance = json.loads(
        client.get_object(Bucket=s3_buckets["bundle"], Key=f"{result['prefix']}compliance.json")[
            "Body"
        ].read()
    )
    body = client.get_object(Bucket=s3_buckets["private"], Key=result["delivery"]["key"])["Body"]
    rows = body.read().decode().splitlines()[1:]

    assert compliance["delivery"]["rows"] == len(rows) == result["delivery"]["rows"] > 0
    assert compliance["checks"]["stage"] == "publish"
