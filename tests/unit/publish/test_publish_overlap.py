"""The delivery file is spilled while the bundle uploads: what that overlap must not break.

Real SeaweedFS (the ``s3_server`` fixture). The bundle, the contacts and the publish
settings are test_publish's.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from bundle_samples import EDITION
from test_publish import ASSIGNMENTS, CONTACTS, _config, _keys, _publish, scanner, store

from matinale.publish import publish_bundle
from matinale.publish.delivery_stream import Audience
from matinale.publish.pointers import LATEST, edition_prefix
from matinale.publish.s3 import read_pointer

__all__ = ["scanner", "store"]  # test_publish's fixtures, shared

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
