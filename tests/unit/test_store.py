from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pandas as pd
import pytest

from matinale.store import LocalStore, S3Store, StoreError, dumps


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
    # A seekable file with the same bytes, for readers that take only what they need.
    with store.open_file("runs/a/d.parquet") as handle:
        assert handle.read() == store.get_bytes("runs/a/d.parquet")
        handle.seek(0)
        assert pd.read_parquet(handle)["code"].tolist() == ["01001", "2A004"]
    with pytest.raises(StoreError), store.open_file("runs/a/missing"):
        pass
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


class _Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {
            "posts": [
                {
                    "text": '« Bonjour » l’été\n\t"quoted" \\ \u2028 \x00 😀',
                    "length": 280,
                    "shortened": [],
                }
            ],
            "matrix": [[1.0, 0.125], [0.125, 1.0]],
        },
        {
            "b": {},
            "a": [],
            "c": [[], {}],
            "d": (1, 2),
            "e": None,
            "f": True,
            "g": False,
            "h": -0.0,
            "i": 1e-7,
            "j": 12345678901234567890,
        },
        [1.5, float("nan"), float("inf")],
        {1: "int keys", 2: "are text in JSON"},
        OrderedDict(b=1, a=2),
        {"subclass": _Text("text")},
        "just text",
        3,
    ],
)
def test_dumps_writes_what_json_dumps_writes(value: object) -> None:
    assert dumps(value) == json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)


@pytest.mark.parametrize("value", [{"a": {1, 2}}, {"a": object()}, {1: "x", "y": 2}])
def test_dumps_fails_where_json_dumps_fails(value: object) -> None:
    with pytest.raises(TypeError):
        json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    with pytest.raises(TypeError):
        dumps(value)


def test_local_listing_is_every_finished_file_under_the_prefix_sorted(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for key in ("runs/a/z.txt", "runs/a/b/c/d.json", "runs/a/b/a.txt", "runs/ab/x.txt"):
        store.put_bytes(key, b"x")
    (tmp_path / "runs/a/b/half.json.partial").write_bytes(b"x")  # a write in progress
    (tmp_path / "runs/a/empty").mkdir()
    assert store.list("runs/a") == ["runs/a/b/a.txt", "runs/a/b/c/d.json", "runs/a/z.txt"]
    assert store.list("runs/a/b/c") == ["runs/a/b/c/d.json"]
    assert store.list("runs/none") == []
