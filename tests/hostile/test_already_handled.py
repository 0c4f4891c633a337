"""Hostile input already handled before the hostile-input issue, kept handled.

Empty and header-only files, NUL bytes, 10,000 columns, formula injection, HTML/JS and Jinja
in the brief, a path in an id, and a wrong S3 endpoint. Each case drives the code the night
runs and asserts the outcome, that every row read lands in one bucket (quarantined,
suppressed, merged or valid) and that no raw value reaches a message or the logs. The time a
case takes is printed (``-s``), never asserted; README's "Hostile input" table reports it.
(S3 killed mid-publish is ``tests/hostile/test_publish_faults.py``.)
"""

from __future__ import annotations

import csv
import io
import json
import logging
import socket
import time
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from bundle_samples import SEGMENTS, build
from segment_samples import SENIORS

from matinale.bundle import BundleError, make_pack
from matinale.cli import main
from matinale.content import BriefError, load_brief, render_segment_posts
from matinale.errors import MatinaleError, is_retryable
from matinale.ingest import EmptyFileError, IngestResult, UnreadableFileError, ingest_supporters
from matinale.publish import S3AccessError, check_access, make_client
from matinale.publish.delivery import delivery_rows, write_delivery
from matinale.segment import Segment
from matinale.settings import Settings, load_settings
from matinale.store import LocalStore, S3Store, StoreError

pytestmark = pytest.mark.hostile

ROOT = Path(__file__).resolve().parents[2]
ON = date(2026, 11, 24)
HEADER = (
    "supporter_id,first_name,last_name,email,phone,birth_date,postal_code,insee_com,"
    "consent_email,consent_sms\n"
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _row(sid: str, first: str = "Jeanne", last: str = "Martin", phone: str = "") -> str:
    return (
        f"{sid},{first},{last},{sid.lower()}@example.org,{phone},1970-03-21,01400,01001,oui,oui\n"
    )


def _timed(label: str, start: float, capsys: pytest.CaptureFixture[str] | None = None) -> None:
    line = f"[hostile] {label}: {time.perf_counter() - start:.4f} s"
    if capsys is None:
        print(line)
        return
    with capsys.disabled():  # shown with -s although the test reads the CLI's output
        print(line)


def _accounted(result: IngestResult) -> None:
    """Nothing lost: every row read is in exactly one bucket."""
    counts = result.counts
    buckets = ("valid", "quarantined", "duplicates_merged", "suppressed")
    assert counts["rows_read"] == sum(counts[bucket] for bucket in buckets), counts
    assert len(result.valid) == counts["valid"]


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    """``matinale validate --json`` as staff run it."""
    capsys.readouterr()
    code = main(["validate", str(path), "--on", ON.isoformat(), "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def settings() -> Settings:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MATINALE_HOME", str(ROOT))
        return load_settings()


# ------------------------------------------------------------------ empty files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (HEADER.encode(), "the file has a header but no rows"),
        (
            b"\xef\xbb\xbf" + HEADER.encode() + b",,,,,,,,,\n,,\n",
            "the file has a header but no rows",
        ),
    ],
    ids=["empty", "header-only", "header-and-blank-lines"],
)
def test_empty_and_header_only_files_stop_with_the_file_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    start = time.perf_counter()
    with pytest.raises(EmptyFileError, match=f"export.csv: {message}") as caught:
        ingest_supporters(path, reference_date=ON)
    _timed(f"{message!r}", start, capsys)
    assert not caught.value.retryable  # the same file fails again: no retry
    code, summary = _validate(path, capsys)
    assert code == 2 and message in summary["error"] and summary["rows_read"] is None


# ------------------------------------------------------------------ NUL bytes


@pytest.mark.parametrize("far", [False, True], ids=["in-the-head", "past-64-KiB"])
def test_a_nul_byte_anywhere_stops_the_file_naming_the_line_not_the_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, far: bool
) -> None:
    # Past the first 64 KiB a NUL used to reach names and ids as data (fixed: whole file).
    rows = [_row(f"S{i}", first="Anne") for i in range(1, 1500 if far else 3)]
    line = len(rows) + 2
    bad = _row(f"S{line}", first="Jo\x00sette", last="Secretnom")
    path = tmp_path / "export.csv"
    path.write_bytes((HEADER + "".join(rows) + bad + _row("S9999")).encode())
    assert (path.stat().st_size > 65536) is far
    caplog.set_level(logging.DEBUG)
    start = time.perf_counter()
    with pytest.raises(UnreadableFileError, match=f"NUL byte on line {line}") as caught:
        ingest_supporters(path, reference_date=ON)
    _timed(f"NUL byte on line {line}", start, capsys)
    code, summary = _validate(path, capsys)
    assert code == 2 and f"line {line}" in summary["error"]
    for shown in (str(caught.value), summary["error"], caplog.text):
        assert "Jo" not in shown and "Secretnom" not in shown and "\x00" not in shown


# ------------------------------------------------------------------ 10,000 columns


def test_ten_thousand_columns_are_read_and_extra_ones_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    extra = [f"champ_{i}" for i in range(10_000 - 4)]
    header = ",".join(["supporter_id", "email", "postal_code", "birth_date", *extra])
    rows = [
        ",".join([f"S{i}", f"s{i}@example.org", "01400", "1970-03-21", *["x"] * len(extra)])
        for i in range(1, 5)
    ]
    rows.append("S5,cachee@example.org,01400")  # a short row: shifted cells mean nothing
    path = tmp_path / "wide.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    start = time.perf_counter()
    result = ingest_supporters(path, reference_date=ON)
    _timed("10,000 columns, 5 rows", start, capsys)
    _accounted(result)
    assert (result.counts["valid"], result.counts["quarantined"]) == (4, 1)
    assert len(result.info["ignored_columns"]) == len(extra)
    problem = result.quarantine.iloc[0]
    assert (problem["line"], problem["reason"]) == (6, "wrong_field_count")
    assert problem["value"] == "3 champs au lieu de 10000"
    report = result.quarantine_csv().decode("utf-8-sig")
    assert "cachee" not in report and "cachee" not in caplog.text
    code, summary = _validate(path, capsys)
    assert code == 1 and summary["quarantined"] == 1


# ------------------------------------------------------------------ formula injection


def test_formulas_are_neutralised_in_the_quarantine_report_and_the_delivery_csv(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = HEADER.replace("\n", ",age\n") + (
        '=1+1,"=HYPERLINK(""https://x.example/?""&A1)",Martin,a@example.org,06 12 34 56 78,'
        "1970-03-21,01400,01001,oui,oui,\n"
        "@SUM(A1),+cmd,-Roy,b@example.org,,1970-03-21,01400,01001,oui,oui,\n"
        "S3,Anne,Roy,c@example.org,,,01400,01001,oui,oui,=2+5\n"
        "S4,Anne,Roy,d@example.org,,1970-03-21,=1+1,,oui,oui,\n"
        "S5,Anne,Roy,=e@example.org,,1970-03-21,01400,01001,oui,oui,\n"
        "-S6,Anne,Roy,f@example.org,,1970-03-21,01400,01001,oui,oui,\n"
    )
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    start = time.perf_counter()
    result = ingest_supporters(path, reference_date=ON)
    report = list(csv.DictReader(io.StringIO(result.quarantine_csv().decode("utf-8-sig"))))
    _timed("formula cells, ingest and quarantine report", start)
    _accounted(result)
    assert [(r["line"], r["column"], r["value"], r["reason"]) for r in report] == [
        ("4", "age", "'=2+5", "unreadable_age"),
        ("5", "postal_code", "'=1+1", "invalid_postal_code"),
    ]
    assert {"=1+1", "@SUM(A1)", "S5", "-S6"} == set(result.valid["supporter_id"])

    class Capture:
        def __init__(self) -> None:
            self.bodies: dict[str, bytes] = {}

        def put_object(self, **call: Any) -> None:
            self.bodies[call["Key"]] = call["Body"]

    client = Capture()
    assignments = pd.DataFrame({"supporter_id": result.valid["supporter_id"], "segment_id": "s1"})
    start = time.perf_counter()
    rows, counts = delivery_rows(result.valid, assignments, {"s1": "https://x.example/p/t"})
    write_delivery(client, "private", ON, "run1", rows, counts)  # type: ignore[arg-type]
    _timed("formula cells, delivery CSV", start)
    body = next(v for k, v in client.bodies.items() if k.endswith("delivery.csv")).decode()
    cells = [cell for line in csv.reader(io.StringIO(body)) for cell in line]
    assert "+33612345678" in cells  # an E.164 phone is data, not a formula
    risky = [c for c in cells if c.startswith(FORMULA_STARTS) and c != "+33612345678"]
    assert risky == []
    assert {"'=1+1", "'@SUM(A1)", "'-S6", "'=e@example.org"} <= set(cells)
    assert counts["rows"] == 5  # 4 e-mails and 1 SMS: nobody dropped for their cells
    assert "HYPERLINK" not in caplog.text and "a@example.org" not in caplog.text


# ------------------------------------------------------------------ HTML/JS and Jinja in the brief

HOSTILE = "{{ 7 * 7 }} {% for x in range(3) %}x{% endfor %} <script>alert(1)</script>"


def test_html_js_and_jinja_in_the_brief_stay_text(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sample = (ROOT / "content_templates" / "sample_brief.yaml").read_text(encoding="utf-8")
    path = tmp_path / "2026-11-24.yaml"
    path.write_text(sample.replace("Ouvrir 500 maisons de santé", HOSTILE), encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    start = time.perf_counter()
    brief = load_brief(path, ON, allowed_domains=settings.allowed_domains)
    segment = Segment.from_json({**SENIORS, "top_interests": ["sante"]})
    posts = render_segment_posts(
        segment,
        brief,
        campaign=settings.campaign,
        templates_dir=settings.templates_dir,
        allowed_domains=settings.allowed_domains,
        channels=("facebook", "email"),
        variants=settings.variants,
    ).posts
    _timed("HTML/JS/Jinja in the brief, content stage", start)
    sante = [p for p in posts if p["theme"] == "sante"]
    text = next(p for p in sante if p["channel"] == "facebook")["text"]
    html = next(p for p in sante if p["channel"] == "email")["html"]
    assert HOSTILE in text and "49" not in text and "xxx" not in text  # data, not a template
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    store = LocalStore(tmp_path / "store")
    start = time.perf_counter()
    build(store, "b", segments=[{**SEGMENTS[0], "label": "<b>65+</b>"}], extra_text=HOSTILE)
    _timed("HTML/JS/Jinja in the brief, phone page", start)
    page = store.get_bytes(f"b/{SEGMENTS[0]['id']}/index.html").decode()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "{{ 7 * 7 }}" in page and "<b>65+</b>" not in page
    assert "<script>alert" not in caplog.text


# ------------------------------------------------------------------ a path in an id


def test_a_path_in_a_theme_id_is_refused_where_it_is_written(
    settings: Settings, tmp_path: Path
) -> None:
    sample = (ROOT / "content_templates" / "sample_brief.yaml").read_text(encoding="utf-8")
    path = tmp_path / "2026-11-24.yaml"
    path.write_text(sample.replace("id: sante", "id: ../../etc/passwd", 1), encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(
        BriefError, match=r"2026-11-24\.yaml:\d+: themes\[1\]\.id: .* must be a slug"
    ):
        load_brief(path, ON, allowed_domains=settings.allowed_domains)
    _timed("a path as a theme id", start)


@pytest.mark.parametrize("bad", ["../x", "65plus-p01/../../x", "..", "a/b"])
def test_a_path_in_a_segment_id_is_refused_before_any_file(tmp_path: Path, bad: str) -> None:
    start = time.perf_counter()
    with pytest.raises(BundleError, match="not a slug"):
        build(LocalStore(tmp_path), "b", segments=[{**SEGMENTS[0], "id": bad}], write=False)
    _timed(f"a path as a segment id ({bad})", start)
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere


@pytest.mark.parametrize("key", ["../x", "b/../../x", "/etc/passwd", "b/./x", "b\\..\\x"])
def test_a_path_in_a_store_key_or_pack_name_is_refused(tmp_path: Path, key: str) -> None:
    store = LocalStore(tmp_path / "store")
    start = time.perf_counter()
    with pytest.raises(StoreError, match="unsafe work-store key"):
        store.put_bytes(key, b"x")
    with pytest.raises(StoreError, match="unsafe work-store key"):
        store.get_bytes(key)
    _timed(f"a path as a store key ({key!r})", start)
    assert not (tmp_path / "x").exists() and not (tmp_path / "store").exists()
    if not key.startswith("/") and "\\" not in key:
        with pytest.raises(BundleError, match="zip-slip"):
            make_pack({key: b"x"})


# ------------------------------------------------------------------ wrong endpoint


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_wrong_endpoint_fails_fast_and_retryable_without_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    secret = "hostile-secret-value-0123456789"
    client = make_client(endpoint, "hostile-access-key", secret)  # the night's retries (6)
    caplog.set_level(logging.DEBUG)
    start = time.perf_counter()
    with pytest.raises(S3AccessError, match="cannot reach S3 at") as caught:
        check_access(client, "matinale-bundles", "matinale-private")
    _timed("wrong endpoint, check_access (6 attempts)", start)
    assert caught.value.retryable and is_retryable(caught.value)
    assert isinstance(caught.value, MatinaleError)
    assert endpoint in str(caught.value) and "s3://matinale-bundles" in str(caught.value)
    store = S3Store(make_client(endpoint, "hostile-access-key", secret, max_attempts=2), "p", "r")
    start = time.perf_counter()
    with pytest.raises(Exception, match="Could not connect to the endpoint URL") as raw:
        store.get_bytes("runs/x.json")
    _timed("wrong endpoint, S3Store.get_bytes (2 attempts)", start)
    assert is_retryable(raw.value)  # botocore's own error: the task is retried
    for shown in (str(caught.value), str(raw.value), caplog.text):
        assert secret not in shown
