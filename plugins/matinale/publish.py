"""Publish a bundle to S3 atomically, promote it, roll it back, list editions.

Readers only ever follow ``latest.json`` → ``editions/<date>/current.json`` → a run prefix,
so nobody sees half a bundle: until the pointers move, the previous run is served.

Publishing one run, in order:

1. check the credentials and buckets once (one clear error, not a stack of retries);
2. re-render the pages with presigned links (the bucket is private and relative links do
   not survive presigned URLs), and build the private delivery file's rows;
3. run every pre-publish check (``matinale.checks``) on the exact bytes to publish: nothing
   with personal data ever reaches S3, not even under an unpromoted prefix. The files the
   checks stage passed and that are byte for byte unchanged are not scanned again (see
   ``publish_bundle``); the pages, re-rendered here, and compliance.json always are;
4. upload everything under ``editions/<date>/<run>/``, manifest last, each object with the
   SHA-256 of the manifest, which the server verifies before storing it, then list the run's
   objects and compare each size and ETag with what its upload answered (a server that does
   not confirm the checksum has its objects read back and compared with the manifest);
5. write the delivery file to the private bucket (under the run's own key);
6. write ``editions/<date>/current.json``, then ``latest.json`` last (only if this edition is
   not older than the one it names), then the delivery pointer and a history event.

Any failure before step 6 leaves both pointers as they were; a rerun publishes a new run.
A retry of a run whose pointers already moved re-uploads nothing (idempotent).
Takes a boto3 client; ``matinale.airflow`` builds it from the ``aws_default`` connection.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from matinale.bundle import (
    COMPLIANCE,
    MANIFEST,
    PARIS,
    content_type,
    read_bundle_files,
    rebuild_manifest,
    render_pages,
    validate_compliance,
    write_manifest,
)
from matinale.checks import (
    DEFAULT_LIMITS,
    CheckReport,
    PiiScanner,
    Sha256s,
    check_bundle,
    check_manifest,
    checks_fingerprint,
    normalise_phone,
)
from matinale.store import Store

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DELIVERY_COLUMNS",
    "HISTORY",
    "LATEST",
    "Presigner",
    "PublishConfig",
    "PublishError",
    "S3AccessError",
    "check_access",
    "current_key",
    "delivery_rows",
    "edition_prefix",
    "latest_links",
    "signing_client",
    "list_editions",
    "make_client",
    "promote",
    "publish_bundle",
    "read_pointer",
    "resolve_target",
    "retry_config",
    "rollback",
]

log = logging.getLogger(__name__)

LATEST = "latest.json"
HISTORY = "history"
DELIVERY = "delivery"
DELIVERY_COLUMNS = ("supporter_id", "channel", "address", "segment", "link")
_RUN_CACHE = "private, max-age=86400"  # a run's objects never change once promoted
_POINTER_CACHE = "no-cache"
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[A-Za-z]{2,}$")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
#: First characters that make a spreadsheet read a cell as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_WORKERS = 8


class PublishError(RuntimeError):
    """Publishing failed; the pointers still name the previous run."""


class S3AccessError(PublishError):
    """S3 refused us or cannot be reached: wrong credentials, missing bucket, endpoint down."""


def retry_config(max_attempts: int = 6, connect_timeout: float = 5, read_timeout: float = 60) -> Any:
    """botocore's standard retry mode: exponential backoff with jitter on throttling,
    5xx and connection errors, up to ``max_attempts`` tries per call."""
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        signature_version="s3v4",  # SigV4 presigned links: the expiry S3 enforces, up to 7 days
    )


def make_client(
    endpoint_url: str | None,
    access_key: str,
    secret_key: str,
    *,
    region: str = "us-east-1",
    max_attempts: int = 6,
    connect_timeout: float = 5,
) -> Any:
    """A boto3 S3 client with the retry configuration (outside Airflow: CLI, tests)."""
    import boto3
    from botocore.config import Config

    config = retry_config(max_attempts=max_attempts, connect_timeout=connect_timeout)
    if endpoint_url:  # SeaweedFS/MinIO: buckets are not DNS names of a local endpoint
        config = config.merge(Config(s3={"addressing_style": "path"}))
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=config,
    )


def edition_prefix(edition: date, run: str) -> str:
    return f"editions/{edition.isoformat()}/{run}"


def current_key(edition: date | str) -> str:
    day = edition if isinstance(edition, str) else edition.isoformat()
    return f"editions/{day}/current.json"


def _endpoint(client: Any) -> str:
    return str(getattr(client.meta, "endpoint_url", "") or "AWS S3")


def _s3_failure(client: Any, bucket: str, doing: str, exc: Exception) -> S3AccessError:
    """One clear sentence for an S3 error (never the credentials themselves)."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    where = f"s3://{bucket} at {_endpoint(client)}"
    if isinstance(exc, NoCredentialsError):
        return S3AccessError(f"no S3 credentials while {doing} {where}: set the aws_default connection (login/password) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in {"NoSuchBucket", "404", "NotFound"}:
            return S3AccessError(f"bucket {bucket!r} does not exist at {_endpoint(client)} ({doing}): create it (`make up` does locally) or set MATINALE_BUNDLE_BUCKET / MATINALE_PRIVATE_BUCKET")
        if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken", "ExpiredToken"} or status == 403:
            return S3AccessError(f"S3 refused the credentials ({code or status}) while {doing} {where}: check the access key and secret of the aws_default connection and that they may read and write this bucket")
        return S3AccessError(f"S3 error {code or status} while {doing} {where}: {exc.response.get('Error', {}).get('Message', '')}")
    if isinstance(exc, EndpointConnectionError):
        return S3AccessError(f"cannot reach S3 at {_endpoint(client)} while {doing} s3://{bucket}, even after retries with backoff: is the server up and endpoint_url right?")
    return S3AccessError(f"S3 failed while {doing} {where}: {type(exc).__name__}: {exc}")


def check_access(client: Any, *buckets: str) -> None:
    """Fail once, clearly, when the credentials are wrong or a bucket is missing."""
    from botocore.exceptions import BotoCoreError, ClientError

    for bucket in buckets:
        try:
            client.head_bucket(Bucket=bucket)
        except (BotoCoreError, ClientError) as exc:
            raise _s3_failure(client, bucket, "checking", exc) from exc


def read_pointer(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """A pointer's JSON, or None if it does not exist yet."""
    from botocore.exceptions import ClientError

    try:
        return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            return None
        raise


def _put_json(client: Any, bucket: str, key: str, value: Mapping[str, Any]) -> None:
    body = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", CacheControl=_POINTER_CACHE)


def signing_client(client: Any, public_url: str) -> Any:
    """A client that signs links for ``public_url`` with ``client``'s credentials and region.

    A SigV4 signature covers the host, so a link signed for the address the workers use
    (``http://s3:8333`` inside compose) fails from a phone even if rewritten. This client
    never sends a request: it only signs for the address activists reach.
    """
    import boto3

    credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)  # botocore has no public accessor
    if credentials is None:
        raise PublishError("cannot read the S3 client's credentials to sign links for MATINALE_S3_PUBLIC_URL")
    frozen = credentials.get_frozen_credentials()
    return boto3.client(
        "s3",
        endpoint_url=public_url,
        region_name=client.meta.region_name,
        aws_access_key_id=frozen.access_key,
        aws_secret_access_key=frozen.secret_key,
        aws_session_token=frozen.token,
        config=client.meta.config,
    )


class Presigner:
    """Presigned GET links for the objects of one run (no request is made to sign).

    ``public_url``: the S3 address phones reach, when it is not the one ``client`` uses.
    """

    def __init__(self, client: Any, bucket: str, prefix: str, expiry: timedelta, *, public_url: str | None = None) -> None:
        if not timedelta(seconds=1) <= expiry <= timedelta(days=7):
            raise PublishError(f"presigned links last 1 second to 7 days; got {expiry}: fix links.presign_expiry_hours")
        self.client = signing_client(client, public_url) if public_url else client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.seconds = int(expiry.total_seconds())
        probe = self.url("index.html").split("?", 1)[0]
        self.base = probe[: -len("index.html")]

    def url(self, path: str) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": f"{self.prefix}/{path}"}, ExpiresIn=self.seconds
        )

    def __call__(self, path: str) -> str:
        return self.url(path)

    def owns(self, url: str) -> bool:
        """Whether ``url`` is one of this run's presigned links."""
        return url.startswith(self.base) and "X-Amz-Signature=" in url


@dataclass(frozen=True)
class PublishConfig:
    """Where and how to publish; built from Settings by ``matinale.night``."""

    bucket: str
    campaign: Any
    private_bucket: str | None = None
    expiry: timedelta = timedelta(hours=48)
    allowed_domains: tuple[str, ...] = ()
    limits: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    zone: ZoneInfo = PARIS
    actor: str = "matinale"
    #: Where phones reach the bundle bucket, if not at the client's endpoint (MATINALE_S3_PUBLIC_URL).
    public_url: str | None = None


# --- delivery file ----------------------------------------------------------------------


def _csv_cell(value: str) -> str:
    """Neutralise spreadsheet formulas (= + - @) except in an E.164 phone, which is data."""
    if value[:1] in _FORMULA_STARTS and not _E164.match(value):
        return "'" + value
    return value


def delivery_rows(contacts: pd.DataFrame, assignments: pd.DataFrame, links: Mapping[str, str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per consenting supporter and channel (SMS, e-mail): channel, address, segment,
    link to that segment's page. Counts per channel and segment, and of what was left out."""
    import pandas as pd

    segment_column = "segment_id" if "segment_id" in assignments else "segment"
    main = assignments[["supporter_id", segment_column]].rename(columns={segment_column: "segment"})
    # One main segment per person: territorial packs (t-…) overlap and are not the main page.
    main = main.assign(_territorial=main["segment"].astype(str).str.startswith("t-")).sort_values(["supporter_id", "_territorial"], kind="stable")
    main = main.drop_duplicates("supporter_id")[["supporter_id", "segment"]]
    people = contacts.merge(main, on="supporter_id", how="inner")
    frames = []
    skipped = {"no_page": 0, "invalid_address": 0}
    for channel, address_column, consent_column in (("email", "email", "consent_email"), ("sms", "phone", "consent_sms")):
        if address_column not in people or consent_column not in people:
            continue
        consenting = people[people[consent_column].astype(bool) & (people[address_column].astype(str).str.strip() != "")]
        address = consenting[address_column].astype(str).str.strip()
        if channel == "email":
            address = address.str.lower()
            valid = address.str.match(_EMAIL.pattern)
        else:
            address = address.map(normalise_phone)
            valid = address.str.match(_E164.pattern)
        skipped["invalid_address"] += int((~valid).sum())
        frames.append(pd.DataFrame({"supporter_id": consenting["supporter_id"].astype(str), "channel": channel, "address": address, "segment": consenting["segment"].astype(str)})[valid.to_numpy()])
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(DELIVERY_COLUMNS[:-1]))
    has_page = rows["segment"].isin(list(links))
    skipped["no_page"] = int((~has_page).sum())
    rows = rows[has_page].copy()
    rows["link"] = rows["segment"].map(links)
    rows = rows.sort_values(["segment", "channel", "supporter_id"], kind="stable").reset_index(drop=True)
    counts = {
        "rows": len(rows),
        "by_channel": {str(k): int(v) for k, v in rows["channel"].value_counts().sort_index().items()},
        "by_segment": {str(k): int(v) for k, v in rows["segment"].value_counts().sort_index().items()},
        "left_out": skipped,
    }
    return rows[list(DELIVERY_COLUMNS)], counts


@cache
def _quoted_characters() -> str:
    """The characters that make Python's csv writer (minimal quoting, ``\\n`` line ends) quote
    a field, asked of the writer itself: they differ between Python versions (``\\r``)."""
    found = ""
    for char in ',"\n\r\t ;':
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(["a" + char, "b"])
        if out.getvalue().startswith('"'):
            found += char
    return found


def _delivery_csv(rows: pd.DataFrame) -> bytes:
    """The delivery file: ``_csv_cell`` on every cell, in CSV exactly as Python's ``csv``
    module writes it (minimal quoting, ``\\n`` line ends).

    Columnar with Arrow, over each column's distinct values: 1.5M rows of long presigned
    links took ~25 s through Python's csv writer and take ~7 s here.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    quote = pa.scalar('"', text)
    needs_quotes = "[" + re.escape(_quoted_characters()) + "]"
    cells = []
    for column in DELIVERY_COLUMNS:
        # Each distinct value is written once (links and segments repeat for a million rows),
        # as str() gives it (missing ones included), then laid out by the rows' codes.
        series = rows[column]
        if series.isna().any():  # factorize would merge None and NaN, which str() tells apart
            series = series.map(str)
        codes, uniques = pd.factorize(series, use_na_sentinel=False)
        if isinstance(uniques.dtype, pd.StringDtype):  # already text (Arrow-backed in pandas 3)
            values = pa.array(uniques).cast(text)
        else:
            values = pa.array([str(value) for value in uniques], type=text)
        formula = pc.is_in(pc.utf8_slice_codeunits(values, 0, 1), value_set=pa.array(_FORMULA_STARTS, type=text))
        # An E.164 phone is data, not a formula (re.match's $ also accepts one final newline).
        phone = pc.match_substring_regex(values, _E164.pattern.removesuffix("$") + r"\n?$")
        values = pc.if_else(pc.and_(formula, pc.invert(phone)), pc.binary_join_element_wise(pa.scalar("'", text), values, pa.scalar("", text)), values)
        quoted = pc.binary_join_element_wise(quote, pc.replace_substring(values, '"', '""'), quote, pa.scalar("", text))
        cells.append(pc.if_else(pc.match_substring_regex(values, needs_quotes), quoted, values).take(pa.array(codes)))
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(DELIVERY_COLUMNS)
    if not len(rows):
        return header.getvalue().encode("utf-8")
    lines = pc.binary_join_element_wise(*cells, pa.scalar(",", text))
    lines = pc.binary_join_element_wise(lines, pa.scalar("", text), pa.scalar("\n", text))  # each line + "\n"
    # No line is null and each ends with \n: the array's data buffer, between its first and
    # last offsets, is the file's body.
    _, offsets, data = lines.buffers()
    bounds = pa.Array.from_buffers(pa.int64(), len(lines) + 1, [None, offsets], offset=lines.offset)
    body = data[bounds[0].as_py() : bounds[-1].as_py()].to_pybytes()
    return header.getvalue().encode("utf-8") + body


def delivery_key(edition: date, run: str) -> str:
    return f"{DELIVERY}/{edition.isoformat()}/{run}/delivery.csv"


# --- publishing -------------------------------------------------------------------------


def _parallel(items: list[Any], work: Callable[[Any], None], progress: Callable[[str, int, int], None] | None, step: str) -> None:
    total = len(items)
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                future.result()
                if progress:
                    progress(step, done, total)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _history(client: Any, bucket: str, event: str, edition: str, run: str, **details: Any) -> None:
    now = datetime.now(UTC)
    key = f"{HISTORY}/{now:%Y%m%dT%H%M%S%fZ}-{event}-{edition}-{run}.json"
    _put_json(client, bucket, key, {"event": event, "edition": edition, "run": run, "at": now.isoformat(timespec="seconds"), **details})


def promote(client: Any, bucket: str, edition: date, run: str, *, event: str = "publish", actor: str = "matinale", reason: str = "", private_bucket: str | None = None) -> dict[str, Any]:
    """Move the pointers to a run: current.json of its date, then latest.json (written last,
    and only if this edition is not older than the one latest.json names)."""
    target = edition_prefix(edition, run)
    pointer = {
        "edition": edition.isoformat(),
        "run": run,
        "prefix": f"{target}/",
        "manifest": f"{target}/{MANIFEST}",
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "event": event,
    }
    previous_latest = read_pointer(client, bucket, LATEST)
    previous_current = read_pointer(client, bucket, current_key(edition))
    _put_json(client, bucket, current_key(edition), pointer)
    moves_latest = event == "rollback" or previous_latest is None or previous_latest.get("edition", "") <= edition.isoformat()
    if moves_latest:
        _put_json(client, bucket, LATEST, pointer)
    if private_bucket:
        key = delivery_key(edition, run)
        if _exists(client, private_bucket, key):
            _put_json(client, private_bucket, f"{DELIVERY}/{edition.isoformat()}/current.json", {"edition": edition.isoformat(), "run": run, "delivery": key})
    _history(
        client,
        bucket,
        event,
        edition.isoformat(),
        run,
        actor=actor,
        reason=reason,
        latest_moved=moves_latest,
        previous_latest=(previous_latest or {}).get("prefix"),
        previous_current=(previous_current or {}).get("prefix"),
    )
    return {**pointer, "latest_moved": moves_latest}


def _was_promoted(client: Any, bucket: str, edition: date, run: str) -> bool:
    """Whether the history records a promotion of this run (from the keys alone)."""
    suffix = f"-{edition.isoformat()}-{run}.json"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{HISTORY}/"):
        for item in page.get("Contents", []):
            if item["Key"].endswith(suffix):
                return True
    return False


def _exists(client: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def _passed_before(files: Mapping[str, bytes], manifest: Mapping[str, Any], config: PublishConfig, scanner: PiiScanner) -> dict[str, str] | None:
    """The files (path → sha256) a passed bundle-stage check covered, if it still holds.

    ``manifest`` was just verified against ``files`` (every size and sha256, nothing missing
    or extra). compliance.json records the checks stage's pass and its fingerprint of the
    files it checked and of its settings; when the fingerprint of the same files and of
    this publish's settings is the same, those files (all but compliance.json) need no new
    PII or link scan. Otherwise (no such pass, a file or a setting changed since): None,
    and every file is scanned again.
    """
    try:
        checks = json.loads(files[COMPLIANCE]).get("checks") or {}
    except (KeyError, ValueError, AttributeError):
        return None
    if checks.get("stage") != "bundle" or checks.get("passed") is not True or not isinstance(checks.get("fingerprint"), str):
        return None
    listed = {entry["path"]: entry["sha256"] for entry in manifest["files"] if entry["path"] != COMPLIANCE}
    if checks_fingerprint(listed, scanner=scanner, allowed_domains=config.allowed_domains, limits=config.limits) != checks["fingerprint"]:
        log.info("The checks stage's pass does not cover these files or settings: every file is scanned again")
        return None
    return listed


def _verify_listing(
    client: Any, bucket: str, target: str, entries: list[dict[str, Any]], etags: Mapping[str, str], progress: Callable[[str, int, int], None] | None
) -> None:
    """Every object of the run is there, with its size and the ETag its upload answered.

    One listing (a thousand objects a request) instead of one request per object: together
    with the checksum the server verified on each upload, it proves the run's objects are
    the manifest's bytes when the pointers move (nothing missing, cut short or overwritten).
    """
    listed: dict[str, tuple[int, str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{target}/"):
        for item in page.get("Contents", []):
            listed[item["Key"][len(target) + 1 :]] = (int(item["Size"]), str(item.get("ETag", "")))
    total = len(entries)
    for done, entry in enumerate(entries, start=1):
        size, etag = listed.get(entry["path"], (None, ""))
        if size is None:
            raise PublishError(f"s3://{bucket}/{target}/{entry['path']}: missing after its upload; nothing promoted, rerun")
        if size != entry["bytes"] or etag != etags.get(entry["path"]):
            raise PublishError(
                f"s3://{bucket}/{target}/{entry['path']}: the server lists {size} bytes (ETag {etag}) that do not match the upload ({entry['bytes']} bytes, ETag {etags.get(entry['path'])}); nothing promoted, rerun"
            )
        if progress:
            progress("verify", done, total)


def publish_bundle(
    client: Any,
    store: Store,
    prefix: str,
    *,
    edition: date,
    run: str,
    config: PublishConfig,
    scanner: PiiScanner,
    audience: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Publish the bundle built under ``prefix`` in the work store as ``editions/<date>/<run>/``.

    ``audience`` is ``(contacts, assignments)`` from the private store, for the delivery file.
    ``progress(step, done, total)`` is called after each upload and each verification.

    What is checked again, and why that is enough:

    - Every file of the work store is hashed once and compared with the manifest (sizes,
      SHA-256, nothing missing or extra): a file changed after the checks stage, without
      rebuilding the manifest, stops the publish here.
    - The PII and link scans run again on every file publishing writes: the pages (rendered
      again with presigned links) and compliance.json. Every other file is published with
      the very bytes the manifest lists. They are not scanned again when compliance.json
      records a passed checks stage whose fingerprint (``checks.checks_fingerprint``: each
      file's path and SHA-256, the allowed domains, the limits, the PII allowlist and the
      size of the PII reference) is the one computed here from the verified manifest and
      this publish's settings: those exact bytes passed those exact checks. A file changed
      since (even with the manifest rebuilt to match), a changed setting or a bundle the
      checks stage never passed changes the fingerprint: then every file is scanned again.
      The fingerprint guards against mistakes and stale files, not against someone who can
      rewrite the work store at will (they could rewrite the bundle stage's output too).
    - The manifest check (sizes, SHA-256, file list, schemas) always covers every file, and
      the final manifest and compliance.json are validated before anything is uploaded.
    - Each upload carries the manifest's SHA-256 (``x-amz-checksum-sha256``): the server
      refuses a body that does not match and echoes the checksum it verified. The manifest is
      uploaded last; then one listing of the run checks every object's presence, size and
      ETag against its upload's answer, before any pointer moves. Objects whose upload was not
      confirmed with the checksum (a server that ignores it) are read back and compared with
      the manifest, as every object used to be.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = config.bucket
    target = edition_prefix(edition, run)
    check_access(client, *(b for b in (bucket, config.private_bucket if audience is not None else None) if b))

    current = read_pointer(client, bucket, current_key(edition))
    if current and current.get("run") == run:
        log.info("Run %s is already promoted for %s: nothing re-uploaded (idempotent retry)", run, edition)
        promoted = promote(client, bucket, edition, run, event="publish-retry", actor=config.actor, private_bucket=config.private_bucket)
        return {"bucket": bucket, "prefix": f"{target}/", "files": None, "already_promoted": True, **_links(client, bucket, target, config, read_pointer(client, bucket, f"{target}/{MANIFEST}") or {}), "latest_moved": promoted["latest_moved"]}

    if _was_promoted(client, bucket, edition, run):
        raise PublishError(
            f"run {run} of {edition} was promoted before and another run has replaced it since: its objects are not "
            f"rewritten. To serve it again: matinale rollback --to {edition}/{run}"
        )

    manifest = json.loads(store.get_bytes(f"{prefix}/{MANIFEST}"))
    files = read_bundle_files(store, prefix)
    sha256 = Sha256s()  # every file object hashed once, whatever checks or rebuilds it
    before = check_manifest(files, manifest, sha256=sha256)
    if not before.passed:
        raise PublishError("the bundle in the work store does not match its manifest (checksum or file list); rebuild it:\n  " + "\n  ".join(str(f) for f in before.findings[:10]))
    passed = _passed_before(files, manifest, config, scanner)

    published_at = datetime.now(UTC)
    presign = Presigner(client, bucket, target, config.expiry, public_url=config.public_url)
    files.update(render_pages(files, manifest, campaign=config.campaign, zone=config.zone, published_at=published_at, linker=lambda _dir: presign))

    rows = None
    delivery_counts: dict[str, Any] | None = None
    if audience is not None and config.private_bucket:
        links = {s["id"]: presign(s["page"]) for s in manifest["segments"]}
        rows, delivery_counts = delivery_rows(audience[0], audience[1], links)

    report: CheckReport = check_bundle(
        files,
        rebuild_manifest(manifest, files, digest_of=sha256),
        scanner=scanner,
        allowed_domains=config.allowed_domains,
        limits=config.limits,
        own_link=presign.owns,
        passed=passed,
        sha256=sha256,
    )
    report.raise_for_findings()

    compliance = json.loads(files[COMPLIANCE])
    compliance["checks"] = {"stage": "publish", **report.summary()}
    compliance["delivery"] = delivery_counts
    validate_compliance(compliance)
    files[COMPLIANCE] = write_manifest(compliance)
    final = rebuild_manifest(
        manifest,
        files,
        digest_of=sha256,
        published_at=published_at.isoformat(timespec="seconds"),
        link_expiry_hours=max(1, int(config.expiry.total_seconds() // 3600)),
    )
    last = check_manifest(files, final, sha256=sha256)
    last.raise_for_findings()
    manifest_bytes = write_manifest(final)
    entries = final["files"]
    manifest_item = {"path": MANIFEST, "bytes": len(manifest_bytes), "sha256": sha256(manifest_bytes), "content_type": content_type(MANIFEST)}
    bodies = {**files, MANIFEST: manifest_bytes}
    etags: dict[str, str] = {}
    unconfirmed: list[dict[str, Any]] = []

    def upload(entry: dict[str, Any]) -> None:
        # The server checks the body against the manifest's SHA-256 and refuses it otherwise
        # (BadDigest); its answer echoes the checksum it verified.
        checksum = base64.b64encode(bytes.fromhex(entry["sha256"])).decode("ascii")
        response = client.put_object(
            Bucket=bucket, Key=f"{target}/{entry['path']}", Body=bodies[entry["path"]], ContentType=entry["content_type"], CacheControl=_RUN_CACHE, ChecksumSHA256=checksum
        )
        etags[entry["path"]] = str(response.get("ETag", ""))
        if response.get("ChecksumSHA256") != checksum:
            unconfirmed.append(entry)  # a server that does not verify checksums: read it back

    def read_back(entry: dict[str, Any]) -> None:
        body = client.get_object(Bucket=bucket, Key=f"{target}/{entry['path']}")["Body"].read()
        if len(body) != entry["bytes"] or hashlib.sha256(body).hexdigest() != entry["sha256"]:
            raise PublishError(f"s3://{bucket}/{target}/{entry['path']}: read back {len(body)} bytes that do not match the manifest ({entry['bytes']} bytes); nothing promoted, rerun")

    doing = "uploading to"
    try:
        _parallel(entries, upload, progress, "upload")
        upload(manifest_item)  # last: a run without its manifest is never served
        doing = "reading back from"
        _verify_listing(client, bucket, target, [*entries, manifest_item], etags, progress)
        _parallel(unconfirmed, read_back, None, "verify")
        if rows is not None and config.private_bucket:
            doing = "writing the delivery file to"
            client.put_object(Bucket=config.private_bucket, Key=delivery_key(edition, run), Body=_delivery_csv(rows), ContentType="text/csv; charset=utf-8")
            _put_json(client, config.private_bucket, delivery_key(edition, run).replace(".csv", ".json"), {"edition": edition.isoformat(), "run": run, **(delivery_counts or {})})
        doing = "moving the pointers in"
        promoted = promote(client, bucket, edition, run, actor=config.actor, private_bucket=config.private_bucket)
    except (BotoCoreError, ClientError) as exc:
        failure = _s3_failure(client, bucket, doing, exc)
        raise PublishError(f"{failure}. Run {run} was not promoted: the pointers still name the previous run; rerun to publish") from exc

    log.info("Published %d files under s3://%s/%s/ (checks: %s)", len(entries) + 1, bucket, target, json.dumps(report.summary()["checks"]))
    return {
        "bucket": bucket,
        "prefix": f"{target}/",
        "files": len(entries) + 1,
        "bytes": sum(e["bytes"] for e in entries) + len(manifest_bytes),
        "page_bytes_max": max((e["bytes"] for e in entries if e["kind"] == "page"), default=0),
        "delivery": delivery_counts and {"key": delivery_key(edition, run), "rows": delivery_counts["rows"], "by_channel": delivery_counts["by_channel"]},
        "latest_moved": promoted["latest_moved"],
        **_links(client, bucket, target, config, final),
    }


def _links(client: Any, bucket: str, target: str, config: PublishConfig, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Fresh presigned links to the overview and one segment page (for logs and `make up`)."""
    presign = Presigner(client, bucket, target, config.expiry, public_url=config.public_url)
    segments = manifest.get("segments") or []
    return {"overview_url": presign("index.html"), "sample_page_url": presign(segments[0]["page"]) if segments else None}


# --- editions and rollback --------------------------------------------------------------


def _common_prefixes(client: Any, bucket: str, prefix: str) -> list[str]:
    names: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        names.extend(item["Prefix"][len(prefix) :].rstrip("/") for item in page.get("CommonPrefixes", []))
    return sorted(names)


def _history_events(client: Any, bucket: str) -> list[dict[str, Any]]:
    events = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{HISTORY}/"):
        for item in page.get("Contents", []):
            events.append(json.loads(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
    return sorted(events, key=lambda e: e.get("at", ""))


def list_editions(client: Any, bucket: str) -> list[dict[str, Any]]:
    """Every edition and run with its status: latest, current, promoted before, not promoted
    (uploaded but never promoted: a failed check or an interrupted publish) or incomplete."""
    check_access(client, bucket)
    latest = read_pointer(client, bucket, LATEST) or {}
    events = _history_events(client, bucket)
    promoted_runs = {(e["edition"], e["run"]) for e in events if e.get("event") in {"publish", "publish-retry", "rollback"}}
    rows = []
    for day in _common_prefixes(client, bucket, "editions/"):
        if not _DATE.match(day):
            continue
        current = read_pointer(client, bucket, current_key(day)) or {}
        for run in _common_prefixes(client, bucket, f"editions/{day}/"):
            manifest_key = f"editions/{day}/{run}/{MANIFEST}"
            if latest.get("edition") == day and latest.get("run") == run:
                status = "latest"
            elif current.get("run") == run:
                status = "current"
            elif (day, run) in promoted_runs:
                status = "promoted before"
            elif _exists(client, bucket, manifest_key):
                status = "not promoted"
            else:
                status = "incomplete"
            rows.append({"edition": day, "run": run, "status": status})
    return rows


def resolve_target(client: Any, bucket: str, target: str) -> tuple[date, str]:
    """``YYYY-MM-DD/<run>`` as given, or ``YYYY-MM-DD``: the run that was promoted last for
    that date, other than the one latest.json names now."""
    day, _, run = target.partition("/")
    if not _DATE.match(day):
        raise PublishError(f"--to {target!r}: expected YYYY-MM-DD or YYYY-MM-DD/<run>")
    if run:
        return date.fromisoformat(day), run
    latest = read_pointer(client, bucket, LATEST) or {}
    candidates = [
        e["run"]
        for e in _history_events(client, bucket)
        if e.get("edition") == day and e.get("event") in {"publish", "publish-retry", "rollback"} and not (latest.get("edition") == day and latest.get("run") == e["run"])
    ]
    if not candidates:
        raise PublishError(f"no earlier promoted run for {day}: see `matinale editions` and pass --to {day}/<run>")
    return date.fromisoformat(day), candidates[-1]


def rollback(client: Any, bucket: str, target: str, *, actor: str, reason: str = "", private_bucket: str | None = None) -> dict[str, Any]:
    """Move the pointers back to an earlier promoted run: staff's kill switch.

    The target must have been promoted before and be complete (every file of its manifest
    present with its size). Links inside its pages were presigned when it was published:
    the result says when they expire.
    """
    check_access(client, bucket)
    edition, run = resolve_target(client, bucket, target)
    prefix = edition_prefix(edition, run)
    events = _history_events(client, bucket)
    if not any(e.get("edition") == edition.isoformat() and e.get("run") == run and e.get("event") in {"publish", "publish-retry", "rollback"} for e in events):
        raise PublishError(f"{edition}/{run} was never promoted (a failed or interrupted publish): roll back only to a run listed as promoted by `matinale editions`")
    manifest = read_pointer(client, bucket, f"{prefix}/{MANIFEST}")
    if manifest is None:
        raise PublishError(f"{edition}/{run} has no manifest: it is incomplete and cannot be served")
    sizes = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        sizes.update({item["Key"][len(prefix) + 1 :]: item["Size"] for item in page.get("Contents", [])})
    broken = [e["path"] for e in manifest["files"] if sizes.get(e["path"]) != e["bytes"]]
    if broken:
        raise PublishError(f"{edition}/{run} is incomplete ({len(broken)} files missing or of the wrong size, e.g. {broken[0]}): choose another run")
    pointer = promote(client, bucket, edition, run, event="rollback", actor=actor, reason=reason, private_bucket=private_bucket)
    expires = None
    if manifest.get("published_at") and manifest.get("link_expiry_hours"):
        expires = (datetime.fromisoformat(manifest["published_at"]) + timedelta(hours=int(manifest["link_expiry_hours"]))).isoformat(timespec="minutes")
    log.warning("Rollback by %s to %s/%s%s", actor, edition, run, f" ({reason})" if reason else "")
    return {**pointer, "links_expire_at": expires}


def latest_links(client: Any, bucket: str, expiry: timedelta, *, public_url: str | None = None) -> dict[str, Any] | None:
    """Fresh presigned links to the promoted edition's overview and first segment page,
    or None while nothing has been published."""
    pointer = read_pointer(client, bucket, LATEST)
    if pointer is None:
        return None
    target = pointer["prefix"].rstrip("/")
    manifest = read_pointer(client, bucket, f"{target}/{MANIFEST}") or {}
    presign = Presigner(client, bucket, target, expiry, public_url=public_url)
    segments = manifest.get("segments") or []
    return {
        "edition": pointer["edition"],
        "run": pointer["run"],
        "overview_url": presign("index.html"),
        "segment": segments[0]["id"] if segments else None,
        "sample_page_url": presign(segments[0]["page"]) if segments else None,
    }
