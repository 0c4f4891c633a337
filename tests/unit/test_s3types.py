"""S3Client: a real boto3 client satisfies the Protocol the library types its clients with."""

from __future__ import annotations

import inspect

import boto3

from matinale.s3types import S3Client, S3ClientMeta, S3Exceptions


def _boto3_client() -> S3Client:
    # Dummy keys and a loopback endpoint: building a client sends no request.
    client: S3Client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="dummy",
        aws_secret_access_key="dummy",
        region_name="us-east-1",
    )
    return client


def _members(protocol: type) -> list[str]:
    return [name for name in vars(protocol) if not name.startswith("_")]


def test_a_boto3_client_has_every_member_of_the_protocol() -> None:
    client = _boto3_client()
    assert {"get_object", "put_object", "get_paginator", "meta"} <= set(_members(S3Client))
    for name in _members(S3Client):
        assert hasattr(client, name), f"boto3's S3 client has no {name}"
    for name in _members(S3ClientMeta):
        assert hasattr(client.meta, name), f"boto3's client.meta has no {name}"
    for name in _members(S3Exceptions):
        assert issubclass(getattr(client.exceptions, name), Exception)
    # The keyword names the Protocol declares are boto3's own (``generate_presigned_url``
    # is the one method with a Python signature; the API calls take **kwargs).
    declared = inspect.signature(S3Client.generate_presigned_url).parameters
    real = inspect.signature(client.generate_presigned_url).parameters
    assert [p for p in declared if p != "self"] == list(real)
    assert client.get_paginator("list_objects_v2").paginate is not None
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60
    )
    assert url.startswith("http://127.0.0.1:9/b/k?")


def test_the_assignment_type_checks() -> None:
    """mypy accepts this file: a boto3 client is an ``S3Client`` where the library wants one."""
    from mypy import api

    out, err, status = api.run(
        ["--no-incremental", "--ignore-missing-imports", "--follow-imports=silent", __file__]
    )
    assert status == 0, out + err
