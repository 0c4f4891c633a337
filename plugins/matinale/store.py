"""The run's work store: where each stage leaves files for the next.

One small protocol, two implementations chosen by configuration (dagster's resources
pattern): a local folder when tasks share a disk (``dag.test()``, LocalExecutor), a private
S3 prefix when they may not (Celery workers). XCom only carries keys and small summaries.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from json.encoder import encode_basestring as _encode_text
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from matinale.errors import MatinaleError
from matinale.s3types import S3Client

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LocalStore", "S3Store", "Store", "StoreError", "check_key", "dumps", "is_not_found"]

_KEY = re.compile(r"^[A-Za-z0-9._=-]+(/[A-Za-z0-9._=-]+)*$")


class StoreError(MatinaleError, RuntimeError):
    """A work-store key is unsafe or missing."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key (no ``..``, no absolute path)."""
    if not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise StoreError(
            f"unsafe work-store key {key!r}: use slash-separated [A-Za-z0-9._=-] parts"
        )
    return key


class _Unusual(Exception):
    """A value the fast encoder leaves to :mod:`json` (NaN, a subclass, a key that is not text)."""


def dumps(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)``, the same text, faster.

    With ``indent`` the standard library encodes in pure Python through nested generators
    (its C encoder cannot indent): most of the cost of writing posts.json. This encoder
    appends to one list in a plain recursion, and hands anything but dicts with text keys,
    lists, tuples, text, int, float, bool and None to :func:`json.dumps` (so errors, NaN and
    subclasses behave exactly as before).
    """
    out: list[str] = []
    try:
        _encode(value, "\n", out.append)
    except (_Unusual, RecursionError, TypeError):
        return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    return "".join(out)


def _encode(value: Any, newline: str, add: Any) -> None:
    kind = type(value)
    if kind is str:
        add(_encode_text(value))
    elif kind is dict:
        if not value:
            add("{}")
            return
        inner = newline + " "
        separator = "{" + inner
        for key in sorted(value):  # a key that is not text fails to sort or is refused below
            if type(key) is not str:
                raise _Unusual
            add(separator)
            add(_encode_text(key))
            add(": ")
            _encode(value[key], inner, add)
            separator = "," + inner
        add(newline)
        add("}")
    elif kind is list or kind is tuple:
        if not value:
            add("[]")
            return
        inner = newline + " "
        separator = "[" + inner
        for item in value:
            add(separator)
            _encode(item, inner, add)
            separator = "," + inner
        add(newline)
        add("]")
    elif kind is int:
        add(int.__repr__(value))
    elif kind is float:
        if value != value or value in (_INFINITY, -_INFINITY):
            raise _Unusual
        add(float.__repr__(value))
    elif value is True:
        add("true")
    elif value is False:
        add("false")
    elif value is None:
        add("null")
    else:
        raise _Unusual


_INFINITY = float("inf")


class Store(Protocol):
    """What the stages need from storage: bytes in, bytes out, listing."""

    def put_bytes(self, key: str, data: bytes) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def open_file(self, key: str) -> AbstractContextManager[IO[bytes]]: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def put_json(self, key: str, value: Any) -> None: ...
    def get_json(self, key: str) -> Any: ...
    def put_frame(self, key: str, frame: pd.DataFrame, *, plain: Sequence[str] = ()) -> None: ...
    def get_frame(self, key: str, *, columns: Sequence[str] | None = None) -> pd.DataFrame: ...


class _Helpers:
    """JSON and Parquet on top of the byte protocol."""

    def put_bytes(self, key: str, data: bytes) -> None:  # pragma: no cover - protocol
        raise NotImplementedError

    def get_bytes(self, key: str) -> bytes:  # pragma: no cover - protocol
        raise NotImplementedError

    def put_json(self, key: str, value: Any) -> None:
        self.put_bytes(key, dumps(value).encode())

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def put_frame(self, key: str, frame: pd.DataFrame, *, plain: Sequence[str] = ()) -> None:
        """``frame`` as Parquet, read back whole by ``get_frame`` (same file as pandas'
        ``to_parquet``: snappy, pandas metadata), without column statistics (nothing filters
        on them) and without trying a dictionary for the ``plain`` columns: for nearly unique
        ones (ids, e-mails) it only costs time before Parquet falls back to plain encoding."""
        if frame.attrs:  # pandas stores them in the file's metadata: let it
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False, write_statistics=False)
            self.put_bytes(key, buffer.getvalue())
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        dictionary: bool | list[str] = (
            [name for name in table.column_names if name not in plain] if plain else True
        )
        sink = pa.BufferOutputStream()  # a Python file object would cost a third more
        pq.write_table(
            table, sink, compression="snappy", use_dictionary=dictionary, write_statistics=False
        )
        self.put_bytes(key, sink.getvalue().to_pybytes())

    def get_frame(self, key: str, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The frame ``put_frame`` stored; only those of ``columns`` it has, when given."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        source = pa.BufferReader(self.get_bytes(key))  # zero-copy, where BytesIO copies
        if columns is not None:
            present = set(pq.read_schema(source).names)
            source.seek(0)
            columns = [name for name in dict.fromkeys(columns) if name in present]
        return pd.read_parquet(source, columns=columns)


def _missing(store: object, key: str) -> StoreError:
    return StoreError(f"{store!r} has no {key!r}: did the stage that writes it run?")


def is_not_found(exc: Exception) -> bool:
    """Whether botocore's ``ClientError`` says the object is not there (a GET's NoSuchKey, a
    HEAD's bare 404)."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code in {"404", "NoSuchKey", "NotFound"}


def _is_private(key: str) -> bool:
    """Whether ``key`` holds people's data: a ``private`` folder, a delivery or a quarantine."""
    parts = key.split("/")
    return "private" in parts or "delivery" in parts or any("quarantine" in p for p in parts)


class LocalStore(_Helpers):
    """A folder on a disk every task can see.

    Files that hold people's data (see ``_is_private``: ``private/``, delivery and quarantine
    files) are written 0600, and every folder from the root down to them is made 0700, so
    other accounts on the machine cannot read them.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        private = _is_private(key)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
        if private:
            folder = target.parent
            while True:
                folder.chmod(0o700)
                if folder == self.root or folder == folder.parent:
                    break
                folder = folder.parent
        partial = target.with_name(target.name + ".partial")
        # Created with its final mode: private bytes never sit in a readable file.
        descriptor = os.open(
            partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666
        )
        with os.fdopen(descriptor, "wb") as handle:
            if private:
                os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
        partial.replace(target)  # a reader never sees half a file

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError as exc:
            raise _missing(self, key) from exc

    @contextmanager
    def open_file(self, key: str) -> Iterator[IO[bytes]]:
        """The file itself, read from disk as the reader asks."""
        try:
            handle = self.path(key).open("rb")
        except FileNotFoundError as exc:
            raise _missing(self, key) from exc
        with handle:
            yield handle

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self.root / check_key(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        root = str(self.root)
        found: list[str] = []
        for folder, _, names in os.walk(base):  # os.walk: 5x faster than Path.rglob
            relative = os.path.relpath(folder, root).replace(os.sep, "/")
            start = "" if relative == "." else f"{relative}/"
            found.extend(
                f"{start}{name}"
                for name in names
                if not name.endswith(".partial") and os.path.isfile(os.path.join(folder, name))
            )
        return sorted(found)

    def delete_prefix(self, prefix: str) -> int:
        base = self.root / check_key(prefix.rstrip("/"))
        count = len(self.list(prefix))
        if base.is_dir():
            shutil.rmtree(base)
        elif base.is_file():  # a key is its own prefix, as in S3
            base.unlink()
            count = 1
        return count


class S3Store(_Helpers):
    """A private S3 prefix: for workers that share no disk."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def __repr__(self) -> str:
        return f"S3Store('s3://{self.bucket}/{self.prefix}')"

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as exc:
            raise _missing(self, key) from exc
        return response["Body"].read()

    @contextmanager
    def open_file(self, key: str) -> Iterator[IO[bytes]]:
        """The object downloaded into a temporary file (in memory up to 8 MiB, then on disk,
        private to this process and removed on close)."""
        import tempfile

        from botocore.exceptions import ClientError

        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            try:
                self.client.download_fileobj(self.bucket, self._key(key), spool)
            except ClientError as exc:  # a HEAD first: 404, not NoSuchKey
                if not is_not_found(exc):
                    raise
                raise _missing(self, key) from exc
            spool.seek(0)
            yield spool

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    def list(self, prefix: str) -> list[str]:
        full = self._key(prefix.rstrip("/")) + "/"
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self._key(k)} for k in chunk], "Quiet": True},
            )
        return len(keys)
