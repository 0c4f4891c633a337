"""Presigned links to a run's objects: the pages' links, and fresh ones for logs and `make up`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from matinale.bundle import MANIFEST
from matinale.publish.pointers import LATEST
from matinale.publish.s3 import PublishError, read_pointer
from matinale.s3types import S3Client

__all__ = ["Presigner", "latest_links", "signing_client"]


def signing_client(client: S3Client, public_url: str) -> S3Client:
    """A client that signs links for ``public_url`` with ``client``'s credentials and region.

    A SigV4 signature covers the host, so a link signed for the address the workers use
    (``http://s3:8333`` inside compose) fails from a phone even if rewritten. This client
    never sends a request: it only signs for the address activists reach.
    """
    import boto3

    # botocore has no public accessor.
    credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
    if credentials is None:
        raise PublishError(
            "cannot read the S3 client's credentials to sign links for MATINALE_S3_PUBLIC_URL"
        )
    frozen = credentials.get_frozen_credentials()
    return boto3.client(
        "s3",
        endpoint_url=public_url,
        region_name=client.meta.region_name,
        aws_access_key_id=frozen.access_key,
        aws_secret_access_key=frozen.secret_key,
        aws_session_token=frozen.token,
        config=client.meta.config,
    )


class Presigner:
    """Presigned GET links for the objects of one run (no request is made to sign).

    ``public_url``: the S3 address phones reach, when it is not the one ``client`` uses.
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str,
        expiry: timedelta,
        *,
        public_url: str | None = None,
    ) -> None:
        if not timedelta(seconds=1) <= expiry <= timedelta(days=7):
            raise PublishError(
                f"presigned links last 1 second to 7 days; got {expiry}: fix links.presign_expiry_hours"
            )
        self.client = signing_client(client, public_url) if public_url else client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.seconds = int(expiry.total_seconds())
        probe = self.url("index.html").split("?", 1)[0]
        self.base = probe[: -len("index.html")]

    def url(self, path: str) -> str:
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": f"{self.prefix}/{path}"},
            ExpiresIn=self.seconds,
        )

    def __call__(self, path: str) -> str:
        return self.url(path)

    def owns(self, url: str) -> bool:
        """Whether ``url`` is one of this run's presigned links."""
        return url.startswith(self.base) and "X-Amz-Signature=" in url


def latest_links(
    client: S3Client, bucket: str, expiry: timedelta, *, public_url: str | None = None
) -> dict[str, Any] | None:
    """Fresh presigned links to the promoted edition's overview and first segment page,
    or None while nothing has been published."""
    pointer = read_pointer(client, bucket, LATEST)
    if pointer is None:
        return None
    target = pointer["prefix"].rstrip("/")
    manifest = read_pointer(client, bucket, f"{target}/{MANIFEST}") or {}
    presign = Presigner(client, bucket, target, expiry, public_url=public_url)
    segments = manifest.get("segments") or []
    return {
        "edition": pointer["edition"],
        "run": pointer["run"],
        "overview_url": presign("index.html"),
        "segment": segments[0]["id"] if segments else None,
        "sample_page_url": presign(segments[0]["page"]) if segments else None,
    }
