"""The S3 client and its errors: retries, one clear sentence per failure, the small
object helpers (pointers in JSON, existence) every other publish module uses."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from matinale.errors import MatinaleError
from matinale.s3types import S3Client
from matinale.store import is_not_found

__all__ = [
    "PublishError",
    "S3AccessError",
    "check_access",
    "make_client",
    "read_pointer",
    "retry_config",
]

_POINTER_CACHE = "no-cache"


class PublishError(MatinaleError, RuntimeError):
    """Publishing failed; the pointers still name the previous run.

    A bundle, pointer or rollback problem stays on the next try: not retryable. Raised
    ``from`` an S3 failure (a botocore error, an :class:`S3AccessError`), it is as transient
    as that failure; ``PublishError(message, retryable=...)`` decides for itself.
    """

    @property
    def retryable(self) -> bool:
        chosen = self.__dict__.get("_retryable")
        if chosen is not None:
            return bool(chosen)
        cause = self.__cause__
        return isinstance(cause, S3AccessError) or type(cause).__module__.startswith("botocore")

    @retryable.setter
    def retryable(self, value: bool) -> None:
        self.__dict__["_retryable"] = value


class S3AccessError(PublishError):
    """S3 refused us or cannot be reached: wrong credentials, missing bucket, endpoint down."""

    retryable = True


def retry_config(
    max_attempts: int = 6, connect_timeout: float = 5, read_timeout: float = 60
) -> Any:
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
) -> S3Client:
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


def _endpoint(client: S3Client) -> str:
    return str(getattr(client.meta, "endpoint_url", "") or "AWS S3")


def _s3_failure(client: S3Client, bucket: str, doing: str, exc: Exception) -> S3AccessError:
    """One clear sentence for an S3 error (never the credentials themselves)."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    where = f"s3://{bucket} at {_endpoint(client)}"
    if isinstance(exc, NoCredentialsError):
        return S3AccessError(
            f"no S3 credentials while {doing} {where}: set the aws_default connection (login/password) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in {"NoSuchBucket", "404", "NotFound"}:
            return S3AccessError(
                f"bucket {bucket!r} does not exist at {_endpoint(client)} ({doing}): create it (`make up` does locally) or set MATINALE_BUNDLE_BUCKET / MATINALE_PRIVATE_BUCKET"
            )
        if (
            code
            in {
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "AccessDenied",
                "403",
                "InvalidToken",
                "ExpiredToken",
            }
            or status == 403
        ):
            return S3AccessError(
                f"S3 refused the credentials ({code or status}) while {doing} {where}: check the access key and secret of the aws_default connection and that they may read and write this bucket"
            )
        return S3AccessError(
            f"S3 error {code or status} while {doing} {where}: {exc.response.get('Error', {}).get('Message', '')}"
        )
    if isinstance(exc, EndpointConnectionError):
        return S3AccessError(
            f"cannot reach S3 at {_endpoint(client)} while {doing} s3://{bucket}, even after retries with backoff: is the server up and endpoint_url right?"
        )
    return S3AccessError(f"S3 failed while {doing} {where}: {type(exc).__name__}: {exc}")


def check_access(client: S3Client, *buckets: str) -> None:
    """Fail once, clearly, when the credentials are wrong or a bucket is missing."""
    from botocore.exceptions import BotoCoreError, ClientError

    for bucket in buckets:
        try:
            client.head_bucket(Bucket=bucket)
        except (BotoCoreError, ClientError) as exc:
            raise _s3_failure(client, bucket, "checking", exc) from exc


def read_pointer(client: S3Client, bucket: str, key: str) -> dict[str, Any] | None:
    """A pointer's JSON, or None if it does not exist yet."""
    from botocore.exceptions import ClientError

    try:
        return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            return None
        raise


def _put_json(client: S3Client, bucket: str, key: str, value: Mapping[str, Any]) -> None:
    body = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    client.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="application/json",
        CacheControl=_POINTER_CACHE,
    )


def _exists(client: S3Client, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_not_found(exc):
            return False
        raise
    return True


def delete_keys(client: S3Client, bucket: str, keys: Sequence[str]) -> int:
    """Delete ``keys`` (a thousand a request); how many. Raises if S3 refused any."""
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        answer = client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
        )
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise PublishError(
                f"S3 refused to delete {len(answer['Errors'])} object(s) of s3://{bucket}, e.g. "
                f"{first.get('Key')}: {first.get('Code')}",
                retryable=True,
            )
    return len(keys)


def list_keys(client: S3Client, bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix``."""
    return [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
