"""Publishing against a real S3 server: files first, verified, pointers last."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from matinale.bundle import MANIFEST, manifest_entry
from matinale.publish import LATEST, PublishError, publish_bundle, read_pointer
from matinale.store import LocalStore

EDITION = date(2026, 11, 24)


def _bundle(store: LocalStore, prefix: str, text: str) -> None:
    files = {"index.html": f"<p>{text}</p>".encode(), "65plus-p01/posts.json": json.dumps({"posts": [text]}).encode()}
    for path, data in files.items():
        store.put_bytes(f"{prefix}/{path}", data)
    manifest = {"edition": EDITION.isoformat(), "files": [manifest_entry(p, d) for p, d in files.items()]}
    store.put_json(f"{prefix}/{MANIFEST}", manifest)


def test_publish_then_republish(s3_server, s3_buckets, tmp_path: Path) -> None:
    client, bucket = s3_server.client(), s3_buckets["bundle"]
    store = LocalStore(tmp_path)
    _bundle(store, "one", "première")
    first = publish_bundle(client, bucket, store, "one", edition=EDITION, run="20261124T000000Z-aaaa")
    pointer = read_pointer(client, bucket, LATEST)
    assert pointer["run"] == "20261124T000000Z-aaaa" and pointer["prefix"] == first["prefix"]
    assert read_pointer(client, bucket, f"editions/{EDITION}/current.json") == pointer

    _bundle(store, "two", "deuxième")
    publish_bundle(client, bucket, store, "two", edition=EDITION, run="20261124T010000Z-bbbb")
    assert read_pointer(client, bucket, LATEST)["run"] == "20261124T010000Z-bbbb"
    old = client.get_object(Bucket=bucket, Key=f"{first['prefix']}index.html")["Body"].read()
    assert old == "<p>première</p>".encode()


def test_tampered_bundle_is_not_published(s3_server, s3_buckets, tmp_path: Path) -> None:
    client, bucket = s3_server.client(), s3_buckets["bundle"]
    store = LocalStore(tmp_path)
    _bundle(store, "b", "texte")
    store.put_bytes("b/index.html", b"<p>changed after the manifest</p>")
    with pytest.raises(PublishError, match="checksum"):
        publish_bundle(client, bucket, store, "b", edition=EDITION, run="20261124T000000Z-cccc")
    assert read_pointer(client, bucket, LATEST) is None
