"""The local work store keeps people's data to its owner: private files 0600, their folders 0700."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from matinale.store import LocalStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    "key",
    [
        "runs/2026-05-04/r1/private/contacts.parquet",
        "runs/2026-05-04/r1/private/quarantine.csv",
        "delivery/2026-05-04/r1/centre.csv",
        "runs/2026-05-04/r1/quarantine.csv",
    ],
)
def test_private_files_are_the_owners_only(tmp_path: Path, key: str) -> None:
    old = os.umask(0o022)
    try:
        root = tmp_path / "work"
        store = LocalStore(root)
        store.put_bytes(key, b"ana@example.org;0601020304\n")
        store.put_bytes(key, b"again")  # rewriting keeps the mode
    finally:
        os.umask(old)
    target = store.path(key)
    assert target.read_bytes() == b"again"
    assert _mode(target) == 0o600
    folder = target.parent
    while True:
        assert _mode(folder) == 0o700, folder
        if folder == root:
            break
        folder = folder.parent
    assert not list(root.rglob("*.partial"))


def test_other_files_keep_the_default_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = LocalStore(tmp_path / "work")
        store.put_json("runs/2026-05-04/r1/bundle/manifest.json", {"files": []})
    finally:
        os.umask(old)
    target = store.path("runs/2026-05-04/r1/bundle/manifest.json")
    assert _mode(target) == 0o644
    assert _mode(target.parent) == 0o755
