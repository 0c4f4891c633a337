"""S3 killed at each write of a promotion, on a real SeaweedFS: the pointers end consistent.

A client wrapper SIGKILLs the server right before the Nth write of a pointer-like key
(``editions/<date>/current.json``, ``latest.json``, the delivery pointer, the history
event). The publish must fail with a message that says exactly where the pointers stand;
after a restart on the same data, the retry of the run (or the next run) completes the
move, ``matinale editions`` flags the split in between, and the retention removes what a
publish that could not clean up left behind, counted.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from bundle_samples import EDITION, build, settings

from matinale.checks import PiiScanner, limits_from
from matinale.dev.seaweed import S3Credentials, SeaweedS3
from matinale.publish import (
    LATEST,
    PublishConfig,
    PublishError,
    current_key,
    list_editions,
    make_client,
    publish_bundle,
    read_pointer,
    split_pointers,
)
from matinale.publish.expiry import expire_bundles
from matinale.store import LocalStore

pytestmark = [pytest.mark.hostile, pytest.mark.s3]

CONTACTS = pd.DataFrame(
    {
        "supporter_id": ["S0000001", "S0000002"],
        "first_name": ["Hélène", "Jean"],
        "last_name": ["Dupont", "Le Gall"],
        "email": ["helene.dupont@example.org", "jean@example.fr"],
        "phone": ["06 39 98 00 01", ""],
        "consent_email": [True, True],
        "consent_sms": [True, False],
    }
)
ASSIGNMENTS = pd.DataFrame(
    {"supporter_id": ["S0000001", "S0000002"], "segment_id": ["65plus-p01", "18-24-p02"]}
)
DAY = EDITION.isoformat()
GOOD, NEW, NEXT = "20261124T000000Z-good", "20261124T010000Z-new", "20261124T020000Z-next"
#: The writes of a promotion, in order (see ``matinale.publish.pointers.promote``).
WRITES = [f"editions/{DAY}/current.json", LATEST, f"delivery/{DAY}/current.json", "history/"]


def _pointer_like(key: str) -> bool:
    return key.endswith("/current.json") or key == LATEST or key.startswith("history/")


class KillingClient:
    """A boto3 client that SIGKILLs ``server`` right before its ``nth`` pointer write."""

    def __init__(self, client: Any, server: SeaweedS3, nth: int) -> None:
        self._client, self._server, self._nth = client, server, nth
        self.pointer_writes = 0
        self.killed_at: str | None = None

    def put_object(self, **kwargs: Any) -> Any:
        if _pointer_like(kwargs["Key"]):
            self.pointer_writes += 1
            if self.pointer_writes == self._nth:
                self.killed_at = kwargs["Key"]
                self._server.stop(grace=0)  # SIGKILL: gone before this write is sent
        return self._client.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A dedicated server (the session's one must never be killed), restarted on its data."""
    server = SeaweedS3(
        tmp_path_factory.mktemp("faults"), S3Credentials.generate(), s3_port=_free_port()
    )
    server.start()
    try:
        yield server
    finally:
        server.stop(grace=1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    store = LocalStore(tmp_path_factory.mktemp("work"))
    build(store, "b")
    return store


def _client(server: SeaweedS3) -> Any:
    return make_client(
        server.endpoint_url,
        server.credentials.access_key,
        server.credentials.secret_key,
        max_attempts=2,
        connect_timeout=1,
    )


def _publish(client: Any, store: LocalStore, buckets: dict[str, str], run: str) -> dict:
    s = settings()
    config = PublishConfig(
        bucket=buckets["bundle"],
        private_bucket=buckets["private"],
        campaign=s.campaign,
        expiry=timedelta(hours=s.presign_expiry_hours),
        allowed_domains=s.allowed_domains,
        limits=limits_from(s.raw),
        zone=s.clocks.campaign_tz,
    )
    scanner = PiiScanner.from_frames([CONTACTS], s.pii_allowlist)
    return publish_bundle(
        client,
        store,
        "b",
        edition=EDITION,
        run=run,
        config=config,
        scanner=scanner,
        audience=(CONTACTS, ASSIGNMENTS),
    )


def _runs(client: Any, bucket: str) -> tuple[str | None, str | None]:
    latest = read_pointer(client, bucket, LATEST) or {}
    current = read_pointer(client, bucket, current_key(EDITION)) or {}
    return latest.get("run"), current.get("run")


def _assert_consistent(client: Any, buckets: dict[str, str], run: str) -> None:
    bundle = buckets["bundle"]
    assert _runs(client, bundle) == (run, run)
    assert split_pointers(client, bundle) == []
    assert read_pointer(client, bundle, f"editions/{DAY}/{run}/manifest.json") is not None
    statuses = {r["run"]: r["status"] for r in list_editions(client, bundle)}
    assert statuses[run] == "latest"
    assert not any(r["split"] for r in list_editions(client, bundle))


@pytest.mark.parametrize(
    ("nth", "completion"),
    [(1, "retry"), (2, "retry"), (2, "next run"), (3, "retry"), (4, "retry")],
    ids=["current.json", "latest.json-retry", "latest.json-next-run", "delivery", "history"],
)
def test_s3_killed_at_each_pointer_write_then_the_move_completes(
    server: SeaweedS3, store: LocalStore, nth: int, completion: str
) -> None:
    if not server.running:
        server.start()
    buckets = {
        "bundle": f"faults-{nth}-{completion[0]}-b",
        "private": f"faults-{nth}-{completion[0]}-p",
    }
    server.ensure_buckets(*buckets.values())
    bundle = buckets["bundle"]
    client = _client(server)
    _publish(client, store, buckets, GOOD)

    killer = KillingClient(_client(server), server, nth)
    with pytest.raises(PublishError) as failed:
        _publish(killer, store, buckets, NEW)
    message = str(failed.value)
    assert not server.running and str(killer.killed_at).startswith(WRITES[nth - 1])
    server.start()  # same data dir, same port

    if nth == 1:  # nothing moved, and the message says so
        assert (
            f"Run {NEW} of {DAY} was not promoted: the pointers still name the previous run"
            in message
        )
        assert "could not be removed" in message and "matinale retention" in message
        assert _runs(client, bundle) == (GOOD, GOOD)
        assert split_pointers(client, bundle) == []
        assert {r["run"]: r["status"] for r in list_editions(client, bundle)}[NEW] == "not promoted"
        # The retention removes what the failed publish could not: counted, a day later.
        fresh = expire_bundles(client, bundle, today=EDITION, keep_days=None, now=datetime.now(UTC))
        assert fresh["unpromoted_runs_deleted"] == 0, "a run still being uploaded is never touched"
        later = expire_bundles(
            client, bundle, today=EDITION, keep_days=None, now=datetime.now(UTC) + timedelta(days=2)
        )
        assert later["unpromoted_runs_deleted"] == 1 and later["unpromoted_objects_deleted"] > 5
        assert NEW not in {r["run"] for r in list_editions(client, bundle)}
        assert _runs(client, bundle) == (GOOD, GOOD), "the pointers stay valid"
    elif nth == 2:  # current.json moved, latest.json not: said exactly, then flagged
        assert "The pointers may be split" in message
        assert f"editions/{DAY}/current.json names run {NEW} of {DAY} (moved" in message
        assert f"latest.json still names run {GOOD} of {DAY} (not written" in message
        assert _runs(client, bundle) == (GOOD, NEW)
        splits = split_pointers(client, bundle)
        assert len(splits) == 1 and GOOD in splits[0] and NEW in splits[0]
        flagged = {r["run"] for r in list_editions(client, bundle) if r["split"]}
        assert flagged == {GOOD, NEW}
        skipped = expire_bundles(
            client, bundle, today=EDITION, keep_days=1, now=datetime.now(UTC) + timedelta(days=9)
        )
        assert "not consistent" in skipped["bundle_skipped"], "nothing removed while split"
    else:  # both pointers moved: the run is served, and the message says what is left
        assert f"Run {NEW} of {DAY} is promoted (both pointers name it)" in message
        assert "not promoted" not in message and "previous run" not in message
        assert _runs(client, bundle) == (NEW, NEW)

    final = NEXT if completion == "next run" else NEW
    result = _publish(client, store, buckets, final)
    assert result.get("already_promoted", False) == (completion == "retry" and nth > 1)
    _assert_consistent(client, buckets, final)
    history = [
        item["Key"]
        for item in client.list_objects_v2(Bucket=bundle, Prefix="history/").get("Contents", [])
    ]
    assert any(re.search(f"-{DAY}-{final}\\.json$", key) for key in history)
    delivery = read_pointer(client, buckets["private"], f"delivery/{DAY}/current.json")
    assert delivery is not None and delivery["run"] == final
    if completion == "next run":
        statuses = {r["run"]: r["status"] for r in list_editions(client, bundle)}
        assert statuses[NEW] == "promoted before", "served for a while: kept for a rollback"


def test_old_editions_leave_the_bundle_bucket_with_the_pointers_kept(
    server: SeaweedS3, store: LocalStore
) -> None:
    """published_editions_days: old dates go whole, never the one latest.json names."""
    if not server.running:
        server.start()
    buckets = {"bundle": "expiry-b", "private": "expiry-p"}
    server.ensure_buckets(*buckets.values())
    client = _client(server)
    bundle = buckets["bundle"]
    _publish(client, store, buckets, GOOD)
    client.put_object(Bucket=bundle, Key="editions/2025-01-02/r1/index.html", Body=b"old")
    client.put_object(
        Bucket=bundle,
        Key=current_key("2025-01-02"),
        Body=b'{"edition": "2025-01-02", "run": "r1", "promoted_at": "2025-01-02T00:00:00+00:00"}',
    )
    today = date(2027, 6, 1)  # EDITION is 554 days old: only latest.json protects it
    dry = expire_bundles(
        client, bundle, today=today, keep_days=30, now=datetime.now(UTC), dry_run=True
    )
    assert (dry["editions_deleted"], dry["edition_objects_deleted"]) == (1, 2)
    assert read_pointer(client, bundle, current_key("2025-01-02")) is not None, "dry run"
    done = expire_bundles(client, bundle, today=today, keep_days=30, now=datetime.now(UTC))
    assert done == dry
    assert read_pointer(client, bundle, current_key("2025-01-02")) is None
    assert [r["edition"] for r in list_editions(client, bundle)] == [DAY]
    _assert_consistent(client, buckets, GOOD)
    kept = expire_bundles(client, bundle, today=today, keep_days=None, now=datetime.now(UTC))
    assert kept["editions_deleted"] == 0 and kept["keep_published_from"] is None
