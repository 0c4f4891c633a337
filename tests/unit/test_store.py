from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from matinale.store import LocalStore, S3Store, StoreError


def _exercise(store) -> None:
    store.put_bytes("runs/a/b.txt", b"hello")
    store.put_json("runs/a/c.json", {"é": 1})
    store.put_frame("runs/a/d.parquet", pd.DataFrame({"code": ["01001", "2A004"]}))
    assert store.get_bytes("runs/a/b.txt") == b"hello"
    assert store.get_json("runs/a/c.json") == {"é": 1}
    assert store.get_frame("runs/a/d.parquet")["code"].tolist() == ["01001", "2A004"]
    assert store.exists("runs/a/b.txt") and not store.exists("runs/a/zz")
    assert store.list("runs/a") == ["runs/a/b.txt", "runs/a/c.json", "runs/a/d.parquet"]
    with pytest.raises(StoreError):
        store.get_bytes("runs/a/missing")
    assert store.delete_prefix("runs/a") == 3
    assert store.list("runs/a") == []


def test_local_store_roundtrip(tmp_path: Path) -> None:
    _exercise(LocalStore(tmp_path))


def test_s3_store_roundtrip(s3_server, s3_buckets) -> None:
    _exercise(S3Store(s3_server.client(), s3_buckets["private"], "work"))


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../b", "a//b", "a b"])
def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(StoreError):
        LocalStore(tmp_path).put_bytes(key, b"x")
