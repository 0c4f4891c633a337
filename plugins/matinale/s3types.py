"""The S3 client the library uses, as a Protocol: the boto3 methods it calls, nothing more.

boto3 builds its clients at run time (no class to import, no stubs installed), so the
library names what it needs here instead of taking ``Any``: a ``boto3.client("s3")``, the
client of Airflow's ``S3Hook`` and the tests' fakes all satisfy it structurally. Calls take
boto3's keyword arguments (``Bucket=``, ``Key=``…); responses are boto3's dicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

__all__ = ["S3Client", "S3ClientMeta", "S3Exceptions", "S3Paginator", "S3Response"]

#: What boto3 returns for a call: a dict of the operation's output fields.
S3Response = dict[str, Any]


class S3Paginator(Protocol):
    """``client.get_paginator("list_objects_v2")``: one response per page."""

    def paginate(self, **kwargs: Any) -> Iterator[S3Response]: ...


class S3Exceptions(Protocol):
    """The modelled errors boto3 hangs on ``client.exceptions``."""

    @property
    def NoSuchKey(self) -> type[Exception]: ...


class S3ClientMeta(Protocol):
    """``client.meta``: where the client points and how it is configured."""

    @property
    def region_name(self) -> str | None: ...

    @property
    def endpoint_url(self) -> str: ...

    @property
    def config(self) -> Any: ...  # botocore.config.Config (botocore ships no type hints)


class S3Client(Protocol):
    """The calls Matinale makes on a boto3 S3 client."""

    @property
    def meta(self) -> S3ClientMeta: ...

    @property
    def exceptions(self) -> S3Exceptions: ...

    def get_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> S3Response: ...

    def put_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> S3Response: ...

    def head_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> S3Response: ...

    def delete_objects(
        self, *, Bucket: str, Delete: Mapping[str, Any], **kwargs: Any
    ) -> S3Response: ...

    def list_objects_v2(self, *, Bucket: str, **kwargs: Any) -> S3Response: ...

    def head_bucket(self, *, Bucket: str, **kwargs: Any) -> S3Response: ...

    def create_bucket(self, *, Bucket: str, **kwargs: Any) -> S3Response: ...

    def get_paginator(self, operation_name: str) -> S3Paginator: ...

    def generate_presigned_url(
        self,
        ClientMethod: str,
        Params: Mapping[str, Any] | None = None,
        ExpiresIn: int = 3600,
        HttpMethod: str | None = None,
    ) -> str: ...

    def download_file(self, Bucket: str, Key: str, Filename: str, **kwargs: Any) -> None: ...

    def download_fileobj(self, Bucket: str, Key: str, Fileobj: Any, **kwargs: Any) -> None: ...
